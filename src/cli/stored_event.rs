//! An event as stored, read back for the rules: what a backtest replays and
//! what the console's playground tries when a stored event is picked by id.

use crate::rules::{EventContext, EventMeta};
use crate::store::audit;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The columns [`StoredEvent::from_row`] reads, in its order.
pub const COLUMNS: &str = "id, source, kind, received_at, channels, payload, dedupe_key, intent";

pub struct StoredEvent {
    pub id: i64,
    pub dedupe_key: String,
    pub source: String,
    pub kind: String,
    pub received_at: OffsetDateTime,
    pub received_text: String,
    pub channels: Vec<String>,
    pub payload: Value,
    /// The stored intent label (replies only; NULL before they were classified).
    pub intent: Option<String>,
}

impl StoredEvent {
    /// From an audit row (id, source, kind, received_at, channels, payload, dedupe_key) on either backend.
    pub fn from_row(row: &[Value]) -> Option<Self> {
        let json_of = |v: &Value| match v {
            Value::String(s) => serde_json::from_str(s).ok(),
            other => Some(other.clone()),
        };
        let received_text = row.get(3)?.as_str()?.to_string();
        Some(Self {
            id: row.first()?.as_i64()?,
            dedupe_key: row.get(6)?.as_str()?.to_string(),
            source: row.get(1)?.as_str()?.to_string(),
            kind: row.get(2)?.as_str()?.to_string(),
            received_at: OffsetDateTime::parse(&received_text, &Rfc3339).ok()?,
            received_text,
            channels: json_of(row.get(4)?)
                .and_then(|v: Value| serde_json::from_value(v).ok())
                .unwrap_or_default(),
            payload: json_of(row.get(5)?)?,
            intent: row.get(7).and_then(Value::as_str).map(String::from),
        })
    }

    pub fn context(&self) -> EventContext {
        let channels: Vec<&str> = self.channels.iter().map(String::as_str).collect();
        let data = crate::event::rule_data(&self.source, &self.payload);
        let meta = EventMeta {
            id: Some(self.id),
            source: &self.source,
            kind: &self.kind,
            dedupe_key: &self.dedupe_key,
            received_at: &self.received_text,
            channels: &channels,
        };
        EventContext::new(meta, data)
    }
}

/// Stored event `id`, read through `reader`; `None` if there is none.
pub async fn read(
    reader: Reader<'_>,
    id: i64,
) -> Result<Option<StoredEvent>, crate::store::audit::AuditError> {
    let table = reader
        .query(&format!("SELECT {COLUMNS} FROM events WHERE id = {id}"))
        .await?;
    Ok(table
        .rows
        .first()
        .and_then(|row| StoredEvent::from_row(row)))
}

/// Where stored events are read (a backtest, the playground), always read-only: a connection of the
/// audit reader (the CLI), or the console's pool through the same statement guard.
#[derive(Clone, Copy)]
pub enum Reader<'a> {
    Url(&'a str),
    Store(&'a crate::store::Store),
}

impl Reader<'_> {
    pub async fn query(&self, sql: &str) -> Result<audit::Table, audit::AuditError> {
        match self {
            Reader::Url(url) => audit::query(url, sql).await,
            Reader::Store(store) => audit::query_store(store, sql).await,
        }
    }
}
