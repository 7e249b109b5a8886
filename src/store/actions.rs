//! SQL for actions and their attempts, the same statements on both backends
//! (`$n` parameters, integer milliseconds, text JSON).
//!
//! An action moves through `pending → running → succeeded`, or `failed` (a retry is
//! scheduled) and back to `running`, ending `succeeded`, `dead`, `skipped`,
//! `cancelled`, `dry_run` or `outcome_unknown` (a DM whose fate nobody saw). `held`
//! waits for a paused account. Every transition is one transaction, and a
//! transition that needs a worker pushes its apalis job in that same transaction.

use super::Store;
use crate::queue::PushJobs;
use sqlx::Row;
use std::time::Duration;

/// Runs `$body` in a transaction on whichever backend `$store` is (the body is
/// compiled once per backend; `$tx` is the open transaction).
macro_rules! in_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        match $store {
            Store::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            Store::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Runs `$body` with `$pool` bound to whichever backend's pool `$store` holds.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use in_tx;

/// Statuses after which nothing more happens to an action without a person.
pub const FINAL: &[&str] = &[
    "succeeded",
    "dead",
    "skipped",
    "cancelled",
    "dry_run",
    "outcome_unknown",
];
/// Action kinds held while their account is paused.
pub const HELD_WHEN_PAUSED: &[&str] = &["scrapely.send_dm", "scrapely.schedule_tweet"];

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// An action the outbox creates, in the event's transaction.
#[derive(Debug, Clone)]
pub struct NewAction {
    pub event_id: i64,
    pub rule: String,
    pub index: i32,
    pub kind: String,
    pub params: String,
    pub account: Option<String>,
    pub run_at: i64,
    pub max_attempts: Option<i32>,
}

const INSERT_ACTION: &str = "INSERT INTO actions \
    (event_id, rule, action_index, kind, params, account, status, max_attempts, run_at, lease_until, created_at, updated_at, last_error) \
    SELECT $1, $2, $3, $4, $5, $6, s.status, $7, $8, \
      CASE WHEN s.status = 'running' THEN $10 END, $9, $9, CASE WHEN s.status = 'skipped' THEN $11 END \
    FROM (SELECT CASE \
        WHEN $11 IS NOT NULL AND $4 LIKE 'scrapely.%' THEN 'skipped' \
        WHEN $4 IN ('scrapely.send_dm', 'scrapely.schedule_tweet') AND EXISTS \
          (SELECT 1 FROM paused_accounts p WHERE p.account = lower($6) OR p.account_id = $6) THEN 'held' \
        WHEN $10 IS NOT NULL AND $8 <= $9 THEN 'running' \
        ELSE 'pending' END AS status) s \
    WHERE true \
    ON CONFLICT (event_id, rule, action_index) DO NOTHING \
    RETURNING id, event_id, rule, action_index, kind, params, account, status, attempts, \
      max_attempts, series, run_at, lease_until, created_at, updated_at, last_error";

/// How the outbox hands out new actions.
#[derive(Debug, Clone, Default)]
pub struct OutboxMode {
    /// When set, an action due at once is claimed in the event's transaction
    /// (`running`, leased this long) for this process to run right after the
    /// commit; its job is then only the fallback, due when the lease expires.
    pub fast_lease: Option<Duration>,
    /// Written on attempts started in the event's transaction.
    pub worker: String,
    /// Scrapely's shared budget (bucket, limit), when a key is configured.
    pub budget: Option<(String, super::ratelimit::Budget)>,
    /// Why Scrapely actions cannot run (no API key): they are recorded as
    /// `skipped` with this reason when created, and never queued.
    pub skip_scrapely: Option<String>,
}

/// An action claimed in the event's transaction, for the fast path. Except for
/// DMs (whose attempt must be written right before the call, see
/// `actions::send_dm`), its first attempt and budget slot are taken there too,
/// so nothing but the call itself stands between the commit and the vendor.
#[derive(Debug, Clone)]
pub struct FastClaim {
    pub action: ActionRow,
    pub attempt: Option<i64>,
    /// When the budget slot was taken (ms), if one was.
    pub slot: Option<i64>,
}

/// The id of the fallback job of a fast-path action (deleted once it is done).
/// apalis decodes job ids as ULIDs, so it is one: a fixed tag ("STARLING" in the
/// top bits, timestamp zero) and the action id.
pub fn fallback_job_id(action_id: i64) -> String {
    const TAG: u128 = 0x5354_4152_4c49_4e47 << 64;
    ulid::Ulid::from(TAG | action_id as u64 as u128).to_string()
}

/// Inserts actions (a second insert of the same key does nothing) and pushes one
/// job for each new, not held, action — all inside the caller's transaction.
/// Returns how many jobs were pushed and the actions claimed for the fast path.
pub(crate) async fn insert_outbox<C>(
    conn: &mut C,
    actions: &[NewAction],
    now: i64,
    mode: &OutboxMode,
) -> Result<(usize, Vec<FastClaim>), sqlx::Error>
where
    C: PushJobs + OutboxConn + super::ratelimit::RateConn,
{
    let lease_until = mode.fast_lease.map(|l| now + l.as_millis() as i64);
    let mut jobs = Vec::new();
    let mut claimed = Vec::new();
    for a in actions {
        let skip = mode.skip_scrapely.as_deref();
        let Some(row) = conn.insert_action(a, now, lease_until, skip).await? else {
            continue;
        };
        match row.status.as_str() {
            "pending" => jobs.push((row.id, delay_until(row.run_at, now))),
            "running" => match start_in_outbox(conn, row, now, mode).await? {
                Ok(fast) => claimed.push(fast),
                Err(id) => jobs.push((id, Duration::ZERO)),
            },
            _ => {}
        }
    }
    conn.push_jobs(&jobs).await?;
    // The fallbacks: each runs only if this process dies before finishing its action.
    let fallback = mode.fast_lease.unwrap_or_default() + Duration::from_secs(1);
    for fast in &claimed {
        conn.push_fallback(fast.action.id, fallback).await?;
    }
    Ok((jobs.len(), claimed))
}

/// Takes the budget slot and writes the first attempt of a claimed action (not
/// for DMs). `Err(id)` when the budget is spent: the action goes back to pending.
async fn start_in_outbox<C>(
    conn: &mut C,
    row: ActionRow,
    now: i64,
    mode: &OutboxMode,
) -> Result<Result<FastClaim, i64>, sqlx::Error>
where
    C: OutboxConn + super::ratelimit::RateConn,
{
    if row.kind == "scrapely.send_dm" {
        return Ok(Ok(FastClaim {
            action: row,
            attempt: None,
            slot: None,
        }));
    }
    let mut slot = None;
    if let Some((bucket, budget)) = mode
        .budget
        .as_ref()
        .filter(|_| row.kind.starts_with("scrapely."))
    {
        if conn.acquire_on(bucket, *budget, now).await?.is_some() {
            conn.unclaim(row.id).await?;
            return Ok(Err(row.id));
        }
        slot = Some(now);
    }
    let attempt = conn.first_attempt(row.id, &mode.worker, now).await?;
    Ok(Ok(FastClaim {
        action: row,
        attempt: Some(attempt),
        slot,
    }))
}

pub fn delay_until(at: i64, now: i64) -> Duration {
    Duration::from_millis((at - now).max(0) as u64)
}

/// The per-backend half of [`insert_outbox`].
pub(crate) trait OutboxConn {
    async fn insert_action(
        &mut self,
        a: &NewAction,
        now: i64,
        lease_until: Option<i64>,
        skip_scrapely: Option<&str>,
    ) -> Result<Option<ActionRow>, sqlx::Error>;
    /// Records a paused account and holds its queued DMs and tweets.
    async fn pause_account(&mut self, pause: &Pause) -> Result<(), sqlx::Error>;
    /// Writes the first attempt of an action claimed in this transaction.
    async fn first_attempt(
        &mut self,
        action_id: i64,
        worker: &str,
        now: i64,
    ) -> Result<i64, sqlx::Error>;
    /// Gives back a claim taken in this transaction.
    async fn unclaim(&mut self, action_id: i64) -> Result<(), sqlx::Error>;
}

const FIRST_ATTEMPT: &str = "INSERT INTO action_attempts (action_id, series, attempt, worker, started_at) \
    VALUES ($1, 1, 1, $2, $3) RETURNING id";
const COUNT_FIRST: &str = "UPDATE actions SET attempts = 1 WHERE id = $1";
const UNCLAIM: &str = "UPDATE actions SET status = 'pending', lease_until = NULL WHERE id = $1";

/// An `account_paused` event's facts.
#[derive(Debug, Clone)]
pub struct Pause {
    pub handle: String,
    pub account_id: Option<String>,
    pub reason: Option<String>,
    pub event_id: i64,
    pub at: i64,
}

const PAUSE: &str = "INSERT INTO paused_accounts (account, account_id, paused_at, reason, event_id) \
    VALUES (lower($1), $2, $3, $4, $5) \
    ON CONFLICT (account) DO UPDATE SET account_id = COALESCE(excluded.account_id, paused_accounts.account_id), \
      paused_at = excluded.paused_at, reason = excluded.reason, event_id = excluded.event_id";
const HOLD: &str = "UPDATE actions SET status = 'held', updated_at = $3 \
    WHERE status IN ('pending', 'failed') AND kind IN ('scrapely.send_dm', 'scrapely.schedule_tweet') \
      AND (lower(account) = lower($1) OR account = $2)";

macro_rules! outbox_conn {
    ($conn:ty) => {
        impl OutboxConn for $conn {
            async fn insert_action(
                &mut self,
                a: &NewAction,
                now: i64,
                lease_until: Option<i64>,
                skip_scrapely: Option<&str>,
            ) -> Result<Option<ActionRow>, sqlx::Error> {
                sqlx::query_as::<_, ActionRow>(INSERT_ACTION)
                    .bind(a.event_id)
                    .bind(&a.rule)
                    .bind(a.index)
                    .bind(&a.kind)
                    .bind(&a.params)
                    .bind(&a.account)
                    .bind(a.max_attempts)
                    .bind(a.run_at)
                    .bind(now)
                    .bind(lease_until)
                    .bind(skip_scrapely)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn pause_account(&mut self, p: &Pause) -> Result<(), sqlx::Error> {
                sqlx::query(PAUSE)
                    .bind(&p.handle)
                    .bind(&p.account_id)
                    .bind(p.at)
                    .bind(&p.reason)
                    .bind(p.event_id)
                    .execute(&mut *self)
                    .await?;
                sqlx::query(HOLD)
                    .bind(&p.handle)
                    .bind(&p.account_id)
                    .bind(p.at)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn first_attempt(
                &mut self,
                action_id: i64,
                worker: &str,
                now: i64,
            ) -> Result<i64, sqlx::Error> {
                let id = sqlx::query_scalar(FIRST_ATTEMPT)
                    .bind(action_id)
                    .bind(worker)
                    .bind(now)
                    .fetch_one(&mut *self)
                    .await?;
                sqlx::query(COUNT_FIRST)
                    .bind(action_id)
                    .execute(&mut *self)
                    .await?;
                Ok(id)
            }

            async fn unclaim(&mut self, action_id: i64) -> Result<(), sqlx::Error> {
                sqlx::query(UNCLAIM)
                    .bind(action_id)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
        }
    };
}
outbox_conn!(sqlx::SqliteConnection);
outbox_conn!(sqlx::PgConnection);

/// An action as the executor and the CLI see it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ActionRow {
    pub id: i64,
    pub event_id: i64,
    pub rule: String,
    pub action_index: i32,
    pub kind: String,
    pub params: String,
    pub account: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: Option<i32>,
    pub series: i32,
    pub run_at: i64,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, event_id, rule, action_index, kind, params, account, status, attempts, \
    max_attempts, series, run_at, lease_until, created_at, updated_at, last_error";

/// What a worker found when it tried to take an action.
#[derive(Debug)]
pub enum Claim {
    Claimed(ActionRow),
    /// Not due yet: due at this time (ms).
    NotYet(i64),
    /// Another run holds it until this time (ms).
    Busy(i64),
    /// Nothing to do (finished, held, cancelled, or unknown).
    Nothing(String),
}

pub async fn get(store: &Store, id: i64) -> Result<Option<ActionRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM actions WHERE id = $1");
    on_pool!(store, pool => sqlx::query_as::<_, ActionRow>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await)
}

/// Takes an action that is due and not held by a live run; a run whose lease has
/// expired (its worker died mid-call) is taken over.
pub async fn claim(
    store: &Store,
    id: i64,
    now: i64,
    lease: Duration,
) -> Result<Claim, sqlx::Error> {
    let sql = format!(
        "UPDATE actions SET status = 'running', lease_until = $3, updated_at = $2 \
         WHERE id = $1 AND run_at <= $2 \
           AND (status IN ('pending', 'failed') OR (status = 'running' AND lease_until < $2)) \
         RETURNING {COLUMNS}"
    );
    let lease_until = now + lease.as_millis() as i64;
    let claimed = on_pool!(store, pool => sqlx::query_as::<_, ActionRow>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id).bind(now).bind(lease_until).fetch_optional(pool).await)?;
    if let Some(row) = claimed {
        return Ok(Claim::Claimed(row));
    }
    Ok(match get(store, id).await? {
        None => Claim::Nothing("no such action".into()),
        Some(a) if matches!(a.status.as_str(), "pending" | "failed") => Claim::NotYet(a.run_at),
        Some(a) if a.status == "running" => Claim::Busy(a.lease_until.unwrap_or(now)),
        Some(a) => Claim::Nothing(a.status),
    })
}

/// An attempt whose outcome nobody recorded: its worker died during the call.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenAttempt {
    pub id: i64,
    pub started_at: i64,
    pub error_class: Option<String>,
    pub outcome: Option<String>,
}

/// The latest attempt of the action's current series, if any.
pub async fn last_attempt(
    store: &Store,
    action: &ActionRow,
) -> Result<Option<OpenAttempt>, sqlx::Error> {
    let sql = "SELECT id, started_at, error_class, outcome FROM action_attempts \
               WHERE action_id = $1 AND series = $2 ORDER BY id DESC LIMIT 1";
    on_pool!(store, pool => sqlx::query_as::<_, OpenAttempt>(sql)
        .bind(action.id).bind(action.series).fetch_optional(pool).await)
}

/// The request about to be sent, as recorded (secrets already redacted).
#[derive(Debug, Clone, Default)]
pub struct RecordedRequest {
    pub method: String,
    pub url: String,
    pub body: Option<String>,
}

/// Writes an attempt before its call; returns its id. Counts it on the action.
pub async fn start_attempt(
    store: &Store,
    action: &ActionRow,
    worker: &str,
    request: &RecordedRequest,
) -> Result<i64, sqlx::Error> {
    match start_call(store, action, worker, request, None, now_ms()).await? {
        Ok(id) => Ok(id),
        Err(_) => unreachable!("no budget, no wait"),
    }
}

/// Takes a slot of `budget` (if any) and writes the attempt, in one commit:
/// `Ok(attempt id)`, or `Err(wait)` when the budget is spent (nothing written).
pub async fn start_call(
    store: &Store,
    action: &ActionRow,
    worker: &str,
    request: &RecordedRequest,
    budget: Option<(&str, super::ratelimit::Budget)>,
    now: i64,
) -> Result<Result<i64, Duration>, sqlx::Error> {
    use super::ratelimit::RateConn;
    let sql = "INSERT INTO action_attempts (action_id, series, attempt, worker, started_at, method, url, request_body) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
    let bump = "UPDATE actions SET attempts = attempts + 1, updated_at = $2 WHERE id = $1";
    Ok(in_tx!(store, tx => {
        let wait = match budget {
            Some((bucket, budget)) => tx.acquire_on(bucket, budget, now).await?,
            None => None,
        };
        if let Some(wait) = wait {
            Err(wait)
        } else {
        let id: i64 = sqlx::query_scalar(sql)
            .bind(action.id).bind(action.series).bind(action.attempts + 1).bind(worker).bind(now)
            .bind(&request.method).bind(&request.url).bind(&request.body)
            .fetch_one(&mut *tx).await?;
        sqlx::query(bump).bind(action.id).bind(now).execute(&mut *tx).await?;
        Ok(id)
        }
    }))
}

/// How an attempt ended, and what happens to its action.
#[derive(Debug, Clone, Default)]
pub struct Finish {
    /// `succeeded`, `retry`, `dead`, `reconciled`, `outcome_unknown`, `skipped`, `dry_run`.
    pub outcome: String,
    pub status_code: Option<i32>,
    pub response_excerpt: Option<String>,
    pub request_id: Option<String>,
    pub latency_ms: Option<f64>,
    pub error_class: Option<String>,
    pub error: Option<String>,
    /// The action's next status.
    pub status: String,
    /// When retried: run again after this long (a job is pushed).
    pub retry_in: Option<Duration>,
    /// The rate-limit slot this call took (bucket, when): re-stamped with the
    /// finish time, since the vendor counted the call somewhere in between.
    pub budget_slot: Option<(String, i64)>,
    /// The request, when the attempt was written before it was known (fast path).
    pub request: Option<RecordedRequest>,
}

/// Completes an attempt (if one was written) and moves its action on, in one
/// transaction; a retry's job is pushed in it too. (The executor sends finishes
/// through the group-commit writer, which runs [`FinishConn::finish_on`] in its
/// transaction; this is the direct way.)
pub async fn finish(
    store: &Store,
    action: &ActionRow,
    attempt_id: Option<i64>,
    f: &Finish,
) -> Result<(), sqlx::Error> {
    in_tx!(store, tx => tx.finish_on(action.id, attempt_id, f, now_ms()).await?);
    Ok(())
}

/// A finished attempt on its way to the writer.
#[derive(Debug, Clone)]
pub struct Finished {
    pub action_id: i64,
    pub attempt_id: Option<i64>,
    pub finish: Finish,
}

/// [`finish`] on an open transaction.
pub(crate) trait FinishConn {
    async fn finish_on(
        &mut self,
        action_id: i64,
        attempt_id: Option<i64>,
        f: &Finish,
        now: i64,
    ) -> Result<(), sqlx::Error>;
}

const FINISH_ATTEMPT: &str = "UPDATE action_attempts SET finished_at = $2, outcome = $3, status_code = $4, \
    response_excerpt = $5, request_id = $6, latency_ms = $7, error_class = $8, error = $9, retry_in_ms = $10, \
    method = COALESCE($11, method), url = COALESCE($12, url), request_body = COALESCE($13, request_body) \
    WHERE id = $1";
const FINISH_ACTION: &str = "UPDATE actions SET status = $2, run_at = $3, lease_until = NULL, updated_at = $4, \
    last_error = $5 WHERE id = $1 AND status = 'running'";
const RESTAMP_SLOT: &str = "UPDATE rate_limit_calls SET at = $3 WHERE bucket = $1 AND at = $2";

macro_rules! finish_conn {
    ($conn:ty) => {
        impl FinishConn for $conn {
            async fn finish_on(
                &mut self,
                action_id: i64,
                attempt_id: Option<i64>,
                f: &Finish,
                now: i64,
            ) -> Result<(), sqlx::Error> {
                let request = f.request.clone().unwrap_or_default();
                let given = |s: String| Some(s).filter(|s| !s.is_empty());
                let retry_ms = f.retry_in.map(|d| d.as_millis() as i64);
                if let Some(attempt) = attempt_id {
                    sqlx::query(FINISH_ATTEMPT)
                        .bind(attempt)
                        .bind(now)
                        .bind(&f.outcome)
                        .bind(f.status_code)
                        .bind(&f.response_excerpt)
                        .bind(&f.request_id)
                        .bind(f.latency_ms)
                        .bind(&f.error_class)
                        .bind(&f.error)
                        .bind(retry_ms)
                        .bind(given(request.method))
                        .bind(given(request.url))
                        .bind(request.body)
                        .execute(&mut *self)
                        .await?;
                }
                let moved = sqlx::query(FINISH_ACTION)
                    .bind(action_id)
                    .bind(&f.status)
                    .bind(now + retry_ms.unwrap_or(0))
                    .bind(now)
                    .bind(&f.error)
                    .execute(&mut *self)
                    .await?
                    .rows_affected();
                if moved == 1
                    && let Some(delay) = f.retry_in
                {
                    self.push_jobs(&[(action_id, delay)]).await?;
                }
                self.drop_fallback(action_id).await?;
                if let Some((bucket, at)) = &f.budget_slot {
                    sqlx::query(RESTAMP_SLOT)
                        .bind(bucket)
                        .bind(at)
                        .bind(now)
                        .execute(&mut *self)
                        .await?;
                }
                Ok(())
            }
        }
    };
}
finish_conn!(sqlx::SqliteConnection);
finish_conn!(sqlx::PgConnection);

/// Closes an attempt whose worker died mid-call (for kinds safe to run again).
pub async fn close_stale_attempt(
    store: &Store,
    attempt_id: i64,
    why: &str,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE action_attempts SET finished_at = $2, outcome = 'abandoned',                error_class = 'worker_stopped', error = $3 WHERE id = $1 AND outcome IS NULL";
    on_pool!(store, pool => sqlx::query(sql).bind(attempt_id).bind(now_ms()).bind(why).execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// Gives a claimed action back without spending an attempt: to wait (rate limit,
/// not due) with a job pushed for then, or to be held for a paused account.
pub async fn release(
    store: &Store,
    action: &ActionRow,
    status: &str,
    wait: Option<Duration>,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let run_at = now + wait.map_or(0, |d| d.as_millis() as i64);
    let sql = "UPDATE actions SET status = $2, run_at = $3, lease_until = NULL, updated_at = $4, \
               last_error = COALESCE($5, last_error) WHERE id = $1 AND status = 'running'";
    in_tx!(store, tx => {
        let moved = sqlx::query(sql).bind(action.id).bind(status).bind(run_at).bind(now).bind(note)
            .execute(&mut *tx).await?.rows_affected();
        if moved == 1 && let Some(delay) = wait {
            tx.push_jobs(&[(action.id, delay)]).await?;
        }
        tx.drop_fallback(action.id).await?;
    });
    Ok(())
}

/// Pushes a job for an action that stays as it is (it is due later, or busy).
pub async fn push_job(store: &Store, id: i64, delay: Duration) -> Result<(), sqlx::Error> {
    in_tx!(store, tx => tx.push_jobs(&[(id, delay)]).await?);
    Ok(())
}

/// How many actions wait or need a person, by status (for `/readyz`).
pub async fn open_counts(
    store: &Store,
) -> Result<std::collections::BTreeMap<String, i64>, sqlx::Error> {
    let sql = "SELECT status, count(*) FROM actions \
               WHERE status IN ('pending', 'running', 'failed', 'held', 'outcome_unknown', 'dead') GROUP BY status";
    let rows: Vec<(String, i64)> =
        on_pool!(store, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
    Ok(rows.into_iter().collect())
}

/// Whether `account` (a handle or an id) is paused.
pub async fn is_paused(store: &Store, account: &str) -> Result<bool, sqlx::Error> {
    let sql = "SELECT count(*) FROM paused_accounts WHERE account = lower($1) OR account_id = $1";
    let n: i64 =
        on_pool!(store, pool => sqlx::query_scalar(sql).bind(account).fetch_one(pool).await)?;
    Ok(n > 0)
}

/// Paused accounts: (handle, account id).
pub async fn paused_accounts(store: &Store) -> Result<Vec<(String, Option<String>)>, sqlx::Error> {
    let sql = "SELECT account, account_id FROM paused_accounts ORDER BY account";
    on_pool!(store, pool => sqlx::query_as::<_, (String, Option<String>)>(sql).fetch_all(pool).await)
}

/// Resumes a paused account: forgets the pause and releases its held actions
/// (one job each). Returns how many actions were released, or `None` when the
/// account was not paused.
pub async fn resume_account(store: &Store, handle: &str) -> Result<Option<usize>, sqlx::Error> {
    let now = now_ms();
    let forget = "DELETE FROM paused_accounts WHERE account = lower($1) OR account_id = $1 \
                  RETURNING account, account_id";
    let release = "UPDATE actions SET status = 'pending', run_at = CASE WHEN run_at > $3 THEN run_at ELSE $3 END, \
                   updated_at = $3 WHERE status = 'held' AND (lower(account) = $1 OR account = $2) \
                   RETURNING id, run_at";
    Ok(in_tx!(store, tx => {
        let gone = sqlx::query(forget).bind(handle).fetch_optional(&mut *tx).await?;
        match gone {
            None => None,
            Some(row) => {
                let (account, id): (String, Option<String>) = (row.try_get(0)?, row.try_get(1)?);
                let released = sqlx::query(release).bind(&account).bind(&id).bind(now)
                    .fetch_all(&mut *tx).await?;
                let jobs: Vec<(i64, Duration)> = released
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, delay_until(r.try_get(1)?, now))))
                    .collect::<Result<_, sqlx::Error>>()?;
                tx.push_jobs(&jobs).await?;
                Some(jobs.len())
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fallback_job_ids_are_distinct_ulids() {
        let (a, b) = (super::fallback_job_id(1), super::fallback_job_id(2));
        assert_ne!(a, b);
        for id in [a, b] {
            assert!(id.parse::<ulid::Ulid>().is_ok(), "{id}");
        }
    }
}
