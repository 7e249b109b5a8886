//! The overview charts' roller in `starling serve`: at start and every
//! [`EVERY`], [`crate::store::hourly::roll`] counts the hours that ended (after
//! their grace) and were not rolled yet, by this replica or another. A pass that
//! fails is logged and tried again at the next tick; until then the console
//! counts those hours live, so the charts are right either way, only slower.

use crate::clock::Clock;
use crate::store::Store;
use crate::store::hourly;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the roller looks for ended hours: a pass with nothing to roll is
/// one small read, and an hour is rolled within this long of its grace ending.
pub const EVERY: Duration = Duration::from_secs(60);

pub async fn run(store: Store, clock: Clock, stop: CancellationToken) {
    loop {
        let pass = hourly::roll(&store, clock.now());
        let result = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            result = pass => result,
        };
        match result {
            Ok(0) => {}
            Ok(hours) => tracing::debug!(hours, "Rolled up ended hours for the console's charts"),
            Err(error) => tracing::warn!(%error, "Could not roll up the console's hourly counts"),
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
