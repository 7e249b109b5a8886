//! `Application::run_until_stopped`: the background tasks of `starling serve`
//! started beside the HTTP server, and the order they stop in so that nothing
//! acknowledged is lost (streams before the writer, the writer before the fast
//! path, the store last).

use super::Application;
use anyhow::Context;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

impl Application {
    /// Serves until `shutdown` completes, then stops accepting, lets in-flight
    /// requests finish (up to `server.shutdown_grace_secs`), commits what the writer
    /// holds and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let watcher = self.rules.spawn_watcher(
            stop.clone(),
            announce_reload_failures(self.streams.as_ref().map(|s| s.writer.downgrade())),
        );
        let queue = tokio::spawn(crate::queue::run_workers(
            self.store.clone(),
            self.executor.clone(),
            self.wake.clone(),
            self.workers.clone(),
            stop.clone().cancelled_owned(),
        ));
        let fast_path = tokio::spawn(crate::actions::fast_path::run_fast_path(
            self.executor.clone(),
            self.claimed,
            self.workers.workers * self.workers.concurrency,
            self.grace,
        ));
        let accounts = tokio::spawn(crate::actions::accounts::watch_paused(
            self.executor.clone(),
            self.account_check,
            self.wake.clone(),
            stop.clone(),
        ));
        let tweets = tokio::spawn(crate::actions::tweet_follow::run(
            self.executor.clone(),
            self.tweet_check,
            stop.clone(),
        ));
        // Every second (an expired lease is taken over within a second of its
        // end); an overdue action counts as stalled after 10 heartbeats.
        let sweep = tokio::spawn(crate::actions::sweep::run(
            self.store.clone(),
            Duration::from_secs(1).min(self.workers.heartbeat),
            self.workers.heartbeat * 10,
            self.wake.clone(),
            stop.clone(),
        ));
        let (retention, clock) = self.retention;
        let pruner = tokio::spawn(crate::retention::run(
            self.store.clone(),
            retention,
            clock,
            stop.clone(),
        ));
        let rollup = self.rollup.then(|| {
            tokio::spawn(crate::console::rollup::run(
                self.store.clone(),
                clock,
                stop.clone(),
            ))
        });
        let streams = self.streams.map(|s| {
            tokio::spawn(crate::sources::run(
                s.settings,
                s.streams,
                self.store.clone(),
                s.writer,
                s.owner,
                stop.clone(),
            ))
        });
        // Replies stored before Starling classified them (a one-time catch-up).
        let backfill = tokio::spawn({
            let store = self.store.clone();
            async move {
                match crate::store::event_intent::backfill(&store).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(replies = n, "Classified the intent of stored replies"),
                    Err(error) => tracing::warn!(%error, "Could not classify stored replies"),
                }
            }
        });
        let mut server = tokio::spawn(crate::http::serve::serve(
            self.listener,
            self.router,
            self.limits,
            stop.clone(),
        ));
        let ended_by_itself = tokio::select! {
            () = shutdown => None,
            finished = &mut server => Some(finished),
        };
        match ended_by_itself {
            Some(finished) => finished.context("the HTTP server panicked")?,
            None => {
                stop.cancel();
                match tokio::time::timeout(self.grace, &mut server).await {
                    Ok(finished) => finished.context("the HTTP server panicked")?,
                    Err(_) => {
                        tracing::warn!(
                            grace_secs = self.grace.as_secs(),
                            "In-flight requests did not finish in time; closing them"
                        );
                        server.abort();
                    }
                }
            }
        }
        stop.cancel();
        // Streams commit what they read before the writer may end.
        if let Some(streams) = streams {
            let _ = streams.await;
        }
        let _ = watcher.await;
        let _ = accounts.await;
        let _ = tweets.await;
        let _ = sweep.await;
        let _ = pruner.await;
        if let Some(rollup) = rollup {
            let _ = rollup.await;
        }
        backfill.abort();
        // Running actions finish within the grace period; the rest stay queued.
        match queue.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(error = %format!("{error:#}"), "Action workers stopped with an error")
            }
            Err(error) => tracing::error!(%error, "Action workers panicked"),
        }
        // The router held the last writer handles; the writer now drains and ends.
        self.writer_task
            .await
            .context("the event writer panicked")?;
        // With the writer gone, the fast path finishes what it runs (within the grace).
        let _ = fast_path.await;
        if let Some((finisher, task)) = self.finisher {
            drop(finisher);
            task.await.context("the finish writer panicked")?;
        }
        self.store.close().await;
        tracing::info!("Starling stopped");
        Ok(())
    }
}

/// A failed rules reload becomes a `starling.rule_error` event (one per distinct
/// report), committed like any event so rules can alert on it.
fn announce_reload_failures(
    writer: Option<crate::store::writer::WeakWriter>,
) -> impl Fn(String) + Send + 'static {
    move |report| {
        let Some(writer) = writer.as_ref().and_then(|w| w.upgrade()) else {
            return;
        };
        tokio::spawn(async move {
            let event = crate::event::internal::reload_failed(&report);
            if let Err(error) = writer.commit_event(event).await {
                tracing::warn!(%error, "Could not store the rules reload failure as an event");
            }
        });
    }
}
