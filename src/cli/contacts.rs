//! `starling contacts …`: the contact ledger as a person sees it — who was DM'd
//! when and by which rule, who is marked do-not-contact, and the commands that
//! mark and unmark a person (`block` also cancels their queued DMs).
//!
//! A person is given as a handle (`prospect`, `@prospect`) or an X user id
//! (`id:987654321`); everything Starling knows to be the same person is shown
//! or changed with it. Listing goes through the read-only audit connection;
//! changes go through the store.

use super::audit::Format;
use super::jobs::{quote, render, ts};
use crate::contacts::Receiver;
use crate::store::Store;
use crate::store::actions::now_ms;
use crate::store::audit;
use crate::store::contacts::{self, BlockTarget};

fn person(arg: &str) -> anyhow::Result<Receiver> {
    Receiver::parse(arg).map_err(|e| anyhow::anyhow!(e))
}

/// `starling contacts block HANDLE [--reason TEXT]`.
pub async fn block(store: &Store, arg: &str, reason: Option<&str>) -> anyhow::Result<String> {
    let receiver = person(arg)?;
    let target = BlockTarget {
        receiver: &receiver,
        reason: reason.filter(|r| !r.trim().is_empty()),
        rule: None,
        action_id: None,
    };
    let cancelled = contacts::block(store, &target, now_ms()).await?;
    let ids = match cancelled.is_empty() {
        true => String::new(),
        false => format!(
            " ({})",
            cancelled
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Ok(format!(
        "{} marked do-not-contact: never DM'd again; {} queued DM(s) cancelled{ids}.\n",
        receiver.describe(),
        cancelled.len()
    ))
}

/// `starling contacts unblock HANDLE`.
pub async fn unblock(store: &Store, arg: &str) -> anyhow::Result<String> {
    let receiver = person(arg)?;
    match contacts::unblock(store, &receiver).await? {
        0 => anyhow::bail!(
            "{} is not blocked; `starling contacts list --blocked` shows who is",
            receiver.describe()
        ),
        n => Ok(format!(
            "{} unblocked ({n} mark(s) lifted); rules may DM them again (once per contact window).\n",
            receiver.describe()
        )),
    }
}

/// `starling contacts list [--blocked]`: people marked do-not-contact, and
/// (without `--blocked`) people whose contact window is running.
pub async fn list(
    url: &str,
    blocked_only: bool,
    window_ms: Option<i64>,
    format: Format,
) -> anyhow::Result<String> {
    let blocks = format!(
        "SELECT b.receiver AS person, 'blocked' AS state, {at} AS at, \
         COALESCE(b.rule, 'starling contacts block') AS by_rule, b.action_id, NULL AS dm_status, b.reason \
         FROM contact_blocks b",
        at = ts(url, "b.blocked_at")
    );
    let query = match blocked_only {
        true => format!("{blocks} ORDER BY 3 DESC"),
        false => format!(
            "{blocks} UNION ALL \
             SELECT c.receiver, 'contacted', {at}, c.rule, c.action_id, a.status, NULL \
             FROM contact_claims c LEFT JOIN actions a ON a.id = c.action_id WHERE c.claimed_at > {since} \
             ORDER BY 3 DESC",
            at = ts(url, "c.claimed_at"),
            since = window_ms.map_or(0, |w| now_ms() - w)
        ),
    };
    Ok(render(&audit::query(url, &query).await?, format))
}

/// `starling contacts show HANDLE`: every DM the ledger holds for the person
/// (when, rule, action, and whether it counted) and their do-not-contact marks.
pub async fn show(url: &str, arg: &str, format: Format) -> anyhow::Result<String> {
    let receiver = person(arg)?;
    let given = receiver
        .keys()
        .iter()
        .map(|k| format!("({})", quote(k)))
        .collect::<Vec<_>>()
        .join(", ");
    let query = format!(
        "WITH given(k) AS (VALUES {given}), \
         person(k) AS (SELECT k FROM given \
           UNION SELECT a.user_key FROM contact_aliases a JOIN given g ON a.handle_key = g.k \
           UNION SELECT a.handle_key FROM contact_aliases a JOIN given g ON a.user_key = g.k) \
         SELECT 'blocked' AS entry, b.receiver AS person, {blocked_at} AS at, \
           COALESCE(b.rule, 'starling contacts block') AS rule, b.action_id, NULL AS dm_status, b.reason AS note \
         FROM contact_blocks b WHERE b.receiver IN (SELECT k FROM person) \
         UNION ALL \
         SELECT CASE WHEN l.released_at IS NULL THEN 'dm' ELSE 'dm (not sent, released)' END, \
           l.receiver, {claimed_at}, l.rule, l.action_id, a.status, a.last_error \
         FROM contact_ledger l LEFT JOIN actions a ON a.id = l.action_id WHERE l.receiver IN (SELECT k FROM person) \
         ORDER BY 3 DESC",
        blocked_at = ts(url, "b.blocked_at"),
        claimed_at = ts(url, "l.claimed_at"),
    );
    let table = audit::query(url, &query).await?;
    if table.rows.is_empty() {
        anyhow::bail!(
            "no contact {}: Starling has neither DM'd nor blocked them; `starling contacts list` shows known contacts",
            receiver.describe()
        );
    }
    let blocked = table
        .rows
        .iter()
        .any(|r| r.first().and_then(|v| v.as_str()) == Some("blocked"));
    let state = match blocked {
        true => "blocked: do-not-contact, never DM'd again",
        false => "not blocked",
    };
    if format == Format::Json {
        let document = serde_json::json!({
            "contact": receiver.describe(),
            "blocked": blocked,
            "ledger": crate::cli::audit::json_rows(&table),
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&document)?));
    }
    Ok(format!(
        "{} ({state})\n{}",
        receiver.describe(),
        render(&table, format)
    ))
}
