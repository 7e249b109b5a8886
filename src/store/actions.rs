//! SQL for an action's life after creation (claim, release, reschedule), in the
//! same statements on both backends (`$n` parameters, integer milliseconds, text
//! JSON). Creation is in [`super::outbox`], attempts in [`super::attempts`], paused
//! accounts in [`super::accounts`]; the executor sees them all through this module.
//!
//! An action moves through `pending → running → succeeded`, or `failed` (a retry is
//! scheduled) and back to `running`, ending `succeeded`, `dead`, `skipped`,
//! `cancelled`, `dry_run` or `outcome_unknown` (a DM whose fate nobody saw). `held`
//! waits for a paused account. Every transition is one transaction, and a
//! transition that needs a worker pushes its apalis job in that same transaction.

use super::Store;
use crate::queue::PushJobs;
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
pub(crate) use {in_tx, on_pool};

/// Action kinds held while their account is paused (the outbox's SQL in
/// `outbox.rs` names the same kinds when it inserts and holds actions).
pub const HELD_WHEN_PAUSED: &[&str] = &["scrapely.send_dm", "scrapely.schedule_tweet"];

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn delay_until(at: i64, now: i64) -> Duration {
    Duration::from_millis((at - now).max(0) as u64)
}

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

/// Re-queues actions whose job was lost: pending or failed and overdue, or
/// running past their lease, and untouched since `stalled_before` (ms). That
/// happens only when a run failed to reach the database (its job was spent
/// without an outcome); the claim makes a duplicate job harmless.
pub async fn requeue_stalled(
    store: &Store,
    now: i64,
    stalled_before: i64,
) -> Result<usize, sqlx::Error> {
    let sql = "UPDATE actions SET updated_at = $1 \
               WHERE ((status IN ('pending', 'failed') AND run_at < $2) OR (status = 'running' AND lease_until < $2)) \
                 AND updated_at < $2 RETURNING id";
    Ok(in_tx!(store, tx => {
        let ids: Vec<i64> = sqlx::query_scalar(sql).bind(now).bind(stalled_before).fetch_all(&mut *tx).await?;
        let jobs: Vec<(i64, Duration)> = ids.iter().map(|id| (*id, Duration::ZERO)).collect();
        tx.push_jobs(&jobs).await?;
        jobs.len()
    }))
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

// The executor and the CLI see one module of action SQL.
pub use super::accounts::{is_paused, paused_accounts, resume_account};
pub use super::attempts::{
    Finish, Finished, NotStarted, OpenAttempt, RecordedRequest, close_stale_attempt, finish,
    last_attempt, start_attempt, start_call,
};
pub use super::outbox::{FastClaim, NewAction, OutboxMode, Pause, fallback_job_id};
