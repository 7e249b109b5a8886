//! SQL for the `streams` table: each stream's state, and the lease that lets
//! exactly one process hold a stream (with failover when its holder goes away).
//! Same statements on both backends (`$n` parameters, integer milliseconds).

use super::Store;
use super::action_rows::{now_ms, on_pool};

/// A stream's state as the holder last wrote it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct StreamRow {
    pub name: String,
    pub kind: String,
    pub state: String,
    pub connected_since: Option<i64>,
    pub last_message_at: Option<i64>,
    pub messages: i64,
    pub reconnects: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub owner: Option<String>,
    pub lease_until: Option<i64>,
    pub updated_at: i64,
}

/// What the holder writes every second.
#[derive(Debug, Clone)]
pub struct StreamUpdate<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub state: &'a str,
    pub connected_since: Option<i64>,
    pub last_message_at: Option<i64>,
    /// Counted since the previous update.
    pub new_messages: i64,
    pub new_reconnects: i64,
    pub last_error: Option<&'a str>,
    pub last_error_at: Option<i64>,
}

/// Takes (or keeps) the lease of stream `name` for `owner` until `now + lease_ms`;
/// true if `owner` holds it now. A lease is taken over only once it has lapsed.
pub async fn acquire(
    store: &Store,
    name: &str,
    kind: &str,
    owner: &str,
    lease_ms: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    on_pool!(store, pool => {
        let row: Option<(String,)> = sqlx::query_as(
            "INSERT INTO streams (name, kind, state, owner, lease_until, updated_at)
             VALUES ($1, $2, 'connecting', $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
                 lease_until = excluded.lease_until, kind = excluded.kind, updated_at = excluded.updated_at
             WHERE streams.owner = excluded.owner OR streams.owner IS NULL OR streams.lease_until < $5
             RETURNING name",
        )
        .bind(name)
        .bind(kind)
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(pool)
        .await?;
        Ok(row.is_some())
    })
}

/// Writes the holder's state and renews its lease; false if `owner` no longer
/// holds the stream (another process took it over).
pub async fn update(
    store: &Store,
    owner: &str,
    lease_ms: i64,
    u: &StreamUpdate<'_>,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    on_pool!(store, pool => {
        let row: Option<(String,)> = sqlx::query_as(
            "UPDATE streams SET state = $3, connected_since = $4, last_message_at = $5,
                 messages = messages + $6, reconnects = reconnects + $7, last_error = $8,
                 last_error_at = $9, lease_until = $10, updated_at = $11, kind = $12
             WHERE name = $1 AND owner = $2
             RETURNING name",
        )
        .bind(u.name)
        .bind(owner)
        .bind(u.state)
        .bind(u.connected_since)
        .bind(u.last_message_at)
        .bind(u.new_messages)
        .bind(u.new_reconnects)
        .bind(u.last_error)
        .bind(u.last_error_at)
        .bind(now + lease_ms)
        .bind(now)
        .bind(u.kind)
        .fetch_optional(pool)
        .await?;
        Ok(row.is_some())
    })
}

/// Gives the lease up (on shutdown), so another process need not wait for it to lapse.
pub async fn release(store: &Store, name: &str, owner: &str) -> Result<(), sqlx::Error> {
    on_pool!(store, pool => {
        sqlx::query(
            "UPDATE streams SET state = 'stopped', connected_since = NULL, lease_until = NULL,
                 owner = NULL, updated_at = $3
             WHERE name = $1 AND owner = $2",
        )
        .bind(name)
        .bind(owner)
        .bind(now_ms())
        .execute(pool)
        .await?;
        Ok(())
    })
}

pub async fn list(store: &Store) -> Result<Vec<StreamRow>, sqlx::Error> {
    on_pool!(store, pool => {
        sqlx::query_as("SELECT * FROM streams ORDER BY name").fetch_all(pool).await
    })
}
