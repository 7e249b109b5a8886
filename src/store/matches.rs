//! SQL for rule matches and cooldown claims, run inside the event's transaction.
//!
//! A cooldown is a row `(rule, key, until)`. Claiming it is one upsert that only
//! overwrites an expired row; it returns a row exactly when the claim succeeded.
//! Two processes racing on one key serialize on that row (PostgreSQL's unique
//! index and row lock, SQLite's single writer), so one wins per window.

use crate::clock::format_utc;
use sqlx::{PgConnection, SqliteConnection};
use time::OffsetDateTime;

/// One row of `rule_matches`.
pub struct MatchRow<'a> {
    pub event_id: i64,
    pub rule: &'a str,
    pub rule_hash: &'a str,
    pub matched_at: OffsetDateTime,
    pub outcome: &'static str,
    pub cooldown_key: Option<String>,
    pub error: Option<String>,
    /// JSON array of rendered actions.
    pub actions: String,
}

pub async fn record_sqlite(
    conn: &mut SqliteConnection,
    row: &MatchRow<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rule_matches (event_id, rule, rule_hash, matched_at, outcome, cooldown_key, error, actions)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (event_id, rule) DO NOTHING",
    )
    .bind(row.event_id)
    .bind(row.rule)
    .bind(row.rule_hash)
    .bind(format_utc(row.matched_at))
    .bind(row.outcome)
    .bind(&row.cooldown_key)
    .bind(&row.error)
    .bind(&row.actions)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn record_postgres(
    conn: &mut PgConnection,
    row: &MatchRow<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rule_matches (event_id, rule, rule_hash, matched_at, outcome, cooldown_key, error, actions)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (event_id, rule) DO NOTHING",
    )
    .bind(row.event_id)
    .bind(row.rule)
    .bind(row.rule_hash)
    .bind(row.matched_at)
    .bind(row.outcome)
    .bind(&row.cooldown_key)
    .bind(&row.error)
    .bind(&row.actions)
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
