//! SQL for the `events` table: insert a group of events, or count another
//! sighting of those already stored, in one statement per group.
//!
//! A group may carry the same event twice (a vendor retry racing the original);
//! [`merge`] folds copies by dedupe key first, so each key appears once in the
//! statement with the number of copies as its sightings. The first copy of a new
//! key is reported as created, every other copy as a duplicate.
//!
//! These functions take an open transaction so that the writer can, in the same
//! transaction, record rule matches and enqueue action jobs (the outbox).

use super::{POSTGRES_STATEMENT_BYTES, SQLITE_ROWS_PER_STATEMENT, chunks_by_size};
use crate::clock::format_utc;
use crate::event::{Committed, NewEvent};
use sqlx::{PgConnection, QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::HashMap;
use time::OffsetDateTime;

/// One dedupe key of a group: its best copy and how many copies arrived.
struct Merged<'a> {
    /// The copy stored if the key is new: the first of the highest quality.
    first: &'a NewEvent,
    copies: i32,
    last_seen_at: OffsetDateTime,
    /// JSON array of the distinct channels of the copies.
    channels: String,
}

/// Folds `events` by dedupe key; returns the keys and, for each event, its key's index.
fn merge<'a>(events: &[&'a NewEvent]) -> (Vec<Merged<'a>>, Vec<usize>) {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(events.len());
    let mut merged: Vec<Merged> = Vec::with_capacity(events.len());
    let mut channels: Vec<Vec<&str>> = Vec::with_capacity(events.len());
    let mut slot_of = Vec::with_capacity(events.len());
    for event in events {
        let slot = *index.entry(event.dedupe_key.as_str()).or_insert_with(|| {
            merged.push(Merged {
                first: event,
                copies: 0,
                last_seen_at: event.received_at,
                channels: String::new(),
            });
            channels.push(Vec::new());
            merged.len() - 1
        });
        merged[slot].copies += 1;
        if event.quality > merged[slot].first.quality {
            merged[slot].first = event;
        }
        merged[slot].last_seen_at = merged[slot].last_seen_at.max(event.received_at);
        if !channels[slot].contains(&event.channel) {
            channels[slot].push(event.channel);
        }
        slot_of.push(slot);
    }
    for (m, ch) in merged.iter_mut().zip(channels) {
        m.channels = serde_json::to_string(&ch).expect("strings serialize");
    }
    (merged, slot_of)
}

/// An event's `intent`, `intent_confidence` and `intent_evidence` columns.
struct IntentColumns {
    label: Option<&'static str>,
    confidence: Option<f32>,
    /// JSON array of the evidence.
    evidence: Option<String>,
}

impl IntentColumns {
    fn of(event: &NewEvent) -> Self {
        let intent = event.intent.as_ref();
        Self {
            label: intent.map(|i| i.label.as_str()),
            confidence: intent.map(|i| i.confidence),
            evidence: intent
                .map(|i| serde_json::to_string(&i.evidence).expect("strings serialize")),
        }
    }
}

/// Maps the statement's returned `(dedupe_key → id, sightings)` back to each event.
fn outcomes(
    merged: &[Merged],
    slot_of: &[usize],
    returned: HashMap<String, (i64, i64)>,
) -> Result<Vec<Committed>, sqlx::Error> {
    let mut first_seen = vec![false; merged.len()];
    slot_of
        .iter()
        .map(|&slot| {
            let m = &merged[slot];
            let (event_id, sightings) = *returned.get(&m.first.dedupe_key).ok_or_else(|| {
                sqlx::Error::Protocol(format!("no row returned for {}", m.first.dedupe_key))
            })?;
            // New key: the stored count equals this group's copies; the first copy created it.
            let created = sightings == i64::from(m.copies) && !first_seen[slot];
            first_seen[slot] = true;
            Ok(Committed {
                event_id,
                created,
                upgraded: false,
            })
        })
        .collect()
}

pub async fn upsert_sqlite(
    conn: &mut SqliteConnection,
    events: &[&NewEvent],
) -> Result<Vec<Committed>, sqlx::Error> {
    let (merged, slot_of) = merge(events);
    let mut returned = HashMap::with_capacity(merged.len());
    for chunk in merged.chunks(SQLITE_ROWS_PER_STATEMENT) {
        upsert_sqlite_chunk(conn, chunk, &mut returned).await?;
    }
    outcomes(&merged, &slot_of, returned)
}

