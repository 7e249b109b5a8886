//! Crash recovery: every second, an action whose lease expired unfinished, or
//! that is overdue and untouched for a while, gets a job (the rule is
//! `store::action_rows::requeue_stalled`). A process that dies mid-call, or
//! before it ran what its commit claimed for the fast path, leaves exactly that;
//! so does a run that could not reach the database to record its outcome.

use crate::queue::Wake;
use crate::store::Store;
use crate::store::actions::{now_ms, requeue_stalled};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Sweeps every `every`; an action counts as stalled after `stalled_after`.
pub async fn run(
    store: Store,
    every: Duration,
    stalled_after: Duration,
    wake: Wake,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let now = now_ms();
        match requeue_stalled(&store, now, now - stalled_after.as_millis() as i64).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(
                    actions = n,
                    "Re-queued actions left unfinished (an expired lease or a lost job)"
                );
                wake.notify();
            }
            Err(error) => tracing::warn!(%error, "Cannot sweep for stalled actions"),
        }
    }
}
