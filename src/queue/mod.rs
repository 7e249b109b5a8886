//! The durable job queue: apalis 1.0 on the events' own database.
//!
//! Starling's `actions` table is the truth about what must happen; an apalis job
//! `{action_id}` is only the durable wake-up call that makes some worker look at
//! one action at some time. Jobs are pushed inside our own transactions by
//! `store::jobs` (the outbox, retries, releases), so a job exists
//! exactly when its action row does. The executor claims the action row before
//! it does anything, so a job delivered twice (apalis is at-least-once) does
//! nothing the second time.
//!
//! One mechanism carries every action:
//!
//! ```text
//!  created in the event's transaction
//!   ├─ due now, with a budget slot ─► claimed there (running, leased) ─► this process runs it after the commit
//!   └─ due later, no slot, held ────► apalis job at run_at ─────────────► a worker claims it and runs it
//!  a retry or a backoff ─────────────► apalis job after the delay ───────► a worker claims it and runs it
//!  the sweep, every second, in every process (crash recovery, one rule):
//!     lease expired unfinished, or run_at long passed unclaimed ─► apalis job now ─► claimed again
//! ```
//!
//! No job is ever deleted: a job whose action is done, or claimed by someone
//! else, finds nothing to claim.
//!
//! Traps avoided (see `../shared/APALIS.md`): never `setup()` (it turns SQLite's
//! `synchronous` off); `max_attempts(1)` on every job, because retries are new
//! jobs scheduled by us, never apalis's immediate re-fetches; workers woken by
//! [`Wake`] right after our commits, polling only as a safety net; unique worker
//! names with the restart count; `should_restart` after backend errors.

use crate::actions::executor::Executor;
use crate::store::Store;
pub use crate::store::jobs::{ActionJob, QUEUE, Wake};
use apalis::layers::WorkerBuilderExt;
use apalis::prelude::*;
use apalis_core::backend::ext::poll_strategy::Strategy;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the worker pool.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub name_prefix: String,
    pub workers: usize,
    pub concurrency: usize,
    pub poll_interval: Duration,
    pub heartbeat: Duration,
    pub shutdown_grace: Duration,
}

async fn run_action(
    job: ActionJob,
    executor: Data<Arc<Executor>>,
) -> Result<(), apalis_core::error::BoxDynError> {
    // Failures are recorded on the action and rescheduled by the executor; an
    // error here would only make apalis re-fetch at once.
    if let Err(error) = executor.run(job.action_id).await {
        tracing::error!(action = job.action_id, error = %format!("{error:#}"), "Action run failed; the stalled-action sweep will queue it again");
    }
    Ok(())
}

/// Runs the workers until `shutdown` resolves, then lets running actions finish
/// within the grace period.
pub async fn run_workers(
    store: Store,
    executor: Arc<Executor>,
    wake: Wake,
    options: WorkerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut monitor = Monitor::new()
        .should_restart(|_worker, error| {
            // The storage's error may carry its SQL: the first line says enough.
            tracing::warn!(error = %short(&error.to_string()), "Action worker stopped; restarting it");
            tracing::debug!(%error, "Action worker stopped (full error)");
            true
        })
        .shutdown_timeout(options.shutdown_grace);
    for n in 0..options.workers {
        let (store, executor, wake, options) = (
            store.clone(),
            executor.clone(),
            wake.clone(),
            options.clone(),
        );
        monitor = match store {
            Store::Sqlite(pool) => monitor.register(move |run| {
                let config = apalis_sqlite::Config::default()
                    .queue(QUEUE)
                    .batch_size(options.concurrency)
                    .heartbeat_interval(options.heartbeat)
                    .missed_heartbeats(3);
                let backend = apalis_sqlite::SqliteStorage::<ActionJob>::new(&pool)
                    .with_config(config)
                    .poll_with_strategy(
                        Strategy::new()
                            .stream(wake.subscribe())
                            .interval(options.poll_interval),
                    );
                WorkerBuilder::new(format!("{}-w{n}-r{run}", options.name_prefix))
                    .backend(backend)
                    .data(executor.clone())
                    .concurrency(options.concurrency)
                    .parallelize(tokio::spawn)
                    .build(run_action)
            }),
            Store::Postgres(pool) => monitor.register(move |run| {
                let config = apalis_postgres::Config::default()
                    .queue(QUEUE)
                    .batch_size(options.concurrency)
                    .heartbeat_interval(options.heartbeat)
                    .missed_heartbeats(3);
                // Other processes' commits arrive by LISTEN/NOTIFY (immediate jobs only).
                let pubsub = apalis_postgres::Pubsub::new(pool.clone(), QUEUE.to_string());
                let backend = apalis_postgres::PostgresStorage::<ActionJob>::new(&pool)
                    .with_config(config)
                    .poll_with_strategy(
                        Strategy::new()
                            .stream(wake.subscribe())
                            .stream(pubsub)
                            .interval(options.poll_interval),
                    );
                WorkerBuilder::new(format!("{}-w{n}-r{run}", options.name_prefix))
                    .backend(backend)
                    .data(executor.clone())
                    .concurrency(options.concurrency)
                    .parallelize(tokio::spawn)
                    .build(run_action)
            }),
        };
    }
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await?;
    Ok(())
}

/// The first line of `text`, at most 200 characters.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}