async fn upsert_sqlite_chunk(
    conn: &mut SqliteConnection,
    merged: &[Merged<'_>],
    returned: &mut HashMap<String, (i64, i64)>,
) -> Result<(), sqlx::Error> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO events (source, kind, dedupe_key, vendor_ts, received_at, last_seen_at, \
         sightings, channels, payload, quality, intent, intent_confidence, intent_evidence) ",
    );
    query.push_values(merged, |mut row, m| {
        let e = m.first;
        row.push_bind(e.source)
            .push_bind(e.kind.clone())
            .push_bind(e.dedupe_key.clone())
            .push_bind(e.vendor_ts.map(format_utc))
            .push_bind(format_utc(e.received_at))
            .push_bind(format_utc(m.last_seen_at))
            .push_bind(m.copies)
            .push_bind(m.channels.clone())
            .push_bind(e.payload.clone())
            .push_bind(e.quality);
        let intent = IntentColumns::of(e);
        row.push_bind(intent.label)
            .push_bind(intent.confidence)
            .push_bind(intent.evidence);
    });
    query.push(
        " ON CONFLICT (dedupe_key) DO UPDATE SET
            sightings = events.sightings + excluded.sightings,
            last_seen_at = excluded.last_seen_at,
            channels = (SELECT json_group_array(value) FROM (
                SELECT value FROM json_each(events.channels)
                UNION SELECT value FROM json_each(excluded.channels)))
          RETURNING dedupe_key, id, sightings",
    );
    for row in query.build().fetch_all(conn).await? {
        returned.insert(
            row.get::<String, _>(0),
            (row.get::<i64, _>(1), row.get::<i64, _>(2)),
        );
    }
    Ok(())
}

/// One prepared statement whatever the group size: the columns travel as arrays.
const UPSERT_POSTGRES: &str = "
INSERT INTO events (source, kind, dedupe_key, vendor_ts, received_at, last_seen_at,
                    sightings, channels, payload, quality, intent, intent_confidence, intent_evidence)
SELECT source, kind, dedupe_key, vendor_ts, received_at, last_seen_at, sightings,
       channels::jsonb, payload::jsonb, quality, intent, intent_confidence, intent_evidence
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
            $6::timestamptz[], $7::int4[], $8::text[], $9::text[], $10::int2[],
            $11::text[], $12::float4[], $13::text[])
     AS t(source, kind, dedupe_key, vendor_ts, received_at, last_seen_at, sightings, channels, payload, quality,
          intent, intent_confidence, intent_evidence)
ON CONFLICT (dedupe_key) DO UPDATE SET
    sightings = events.sightings + EXCLUDED.sightings,
    last_seen_at = EXCLUDED.last_seen_at,
    channels = (SELECT jsonb_agg(DISTINCT c) FROM jsonb_array_elements(events.channels || EXCLUDED.channels) AS c)
RETURNING dedupe_key, id, sightings::int8";

pub async fn upsert_postgres(
    conn: &mut PgConnection,
    events: &[&NewEvent],
) -> Result<Vec<Committed>, sqlx::Error> {
    let (merged, slot_of) = merge(events);
    let mut returned = HashMap::with_capacity(merged.len());
    for chunk in chunks_by_size(&merged, POSTGRES_STATEMENT_BYTES, |m| {
        m.first.payload.len() + 256
    }) {
        upsert_postgres_chunk(conn, chunk, &mut returned).await?;
    }
    outcomes(&merged, &slot_of, returned)
}

async fn upsert_postgres_chunk(
    conn: &mut PgConnection,
    chunk: &[Merged<'_>],
    returned: &mut HashMap<String, (i64, i64)>,
) -> Result<(), sqlx::Error> {
    let column = |f: &dyn Fn(&Merged) -> String| chunk.iter().map(f).collect::<Vec<String>>();
    let intents: Vec<IntentColumns> = chunk.iter().map(|m| IntentColumns::of(m.first)).collect();
    let rows = sqlx::query(UPSERT_POSTGRES)
        .bind(column(&|m| m.first.source.to_string()))
        .bind(column(&|m| m.first.kind.clone()))
        .bind(column(&|m| m.first.dedupe_key.clone()))
        .bind(chunk.iter().map(|m| m.first.vendor_ts).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|m| m.first.received_at)
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|m| m.last_seen_at).collect::<Vec<_>>())
        .bind(chunk.iter().map(|m| m.copies).collect::<Vec<_>>())
        .bind(column(&|m| m.channels.clone()))
        .bind(column(&|m| m.first.payload.clone()))
        .bind(chunk.iter().map(|m| m.first.quality).collect::<Vec<_>>())
        .bind(intents.iter().map(|i| i.label).collect::<Vec<_>>())
        .bind(intents.iter().map(|i| i.confidence).collect::<Vec<_>>())
        .bind(intents.into_iter().map(|i| i.evidence).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        returned.insert(
            row.get::<String, _>(0),
            (row.get::<i64, _>(1), row.get::<i64, _>(2)),
        );
    }
    Ok(())
}

