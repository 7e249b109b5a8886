//! The outbox's SQL: the per-backend half of [`super::insert_outbox`] (creating
//! a group's actions, their first attempts, a pause and its holds), the same
//! statements on both backends but for how each reads a JSON array of rows.

use super::NewAction;
use crate::store::action_rows::ActionRow;

/// The per-backend half of [`super::insert_outbox`].
pub(crate) trait OutboxConn {
    /// Inserts a group's actions (those already stored are left alone);
    /// returns the rows created.
    async fn insert_actions(
        &mut self,
        actions: &[NewAction],
        now: i64,
        lease_until: Option<i64>,
        skip_scrapely: Option<&str>,
    ) -> Result<Vec<ActionRow>, sqlx::Error>;
    /// Records the pause and holds the account's queued DMs and tweets; returns the ids held.
    async fn pause_account(&mut self, pause: &Pause) -> Result<Vec<i64>, sqlx::Error>;
    /// Writes the first attempts of actions claimed in this transaction (and
    /// counts them on the actions); returns (action id, attempt id) pairs.
    async fn first_attempts(
        &mut self,
        action_ids: &[i64],
        worker: &str,
        now: i64,
    ) -> Result<Vec<(i64, i64)>, sqlx::Error>;
    /// Gives back a claim taken in this transaction.
    async fn unclaim(&mut self, action_id: i64) -> Result<(), sqlx::Error>;
}

/// The first attempts of a group's claims, from a JSON array of action ids ($1,
/// one statement whatever the group's size), and their count on the actions:
/// the same statements but for how each backend reads a JSON array.
const FIRST_ATTEMPTS_SQLITE: &str = "INSERT INTO action_attempts (action_id, series, attempt, worker, started_at) \
    SELECT value, 1, 1, $2, $3 FROM json_each($1) RETURNING action_id, id";
const COUNT_FIRST_SQLITE: &str =
    "UPDATE actions SET attempts = 1 WHERE id IN (SELECT value FROM json_each($1))";
const FIRST_ATTEMPTS_POSTGRES: &str = "INSERT INTO action_attempts (action_id, series, attempt, worker, started_at) \
    SELECT CAST(value AS BIGINT), 1, 1, $2, $3 FROM jsonb_array_elements_text($1::jsonb) \
    RETURNING action_id, id";
const COUNT_FIRST_POSTGRES: &str = "UPDATE actions SET attempts = 1 \
    WHERE id IN (SELECT CAST(value AS BIGINT) FROM jsonb_array_elements_text($1::jsonb))";

/// An `account_paused` event's facts.
#[derive(Debug, Clone)]
pub struct Pause {
    /// `None` when the event names only the account id: the handle is then the
    /// one Starling has seen with that id (`scrapely_accounts`, `paused_accounts`).
    pub handle: Option<String>,
    pub account_id: Option<String>,
    pub reason: Option<String>,
    pub event_id: i64,
    pub at: i64,
}

/// A pause is keyed by the handle: the event's, else the one known for its id,
/// else (an id Starling has never seen) the id itself until a `GET /accounts`
/// names it (`store::accounts::remember`); meanwhile the outbox and the executor
/// hold the DMs of every account they cannot tell apart from it.
const PAUSE: &str = "INSERT INTO paused_accounts (account, account_id, paused_at, reason, event_id) \
    VALUES (lower(COALESCE($1, (SELECT k.handle FROM scrapely_accounts k WHERE k.account_id = $2), \
      (SELECT q.account FROM paused_accounts q WHERE q.account_id = $2 LIMIT 1), $2)), $2, $3, $4, $5) \
    ON CONFLICT (account) DO UPDATE SET account_id = COALESCE(excluded.account_id, paused_accounts.account_id), \
      paused_at = excluded.paused_at, reason = excluded.reason, event_id = excluded.event_id \
    RETURNING account";
fn sqlite_chunks(actions: &[NewAction]) -> Vec<&[NewAction]> {
    actions
        .chunks(crate::store::SQLITE_ROWS_PER_STATEMENT)
        .collect()
}

fn postgres_chunks(actions: &[NewAction]) -> Vec<&[NewAction]> {
    crate::store::chunks_by_size(
        actions,
        crate::store::POSTGRES_STATEMENT_BYTES,
        NewAction::size,
    )
}

macro_rules! outbox_conn {
    ($conn:ty, $create:expr, $chunks:expr, $first_attempts:expr, $count_first:expr) => {
        impl OutboxConn for $conn {
            async fn insert_actions(
                &mut self,
                actions: &[NewAction],
                now: i64,
                lease_until: Option<i64>,
                skip_scrapely: Option<&str>,
            ) -> Result<Vec<ActionRow>, sqlx::Error> {
                let mut created = Vec::with_capacity(actions.len());
                for chunk in $chunks(actions) {
                    let rows =
                        serde_json::Value::Array(chunk.iter().map(NewAction::as_json).collect());
                    created.extend(
                        sqlx::query_as::<_, ActionRow>($create.as_str())
                            .bind(rows.to_string())
                            .bind(now)
                            .bind(lease_until)
                            .bind(skip_scrapely)
                            .fetch_all(&mut *self)
                            .await?,
                    );
                }
                Ok(created)
            }

            async fn pause_account(&mut self, p: &Pause) -> Result<Vec<i64>, sqlx::Error> {
                if let (Some(handle), Some(id)) = (&p.handle, &p.account_id) {
                    sqlx::query(crate::store::accounts::REMEMBER)
                        .bind(id)
                        .bind(handle)
                        .bind(p.at)
                        .execute(&mut *self)
                        .await?;
                }
                let account: String = sqlx::query_scalar(PAUSE)
                    .bind(&p.handle)
                    .bind(&p.account_id)
                    .bind(p.at)
                    .bind(&p.reason)
                    .bind(p.event_id)
                    .fetch_one(&mut *self)
                    .await?;
                sqlx::query_scalar(crate::store::lifecycle::HOLD_PAUSED.as_str())
                    .bind(&account)
                    .bind(&p.account_id)
                    .bind(p.at)
                    .fetch_all(&mut *self)
                    .await
            }

            async fn first_attempts(
                &mut self,
                action_ids: &[i64],
                worker: &str,
                now: i64,
            ) -> Result<Vec<(i64, i64)>, sqlx::Error> {
                let ids = serde_json::to_string(action_ids).expect("ids serialize");
                let attempts = sqlx::query_as($first_attempts)
                    .bind(&ids)
                    .bind(worker)
                    .bind(now)
                    .fetch_all(&mut *self)
                    .await?;
                sqlx::query($count_first)
                    .bind(&ids)
                    .execute(&mut *self)
                    .await?;
                Ok(attempts)
            }

            async fn unclaim(&mut self, action_id: i64) -> Result<(), sqlx::Error> {
                sqlx::query(crate::store::lifecycle::UNCLAIM.as_str())
                    .bind(action_id)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
        }
    };
}
outbox_conn!(
    sqlx::SqliteConnection,
    crate::store::lifecycle::CREATE_MANY_SQLITE,
    sqlite_chunks,
    FIRST_ATTEMPTS_SQLITE,
    COUNT_FIRST_SQLITE
);
outbox_conn!(
    sqlx::PgConnection,
    crate::store::lifecycle::CREATE_MANY_POSTGRES,
    postgres_chunks,
    FIRST_ATTEMPTS_POSTGRES,
    COUNT_FIRST_POSTGRES
);
