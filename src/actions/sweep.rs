//! The safety net under the queue: an action's job is spent even when its run
//! could not record anything (the database was unreachable), which would leave
//! the action waiting forever. Every few heartbeats, actions that are overdue and
//! untouched for a while get a new job.

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
                tracing::warn!(actions = n, "Re-queued actions whose job was lost");
                wake.notify();
            }
            Err(error) => tracing::warn!(%error, "Cannot sweep for stalled actions"),
        }
    }
}
