//! The one polling loop of the test suites. `tests/it` has it as
//! `helpers::poll`; the fault suite (`tests/faults`) includes this file by path.

use std::time::Duration;

/// How often a poll looks again.
pub const POLL_EVERY: Duration = Duration::from_millis(25);

/// Polls `probe` every [`POLL_EVERY`] until it gives a value, or `limit` passes
/// (then `None`, after one last look).
pub async fn poll_for<T, F: AsyncFnMut() -> Option<T>>(limit: Duration, mut probe: F) -> Option<T> {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if let Some(value) = probe().await {
            return Some(value);
        }
        // Sleep stays: the interval of the one polling loop, which ends on the
        // probe's value or the limit.
        tokio::time::sleep(POLL_EVERY).await;
    }
    probe().await
}

/// Polls `check` every [`POLL_EVERY`] until it holds (true) or `limit` passes (false).
pub async fn poll_until<F: AsyncFnMut() -> bool>(limit: Duration, mut check: F) -> bool {
    poll_for(limit, async || check().await.then_some(()))
        .await
        .is_some()
}
