//! SQL for the `events` table: insert-or-count-a-sighting, one statement per backend.
//!
//! These functions take an open transaction so that the writer can, in the same
//! transaction, record rule matches and enqueue action jobs (the outbox).

use crate::clock::format_utc;
use crate::event::{Committed, NewEvent};
use sqlx::{PgConnection, Row, SqliteConnection};

const UPSERT_SQLITE: &str = "
INSERT INTO events (source, kind, dedupe_key, vendor_ts, received_at, last_seen_at,
                    sightings, channels, payload)
VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1, json_array(?6), ?7)
ON CONFLICT (dedupe_key) DO UPDATE SET
    sightings = events.sightings + 1,
    last_seen_at = excluded.last_seen_at,
    channels = CASE
        WHEN EXISTS (SELECT 1 FROM json_each(events.channels) WHERE value = ?6)
        THEN events.channels
        ELSE json_insert(events.channels, '$[#]', ?6)
    END
RETURNING id, sightings";

const UPSERT_POSTGRES: &str = "
INSERT INTO events (source, kind, dedupe_key, vendor_ts, received_at, last_seen_at,
                    sightings, channels, payload)
VALUES ($1, $2, $3, $4, $5, $5, 1, jsonb_build_array($6::text), $7::jsonb)
ON CONFLICT (dedupe_key) DO UPDATE SET
    sightings = events.sightings + 1,
    last_seen_at = EXCLUDED.last_seen_at,
    channels = CASE
        WHEN events.channels ? $6 THEN events.channels
        ELSE events.channels || jsonb_build_array($6::text)
    END
RETURNING id, sightings";

pub async fn upsert_sqlite(
    conn: &mut SqliteConnection,
    event: &NewEvent,
) -> Result<Committed, sqlx::Error> {
    let row = sqlx::query(UPSERT_SQLITE)
        .bind(event.source)
        .bind(&event.kind)
        .bind(&event.dedupe_key)
        .bind(event.vendor_ts.map(format_utc))
        .bind(format_utc(event.received_at))
        .bind(event.channel)
        .bind(&event.payload)
        .fetch_one(conn)
        .await?;
    Ok(committed(row.get(0), row.get(1)))
}

pub async fn upsert_postgres(
    conn: &mut PgConnection,
    event: &NewEvent,
) -> Result<Committed, sqlx::Error> {
    let row = sqlx::query(UPSERT_POSTGRES)
        .bind(event.source)
        .bind(&event.kind)
        .bind(&event.dedupe_key)
        .bind(event.vendor_ts)
        .bind(event.received_at)
        .bind(event.channel)
        .bind(&event.payload)
        .fetch_one(conn)
        .await?;
    Ok(committed(row.get(0), row.get(1)))
}

fn committed(event_id: i64, sightings: i32) -> Committed {
    Committed {
        event_id,
        created: sightings == 1,
    }
}
