//! What a settled app means: no action `running`, none `pending`/`failed` that is
//! due, and no apalis job due and not done. [`super::TestApp::settle`] waits for
//! it instead of a fixed sleep before a "nothing else happened" assertion.

use starling::store::Store;
use std::time::Duration;

/// The apalis queue of Starling's actions (`starling::queue::QUEUE`).
const QUEUE: &str = "starling.actions";

/// Actions running, or pending/failed and due (`run_at <= now`): "id status kind run_at".
const ACTIONS_DUE: &str = "SELECT id || ' ' || status || ' ' || kind || ' run_at=' || run_at \
     FROM actions WHERE status = 'running' OR (status IN ('pending', 'failed') AND run_at <= $1) \
     ORDER BY id";

/// Actions `running` (what a test must not leave behind).
const ACTIONS_RUNNING: &str = "SELECT id || ' ' || status || ' ' || kind || ' lease_until=' || COALESCE(lease_until, 0) \
     FROM actions WHERE status = 'running' ORDER BY id";

/// apalis jobs not done: claimed (`Queued`/`Running`, whatever their time), or
/// waiting (`Pending`, or `Failed` with attempts left, which apalis fetches
/// again) and due. SQLite's `Jobs.run_at` is Unix seconds.
const JOBS_DUE_SQLITE: &str = "SELECT id || ' ' || status || ' run_at=' || run_at || ' lock_by=' || COALESCE(lock_by, '-') \
     FROM Jobs WHERE job_type = $1 AND (status IN ('Queued', 'Running') \
       OR (status IN ('Pending', 'Failed') AND attempts < max_attempts AND run_at <= CAST(strftime('%s', 'now') AS INTEGER))) \
     ORDER BY run_at";
const JOBS_DUE_POSTGRES: &str = "SELECT id || ' ' || status || ' run_at=' || run_at::text || ' lock_by=' || COALESCE(lock_by, '-') \
     FROM apalis.jobs WHERE job_type = $1 AND (status IN ('Queued', 'Running') \
       OR (status IN ('Pending', 'Failed') AND attempts < max_attempts AND run_at <= now())) \
     ORDER BY run_at";

/// What is still due or running, or `Err` if the database cannot be asked.
#[derive(Debug, Default)]
pub struct Unsettled {
    pub actions: Vec<String>,
    pub jobs: Vec<String>,
}

impl Unsettled {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.jobs.is_empty()
    }
}

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

pub async fn unsettled(store: &Store) -> Result<Unsettled, sqlx::Error> {
    let now = now_ms();
    let actions: Vec<String> =
        crate::on_store!(store, p => sqlx::query_scalar(ACTIONS_DUE).bind(now).fetch_all(p).await?);
    let jobs: Vec<String> = match store {
        Store::Sqlite(p) => {
            sqlx::query_scalar(JOBS_DUE_SQLITE)
                .bind(QUEUE)
                .fetch_all(p)
                .await?
        }
        Store::Postgres(p) => {
            sqlx::query_scalar(JOBS_DUE_POSTGRES)
                .bind(QUEUE)
                .fetch_all(p)
                .await?
        }
    };
    Ok(Unsettled { actions, jobs })
}

/// Waits until `store` has nothing left to do now, or fails the test with what
/// is still due or running after `limit` ([`super::TestApp::settle`]; also for a
/// `StarlingProcess`'s database).
pub async fn settle(store: &Store, limit: Duration) {
    let mut last = Unsettled::default();
    let settled = super::poll::poll_until(limit, async || {
        last = unsettled(store).await.expect("the store answers");
        last.is_empty()
    })
    .await;
    assert!(
        settled,
        "the app did not settle within {limit:?}\n  actions due or running: {:?}\n  apalis jobs due, not done: {:?}",
        last.actions, last.jobs
    );
}

/// The actions still `running`, or `None` if the database cannot be asked
/// within a second (it was dropped or stopped by the test).
pub async fn running(store: &Store) -> Option<Vec<String>> {
    let query = async {
        let rows: Result<Vec<String>, sqlx::Error> =
            crate::on_store!(store, p => sqlx::query_scalar(ACTIONS_RUNNING).fetch_all(p).await);
        rows
    };
    tokio::time::timeout(Duration::from_secs(1), query)
        .await
        .ok()?
        .ok()
}

/// How long an action may still be finishing when a test ends: a vendor call the
/// test has seen whose outcome is not written yet (the tests' action timeout is
/// 5 s, `quick_actions`).
pub const RUNNING_GRACE: Duration = Duration::from_secs(15);

/// Waits up to `grace` for no action to be `running`; what is left.
pub async fn left_running(store: &Store, grace: Duration) -> Vec<String> {
    let mut left = Vec::new();
    super::poll::poll_until(grace, async || {
        left = running(store).await.unwrap_or_default();
        left.is_empty()
    })
    .await;
    left
}
