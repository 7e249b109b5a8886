//! The `actions` table's row ([`ActionRow`]), its reads and reschedules, in the
//! same statements on both backends (`$n` parameters, integer milliseconds, text
//! JSON), and the per-backend helpers ([`in_tx!`], [`on_pool!`]) the other
//! action modules of the store build on. It imports none of them.

use super::Store;
pub use super::status::{ActionStatus, AttemptOutcome};
use crate::catalog::ActionKind;
use crate::store::jobs::PushJobs;
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

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn delay_until(at: i64, now: i64) -> Duration {
    Duration::from_millis((at - now).max(0) as u64)
}

/// An action's rendered parameters, a JSON object (stored as its text).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Params(pub serde_json::Value);

impl std::ops::Deref for Params {
    type Target = serde_json::Value;
    fn deref(&self) -> &serde_json::Value {
        &self.0
    }
}

/// Stored parameters that are not a JSON object (a person edited the row).
#[derive(Debug, thiserror::Error)]
#[error("action parameters are not a JSON object: {0}")]
pub struct BadParams(String);

impl TryFrom<String> for Params {
    type Error = BadParams;
    fn try_from(text: String) -> Result<Self, BadParams> {
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value) if value.is_object() => Ok(Params(value)),
            Ok(other) => Err(BadParams(format!("found {other}"))),
            Err(e) => Err(BadParams(e.to_string())),
        }
    }
}

/// An action as the executor and the CLI see it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ActionRow {
    pub id: i64,
    pub event_id: i64,
    pub rule: String,
    pub action_index: i32,
    #[sqlx(try_from = "String")]
    pub kind: ActionKind,
    #[sqlx(try_from = "String")]
    pub params: Params,
    pub account: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: ActionStatus,
    pub attempts: i32,
    pub max_attempts: Option<i32>,
    pub series: i32,
    pub run_at: i64,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_error: Option<String>,
}

pub(super) const COLUMNS: &str = "id, event_id, rule, action_index, kind, params, account, status, attempts, \
    max_attempts, series, run_at, lease_until, created_at, updated_at, last_error";

pub async fn get(store: &Store, id: i64) -> Result<Option<ActionRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM actions WHERE id = $1");
    on_pool!(store, pool => sqlx::query_as::<_, ActionRow>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await)
}

/// Pushes a job for an action that stays as it is (it is due later, or busy).
pub async fn push_job(store: &Store, id: i64, delay: Duration) -> Result<(), sqlx::Error> {
    in_tx!(store, tx => tx.push_jobs(&[(id, delay)]).await?);
    Ok(())
}

/// Crash recovery, one rule: an action is claimed again when its lease expired
/// unfinished (a process stopped mid-run, or before running what it claimed in
/// its commit: fast-path actions have no job) or its `run_at` passed unclaimed
/// (a job spent without an outcome, when a run could not reach the database).
/// An expired lease is queued once, at once (`updated_at` moves past it); an
/// action untouched since `stalled_before` (ms) again. The claim makes a
/// duplicate job harmless.
pub async fn requeue_stalled(
    store: &Store,
    now: i64,
    stalled_before: i64,
) -> Result<usize, sqlx::Error> {
    let sql = "UPDATE actions SET updated_at = $1 \
               WHERE (status = 'running' AND lease_until < $1 AND updated_at < lease_until) \
                  OR (((status IN ('pending', 'failed') AND run_at < $2) OR (status = 'running' AND lease_until < $2)) \
                      AND updated_at < $2) \
               RETURNING id";
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
