//! Retention in `starling serve`: every `retention.interval_secs`, one pass of
//! [`store::retention`](crate::store::retention) with the cutoffs the settings
//! give (`retention.events_days`, `retention.attempts_days`; off by default).
//! The pass deletes in batches of `retention.batch_size`, each its own short
//! transaction, so ingestion keeps its latency while it runs; a pass that fails
//! is logged and tried again at the next tick.

use crate::clock::Clock;
use crate::config::RetentionSettings;
use crate::store::Store;
use crate::store::retention::{self, Cutoffs, Mode, Pruned};
use time::{Duration, OffsetDateTime};
use tokio_util::sync::CancellationToken;

/// The cutoffs of `settings` at `now`.
pub fn cutoffs(settings: &RetentionSettings, now: OffsetDateTime) -> Cutoffs {
    let before = |days: Option<u32>| days.map(|d| now - Duration::days(i64::from(d)));
    Cutoffs {
        events_before: before(settings.events_days),
        attempts_before: before(settings.attempts_days),
    }
}

/// One pass now, as `starling serve` runs it (and `starling prune`).
pub async fn prune_once(
    store: &Store,
    settings: &RetentionSettings,
    now: OffsetDateTime,
    mode: Mode,
    on_batch: &mut (dyn FnMut(&Pruned) + Send + Sync),
) -> Result<Pruned, sqlx::Error> {
    let cutoffs = cutoffs(settings, now);
    retention::pass(store, &cutoffs, settings.batch_size, mode, on_batch).await
}

/// The background pruner: a pass at start and every interval until `stop`.
/// Nothing runs when retention is off.
pub async fn run(store: Store, settings: RetentionSettings, clock: Clock, stop: CancellationToken) {
    if !settings.is_on() {
        return;
    }
    let mut quiet = |_: &Pruned| {};
    loop {
        let pass = prune_once(&store, &settings, clock.now(), Mode::Delete, &mut quiet);
        let result = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            result = pass => result,
        };
        match result {
            Ok(pruned) if pruned.total() == 0 => tracing::debug!("Retention: nothing to prune"),
            Ok(pruned) => tracing::info!(
                events = pruned.events,
                actions = pruned.actions,
                attempts = pruned.action_attempts,
                quarantine = pruned.quarantine,
                rows = pruned.total(),
                "Pruned rows past their retention"
            ),
            Err(error) => {
                tracing::warn!(%error, "Retention pass failed; trying again at the next interval")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(settings.interval()) => {}
        }
    }
}
