//! SQL for rule matches and cooldown claims, run inside the event's transaction.
//!
//! A cooldown is a row `(rule, key, until)`. Claiming it is one upsert that only
//! overwrites an expired row; it returns a row exactly when the claim succeeded.
//! Two processes racing on one key serialize on that row (PostgreSQL's unique
//! index and row lock, SQLite's single writer), so one wins per window.

use super::{POSTGRES_STATEMENT_BYTES, SQLITE_ROWS_PER_STATEMENT, chunks_by_size};
use crate::clock::format_utc;
use crate::rules::Decision;
use sqlx::{PgConnection, QueryBuilder, Sqlite, SqliteConnection};
use time::OffsetDateTime;

/// Every [`MatchRow::outcome`] (the label set of `starling_rule_matches_total`).
pub const OUTCOMES: [&str; 3] = ["fired", "cooldown", "error"];

/// One row of `rule_matches`: a rule's decision about a stored event.
pub struct MatchRow<'a> {
    pub event_id: i64,
    /// `fired`, `cooldown` or `error`.
    pub outcome: &'static str,
    pub decision: &'a Decision,
    /// The decision's rendered actions as stored (a JSON array).
    pub actions_json: String,
}

impl<'a> MatchRow<'a> {
    pub fn new(event_id: i64, decision: &'a Decision, held_by_cooldown: bool) -> Self {
        let outcome = match (&decision.error, held_by_cooldown) {
            (Some(_), _) => "error",
            (None, true) => "cooldown",
            (None, false) => "fired",
        };
        Self {
            event_id,
            outcome,
            decision,
            actions_json: serde_json::to_string(&decision.actions)
                .expect("rendered actions are JSON values"),
        }
    }
}

/// A rule decides once per event. Only a failed evaluation (say, a field the
/// fast-x version lacked) may be replaced, by the decision on a better version.
const CONFLICT_SQLITE: &str = " ON CONFLICT (event_id, rule) DO UPDATE SET
    rule_hash = excluded.rule_hash, matched_at = excluded.matched_at,
    outcome = excluded.outcome, cooldown_key = excluded.cooldown_key,
    error = excluded.error, actions = excluded.actions
  WHERE rule_matches.outcome = 'error'";

/// The rules that have decided on `event_id` (fired or held by a cooldown): on a
/// better version of the event they are not evaluated again.
pub async fn decided_sqlite(
    conn: &mut SqliteConnection,
    event_id: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT rule FROM rule_matches WHERE event_id = ?1 AND outcome <> 'error'")
        .bind(event_id)
        .fetch_all(conn)
        .await
}

pub async fn decided_postgres(
    conn: &mut PgConnection,
    event_id: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT rule FROM rule_matches WHERE event_id = $1 AND outcome <> 'error'")
        .bind(event_id)
        .fetch_all(conn)
        .await
}

/// Inserts a group's matches with multi-row `INSERT`s.
pub async fn record_sqlite(
    conn: &mut SqliteConnection,
    rows: &[MatchRow<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(SQLITE_ROWS_PER_STATEMENT) {
        record_sqlite_chunk(conn, chunk).await?;
    }
    Ok(())
}

async fn record_sqlite_chunk(
    conn: &mut SqliteConnection,
    rows: &[MatchRow<'_>],
) -> Result<(), sqlx::Error> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO rule_matches (event_id, rule, rule_hash, matched_at, outcome, cooldown_key, error, actions) ",
    );
    query.push_values(rows, |mut b, row| {
        let d = row.decision;
        b.push_bind(row.event_id)
            .push_bind(d.rule.clone())
            .push_bind(d.rule_hash.clone())
            .push_bind(format_utc(d.decided_at))
            .push_bind(row.outcome)
            .push_bind(d.cooldown.as_ref().map(|(key, _)| key.clone()))
            .push_bind(d.error.clone())
            .push_bind(row.actions_json.clone());
    });
    query.push(CONFLICT_SQLITE);
    query.build().execute(conn).await?;
    Ok(())
}

/// Inserts a group's matches, a few statements of columns as arrays.
pub async fn record_postgres(
    conn: &mut PgConnection,
    rows: &[MatchRow<'_>],
) -> Result<(), sqlx::Error> {
    let size = |r: &MatchRow| {
        r.actions_json.len() + r.decision.error.as_ref().map_or(0, String::len) + 256
    };
    for chunk in chunks_by_size(rows, POSTGRES_STATEMENT_BYTES, size) {
        record_postgres_chunk(conn, chunk).await?;
    }
    Ok(())
}

async fn record_postgres_chunk(
    conn: &mut PgConnection,
    rows: &[MatchRow<'_>],
) -> Result<(), sqlx::Error> {
    let text = |f: &dyn Fn(&MatchRow) -> Option<String>| {
        rows.iter().map(f).collect::<Vec<Option<String>>>()
    };
    sqlx::query(
        "INSERT INTO rule_matches (event_id, rule, rule_hash, matched_at, outcome, cooldown_key, error, actions)
         SELECT event_id, rule, rule_hash, matched_at, outcome, cooldown_key, error, actions::jsonb
         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[])
              AS t(event_id, rule, rule_hash, matched_at, outcome, cooldown_key, error, actions)
         ON CONFLICT (event_id, rule) DO UPDATE SET
             rule_hash = EXCLUDED.rule_hash, matched_at = EXCLUDED.matched_at,
             outcome = EXCLUDED.outcome, cooldown_key = EXCLUDED.cooldown_key,
             error = EXCLUDED.error, actions = EXCLUDED.actions
         WHERE rule_matches.outcome = 'error'",
    )
    .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .bind(text(&|r| Some(r.decision.rule.clone())))
    .bind(text(&|r| Some(r.decision.rule_hash.clone())))
    .bind(rows.iter().map(|r| r.decision.decided_at).collect::<Vec<_>>())
    .bind(text(&|r| Some(r.outcome.to_string())))
    .bind(text(&|r| r.decision.cooldown.as_ref().map(|(key, _)| key.clone())))
    .bind(text(&|r| r.decision.error.clone()))
    .bind(text(&|r| Some(r.actions_json.clone())))
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims `(rule, key)` from `now` for `window`; false while an earlier claim holds.
pub async fn claim_cooldown_sqlite(
    conn: &mut SqliteConnection,
    rule: &str,
    key: &str,
    now: OffsetDateTime,
    window: std::time::Duration,
    event_id: i64,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "INSERT INTO rule_cooldowns (rule, key, until, event_id) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (rule, key) DO UPDATE SET until = excluded.until, event_id = excluded.event_id
         WHERE rule_cooldowns.until <= ?5
         RETURNING event_id",
    )
    .bind(rule)
    .bind(key)
    .bind(format_utc(now + window))
    .bind(event_id)
    .bind(format_utc(now))
    .fetch_optional(conn)
    .await?;
    Ok(claimed.is_some())
}

pub async fn claim_cooldown_postgres(
    conn: &mut PgConnection,
    rule: &str,
    key: &str,
    now: OffsetDateTime,
    window: std::time::Duration,
    event_id: i64,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "INSERT INTO rule_cooldowns (rule, key, until, event_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (rule, key) DO UPDATE SET until = EXCLUDED.until, event_id = EXCLUDED.event_id
         WHERE rule_cooldowns.until <= $5
         RETURNING event_id",
    )
    .bind(rule)
    .bind(key)
    .bind(now + window)
    .bind(event_id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(claimed.is_some())
}
