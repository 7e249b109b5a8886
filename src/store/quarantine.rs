//! SQL for the `quarantine` table: payloads that passed authentication but could
//! not be understood, kept byte for byte with the reason they were refused.
//!
//! The same body refused again on the same source and channel (Scrapely retries a
//! refused delivery up to 3 times) is one row: its `sightings` count goes up and
//! `last_seen_at` and `reason` follow the latest delivery. The row is found by
//! the SHA-256 of the raw bytes (`body_sha256`, unique per source and channel).
//!
//! `starling quarantine` reads the rows ([`read`]) and records what a replay of
//! one found ([`record_replay`]): the event it became (`replayed_at`, `event_id`),
//! or, still refused, today's reason (`reason`, `replay_tried_at`). Rows are
//! never deleted by a replay: the body is the authentic payload, kept for the record.

use crate::clock::format_utc;
use sqlx::{PgConnection, Row, SqliteConnection};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct QuarantinedPayload {
    pub source: &'static str,
    pub channel: &'static str,
    pub received_at: OffsetDateTime,
    /// What was wrong and what was expected.
    pub reason: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl QuarantinedPayload {
    /// SHA-256 (hex) of the raw body: what makes a repeated delivery the same row.
    pub fn body_sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(&self.body))
    }
}

/// Inserts a payload, or counts one more sighting of the same body.
const UPSERT: &str = "INSERT INTO quarantine \
    (source, channel, received_at, last_seen_at, reason, content_type, body, body_sha256) \
    VALUES ($1, $2, $3, $3, $4, $5, $6, $7) \
    ON CONFLICT (source, channel, body_sha256) DO UPDATE SET \
      sightings = quarantine.sightings + 1, last_seen_at = excluded.last_seen_at, \
      reason = excluded.reason, content_type = excluded.content_type \
    RETURNING id";

pub async fn insert_sqlite(
    conn: &mut SqliteConnection,
    item: &QuarantinedPayload,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(UPSERT)
        .bind(item.source)
        .bind(item.channel)
        .bind(format_utc(item.received_at))
        .bind(&item.reason)
        .bind(&item.content_type)
        .bind(&item.body)
        .bind(item.body_sha256())
        .fetch_one(conn)
        .await?;
    Ok(row.get(0))
}

pub async fn insert_postgres(
    conn: &mut PgConnection,
    item: &QuarantinedPayload,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(UPSERT)
        .bind(item.source)
        .bind(item.channel)
        .bind(item.received_at)
        .bind(&item.reason)
        .bind(&item.content_type)
        .bind(&item.body)
        .bind(item.body_sha256())
        .fetch_one(conn)
        .await?;
    Ok(row.get(0))
}

/// A kept payload as `starling quarantine` shows it (times as RFC 3339 UTC).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Kept {
    pub id: i64,
    pub source: String,
    pub channel: String,
    pub received_at: String,
    pub last_seen_at: Option<String>,
    pub sightings: i64,
    pub reason: String,
    pub content_type: Option<String>,
    /// The raw body, byte for byte as it arrived.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// When a replay made it an event (or found it carries none), and which event.
    pub replayed_at: Option<String>,
    pub event_id: Option<i64>,
    pub replay_tried_at: Option<String>,
}

const KEPT_COLUMNS: &str = "id, source, channel, received_at, last_seen_at, sightings, reason, \
    content_type, body, replayed_at, event_id, replay_tried_at";

/// Reads a row; `time` reads a timestamp column as RFC 3339 text on either backend.
fn kept<R: Row>(
    row: &R,
    time: impl Fn(&R, usize) -> Result<Option<String>, sqlx::Error>,
) -> Result<Kept, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Kept {
        id: row.try_get(0)?,
        source: row.try_get(1)?,
        channel: row.try_get(2)?,
        received_at: time(row, 3)?.unwrap_or_default(),
        last_seen_at: time(row, 4)?,
        sightings: row
            .try_get::<i64, _>(5)
            .or_else(|_| row.try_get::<i32, _>(5).map(i64::from))?,
        reason: row.try_get(6)?,
        content_type: row.try_get(7)?,
        body: row.try_get(8)?,
        replayed_at: time(row, 9)?,
        event_id: row.try_get(10)?,
        replay_tried_at: time(row, 11)?,
    })
}

fn sqlite_time(row: &sqlx::sqlite::SqliteRow, i: usize) -> Result<Option<String>, sqlx::Error> {
    row.try_get(i)
}

fn postgres_time(row: &sqlx::postgres::PgRow, i: usize) -> Result<Option<String>, sqlx::Error> {
    Ok(row.try_get::<Option<OffsetDateTime>, _>(i)?.map(format_utc))
}

/// Which kept payloads to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Every row, newest first.
    All,
    /// The rows no replay has resolved yet, oldest first (what `replay --all` takes).
    Unresolved,
    One(i64),
}

/// Kept payloads, with their bodies.
pub async fn read(store: &super::Store, which: Which) -> Result<Vec<Kept>, sqlx::Error> {
    let (filter, order) = match which {
        // Ids start at 1: `id > 0` is every row.
        Which::All => ("id > CAST($1 AS BIGINT)", "id DESC"),
        Which::Unresolved => ("replayed_at IS NULL AND id > CAST($1 AS BIGINT)", "id"),
        Which::One(_) => ("id = $1", "id"),
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {KEPT_COLUMNS} FROM quarantine WHERE {filter} ORDER BY {order}"
    ));
    let id = match which {
        Which::One(id) => id,
        _ => 0,
    };
    match store {
        super::Store::Sqlite(pool) => sqlx::query(sql)
            .bind(id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| kept(r, sqlite_time))
            .collect(),
        super::Store::Postgres(pool) => sqlx::query(sql)
            .bind(id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| kept(r, postgres_time))
            .collect(),
    }
}

/// What a replay of a kept payload found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// It is an event now (created, or a sighting of one stored already).
    Event(i64),
    /// Today's reader takes it but finds no event in it (an acknowledgement).
    NoEvent,
    /// Still refused, for this reason (it replaces the one stored).
    Refused(String),
}

/// Records what a replay of row `id` found, at `at`.
pub async fn record_replay(
    store: &super::Store,
    id: i64,
    outcome: &Replayed,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    // $4 (a reason) is set exactly when the body is still refused.
    let sql = "UPDATE quarantine SET replay_tried_at = $2, \
        replayed_at = CASE WHEN CAST($4 AS TEXT) IS NULL THEN $2 ELSE replayed_at END, \
        event_id = CASE WHEN CAST($4 AS TEXT) IS NULL THEN $3 ELSE event_id END, \
        reason = COALESCE(CAST($4 AS TEXT), reason) WHERE id = $1";
    let event_id = match outcome {
        Replayed::Event(event_id) => Some(*event_id),
        _ => None,
    };
    let reason = match outcome {
        Replayed::Refused(reason) => Some(reason.as_str()),
        _ => None,
    };
    match store {
        super::Store::Sqlite(pool) => {
            sqlx::query(sql)
                .bind(id)
                .bind(format_utc(at))
                .bind(event_id)
                .bind(reason)
                .execute(pool)
                .await?;
        }
        super::Store::Postgres(pool) => {
            sqlx::query(sql)
                .bind(id)
                .bind(at)
                .bind(event_id)
                .bind(reason)
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}
