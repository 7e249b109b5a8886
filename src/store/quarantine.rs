//! SQL for the `quarantine` table: payloads that passed authentication but could
//! not be understood, kept byte for byte with the reason they were refused.

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

pub async fn insert_sqlite(
    conn: &mut SqliteConnection,
    item: &QuarantinedPayload,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO quarantine (source, channel, received_at, reason, content_type, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )
    .bind(item.source)
    .bind(item.channel)
    .bind(format_utc(item.received_at))
    .bind(&item.reason)
    .bind(&item.content_type)
    .bind(&item.body)
    .fetch_one(conn)
    .await?;
    Ok(row.get(0))
}

pub async fn insert_postgres(
    conn: &mut PgConnection,
    item: &QuarantinedPayload,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO quarantine (source, channel, received_at, reason, content_type, body)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(item.source)
    .bind(item.channel)
    .bind(item.received_at)
    .bind(&item.reason)
    .bind(&item.content_type)
    .bind(&item.body)
    .fetch_one(conn)
    .await?;
    Ok(row.get(0))
}
