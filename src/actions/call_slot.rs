//! A fast-path run's slot of `actions.concurrency`, held by the run's task and
//! given back by [`release`] as soon as the attempt's outcome is known (the
//! executor's `finish`), so the wait for that outcome to be durable (a group
//! commit) is not an action in flight and does not hold the next one back.

use tokio::sync::OwnedSemaphorePermit;

tokio::task_local! {
    static CALL_SLOT: std::cell::Cell<Option<OwnedSemaphorePermit>>;
}

/// Runs `run` holding `slot` until it ends or calls [`release`].
pub(super) fn holding<F: Future>(
    slot: OwnedSemaphorePermit,
    run: F,
) -> impl Future<Output = F::Output> {
    CALL_SLOT.scope(std::cell::Cell::new(Some(slot)), run)
}

/// Gives back the running fast-path action's slot (a no-op on other paths).
pub(super) fn release() {
    let _ = CALL_SLOT.try_with(|slot| slot.take());
}
