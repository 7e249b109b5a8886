//! SQL for the `quarantine` table: payloads that passed authentication but could
//! not be understood, kept byte for byte with the reason they were refused.
//!
//! The same body refused again on the same source and channel (Scrapely retries a
//! refused delivery up to 3 times) is one row: its `sightings` count goes up and
//! `last_seen_at` and `reason` follow the latest delivery. The row is found by
//! the SHA-256 of the raw bytes (`body_sha256`, unique per source and channel).

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
