//! Paused Scrapely accounts: an `account_paused` event holds the account's DMs and
//! tweets (see `store::writer`); they are released by `starling accounts resume
//! HANDLE`, or here, when `GET /accounts` shows the account active again.

use super::executor::Executor;
use crate::store::actions::{self as sql, ActionRow, GiveBack};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

impl Executor {
    /// Holds a claimed action whose account is paused, then announces it
    /// (`starling.action_held`) through the writer, right after the hold: a
    /// crash in between loses the event, never the hold. Without a writer
    /// (shutdown) nothing is announced.
    pub(super) async fn hold(&self, action: &ActionRow, account: &str) -> anyhow::Result<()> {
        let note = format!("held: account @{account} is paused");
        tracing::info!(event = action.event_id, action = action.id, kind = %action.kind, "Action held: its account is paused");
        sql::give_back(&self.store, action, GiveBack::Hold(&note)).await?;
        if let Some(writer) = self.writer.get().and_then(|w| w.upgrade()) {
            match writer.announce(vec![action.id]).await {
                Ok(()) | Err(crate::store::StoreError::WriterClosed) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
}

/// Checks paused accounts every `every` until `stop`; wakes workers for released actions.
pub async fn watch_paused(
    executor: std::sync::Arc<Executor>,
    every: Duration,
    wake: crate::queue::Wake,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match release_active(&executor).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    released = n,
                    "Paused accounts are active again; their actions were released"
                );
                wake.notify();
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "Cannot check paused accounts")
            }
        }
    }
}

/// Resumes every paused account that Scrapely lists as active and not paused.
async fn release_active(executor: &Executor) -> anyhow::Result<usize> {
    let ctx = executor.context();
    let paused = sql::paused_accounts(ctx.store).await?;
    let Some(scrapely) = ctx.scrapely.filter(|_| !paused.is_empty()) else {
        return Ok(0);
    };
    let accounts = match scrapely.accounts(ctx.store, ctx.client, ctx.timeout).await {
        Ok(accounts) => accounts,
        Err(_) => return Ok(0),
    };
    let mut released = 0;
    for (handle, _) in paused {
        if let Some(account) = accounts.get(&handle)
            && account.is_active
            && !account.is_paused
        {
            released += sql::resume_account(ctx.store, &handle).await?.unwrap_or(0);
        }
    }
    Ok(released)
}