/// Replaces a stored event's payload with a better version (`quality` higher than
/// the stored one); true if it did. The condition is checked on the row itself,
/// so of two processes upgrading at once only one sees `true`.
pub async fn upgrade_sqlite(
    conn: &mut SqliteConnection,
    event_id: i64,
    event: &NewEvent,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE events SET payload = ?2, quality = ?3 WHERE id = ?1 AND quality < ?3 RETURNING id",
    )
    .bind(event_id)
    .bind(&event.payload)
    .bind(event.quality)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

pub async fn upgrade_postgres(
    conn: &mut PgConnection,
    event_id: i64,
    event: &NewEvent,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE events SET payload = $2::jsonb, quality = $3 WHERE id = $1 AND quality < $3 RETURNING id",
    )
    .bind(event_id)
    .bind(&event.payload)
    .bind(event.quality)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// The `event_sightings` rows of a group: `(event id, event)` for each event that has one.
pub async fn record_sightings_sqlite(
    conn: &mut SqliteConnection,
    rows: &[(i64, &NewEvent)],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO event_sightings (event_id, stream, channel, received_at, quality, payload) ",
        );
        query.push_values(chunk, |mut row, (id, e)| {
            let sighting = e.sighting.as_deref().expect("filtered on sightings");
            row.push_bind(*id)
                .push_bind(sighting.stream.clone())
                .push_bind(e.channel)
                .push_bind(format_utc(e.received_at))
                .push_bind(e.quality)
                .push_bind(sighting.raw.clone());
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn record_sightings_postgres(
    conn: &mut PgConnection,
    rows: &[(i64, &NewEvent)],
) -> Result<(), sqlx::Error> {
    let size = |(_, e): &(i64, &NewEvent)| e.sighting.as_ref().map_or(0, |s| s.raw.len()) + 128;
    for chunk in chunks_by_size(rows, POSTGRES_STATEMENT_BYTES, size) {
        let sighting = |e: &NewEvent| {
            e.sighting
                .as_deref()
                .expect("filtered on sightings")
                .clone()
        };
        sqlx::query(
            "INSERT INTO event_sightings (event_id, stream, channel, received_at, quality, payload)
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::timestamptz[], $5::int2[], $6::text[])",
        )
        .bind(chunk.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, e)| sighting(e).stream).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, e)| e.channel.to_string()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, e)| e.received_at).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, e)| e.quality).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(_, e)| sighting(e).raw).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &str, channel: &'static str) -> NewEvent {
        NewEvent {
            source: "scrapely",
            kind: "scrapely.new_reply".into(),
            dedupe_key: key.into(),
            vendor_ts: None,
            received_at: OffsetDateTime::UNIX_EPOCH,
            channel,
            payload: "{}".into(),
            quality: 0,
            sighting: None,
            intent: None,
        }
    }

    #[test]
    fn copies_in_one_group_fold_into_one_key() {
        let (a1, b, a2) = (
            event("a", "webhook"),
            event("b", "webhook"),
            event("a", "ws"),
        );
        let (merged, slot_of) = merge(&[&a1, &b, &a2]);
        assert_eq!(merged.len(), 2);
        assert_eq!(slot_of, [0, 1, 0]);
        assert_eq!(merged[0].copies, 2);
        assert_eq!(merged[0].channels, r#"["webhook","ws"]"#);

        // `a` is new (stored sightings == copies); `b` was stored before.
        let returned = HashMap::from([("a".to_string(), (1, 2)), ("b".to_string(), (2, 5))]);
        let out = outcomes(&merged, &slot_of, returned).unwrap();
        assert_eq!(
            out.iter()
                .map(|c| (c.event_id, c.created))
                .collect::<Vec<_>>(),
            [(1, true), (2, false), (1, false)]
        );
    }
}
