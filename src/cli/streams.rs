//! `starling streams`: each stream's state as its holder last wrote it
//! (`streams` table, refreshed every second while the stream is held).

use super::audit::Format;
use super::jobs::{render, ts};
use crate::store::audit;

pub async fn list(url: &str, format: Format) -> anyhow::Result<String> {
    let query = streams_sql(url);
    let table = audit::query(url, &query).await?;
    if table.rows.is_empty() && format == Format::Table {
        return Ok("No stream has run on this database yet: configure `[[streams]]` and run `starling serve`.\n".into());
    }
    Ok(render(&table, format))
}

/// Each stream's state row: `starling streams` and the console's overview.
pub(crate) fn streams_sql(url: &str) -> String {
    format!(
        "SELECT name, kind, state, {since} AS connected_since, {last} AS last_message_at, messages, \
         reconnects, last_error, {error_at} AS last_error_at, owner, {updated} AS updated_at \
         FROM streams ORDER BY name",
        since = ts(url, "connected_since"),
        last = ts(url, "last_message_at"),
        error_at = ts(url, "last_error_at"),
        updated = ts(url, "updated_at"),
    )
}
