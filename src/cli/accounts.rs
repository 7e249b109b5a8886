//! `starling accounts …`: paused Scrapely accounts (their DMs and tweets held),
//! and resuming one. Pausing itself is the `account_paused` webhook
//! (`store::outbox`), holding and releasing is `store::accounts`, and the
//! executor's periodic check is `actions::accounts`.

use super::audit::Format;
use super::jobs::{render, ts};
use crate::store::Store;
use crate::store::actions as sql;
use crate::store::audit;

/// `starling accounts resume HANDLE`.
pub async fn resume(store: &Store, handle: &str) -> anyhow::Result<String> {
    let handle = handle.trim_start_matches('@');
    match sql::resume_account(store, handle).await? {
        Some(n) => Ok(format!("@{handle} resumed; {n} held action(s) released.\n")),
        None => {
            anyhow::bail!("@{handle} is not paused; `starling accounts list` shows paused accounts")
        }
    }
}

/// `starling accounts list`: paused accounts.
pub async fn paused(url: &str, format: Format) -> anyhow::Result<String> {
    Ok(render(&audit::query(url, &paused_sql(url)).await?, format))
}

/// Paused accounts and how many actions each holds: `accounts list` and the
/// console's accounts page.
pub(crate) fn paused_sql(url: &str) -> String {
    format!(
        "SELECT account AS handle, account_id, {at} AS paused_at, reason, \
         (SELECT count(*) FROM actions a WHERE a.status = 'held' AND (lower(a.account) = p.account OR a.account = p.account_id)) AS held \
         FROM paused_accounts p ORDER BY account",
        at = ts(url, "paused_at")
    )
}
