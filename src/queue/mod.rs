//! The durable job queue: apalis 1.0 on the events' own database.
//!
//! Starling's `actions` table is the truth about what must happen; an apalis job
//! `{action_id}` is only the durable wake-up call that makes some worker look at
//! one action at some time. Jobs are pushed inside our own transactions (the
//! outbox in `store::writer`, retries in `actions::executor`), so a job exists
//! exactly when its action row does. The executor claims the action row before
//! it does anything, so a job delivered twice (apalis is at-least-once) does
//! nothing the second time.
//!
//! Traps avoided (see `../shared/APALIS.md`): never `setup()` (it turns SQLite's
//! `synchronous` off); `max_attempts(1)` on every job, because retries are new
//! jobs scheduled by us, never apalis's immediate re-fetches; workers woken by
//! [`Wake`] right after our commits, polling only as a safety net; unique worker
//! names with the restart count; `should_restart` after backend errors.

use crate::actions::executor::Executor;
use crate::store::Store;
use apalis::layers::WorkerBuilderExt;
use apalis::prelude::*;
use apalis_core::backend::ext::poll_strategy::Strategy;
use futures::channel::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The apalis queue (job type) that carries actions.
pub const QUEUE: &str = "starling.actions";

/// What a job carries: the action to look at.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ActionJob {
    pub action_id: i64,
}

fn builder(action_id: i64, delay: Duration) -> apalis_core::task::builder::TaskBuilder<Vec<u8>> {
    let args = serde_json::to_vec(&ActionJob { action_id }).expect("a job serializes");
    apalis_core::task::builder::TaskBuilder::new(args)
        .run_after(delay)
        .max_attempts(1)
}

fn task_bytes(action_id: i64, delay: Duration) -> apalis_core::task::Task<Vec<u8>> {
    builder(action_id, delay).build()
}

fn fallback_task(action_id: i64, delay: Duration) -> apalis_core::task::Task<Vec<u8>> {
    let id: ulid::Ulid = crate::store::actions::fallback_job_id(action_id)
        .parse()
        .expect("a fallback job id is a ULID");
    builder(action_id, delay)
        .task_id(apalis_core::task::task_id::TaskId::from_ulid(id))
        .build()
}

/// Pushing jobs on an open connection (inside the caller's transaction).
pub(crate) trait PushJobs {
    async fn push_jobs(&mut self, jobs: &[(i64, Duration)]) -> Result<(), sqlx::Error>;
    /// The fallback job of a fast-path action, with a known id so that it can be
    /// dropped once the action is done.
    async fn push_fallback(&mut self, action_id: i64, delay: Duration) -> Result<(), sqlx::Error>;
    /// Drops the fallback job of a finished fast-path action, if it is still waiting.
    async fn drop_fallback(&mut self, action_id: i64) -> Result<(), sqlx::Error>;
}

impl PushJobs for sqlx::SqliteConnection {
    async fn push_jobs(&mut self, jobs: &[(i64, Duration)]) -> Result<(), sqlx::Error> {
        if jobs.is_empty() {
            return Ok(());
        }
        let tasks: Vec<_> = jobs.iter().map(|(id, d)| task_bytes(*id, *d)).collect();
        apalis_sqlite::queries::push_tasks(self, QUEUE, &tasks)
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("cannot push a job: {e}")))
    }

    async fn push_fallback(&mut self, action_id: i64, delay: Duration) -> Result<(), sqlx::Error> {
        apalis_sqlite::queries::push_tasks(self, QUEUE, &[fallback_task(action_id, delay)])
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("cannot push a job: {e}")))
    }

    async fn drop_fallback(&mut self, action_id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM Jobs WHERE id = $1 AND status = 'Pending'")
            .bind(crate::store::actions::fallback_job_id(action_id))
            .execute(self)
            .await?;
        Ok(())
    }
}

impl PushJobs for sqlx::PgConnection {
    async fn push_jobs(&mut self, jobs: &[(i64, Duration)]) -> Result<(), sqlx::Error> {
        if jobs.is_empty() {
            return Ok(());
        }
        let tasks: Vec<_> = jobs.iter().map(|(id, d)| task_bytes(*id, *d)).collect();
        apalis_postgres::queries::push_tasks(self, QUEUE, tasks)
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("cannot push a job: {e}")))
    }

    async fn push_fallback(&mut self, action_id: i64, delay: Duration) -> Result<(), sqlx::Error> {
        apalis_postgres::queries::push_tasks(self, QUEUE, vec![fallback_task(action_id, delay)])
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("cannot push a job: {e}")))
    }

    async fn drop_fallback(&mut self, action_id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM apalis.jobs WHERE id = $1 AND status = 'Pending'")
            .bind(crate::store::actions::fallback_job_id(action_id))
            .execute(self)
            .await?;
        Ok(())
    }
}

/// Wakes this process's workers right after a commit that created jobs, so an
/// action starts in milliseconds instead of at the next poll.
#[derive(Clone, Default)]
pub struct Wake {
    subscribers: Arc<Mutex<Vec<mpsc::Sender<()>>>>,
}

impl Wake {
    pub fn notify(&self) {
        let mut subscribers = self.subscribers.lock().expect("wake lock");
        // A full channel already holds a wake-up; a closed one belongs to a stopped worker.
        subscribers.retain_mut(|s| match s.try_send(()) {
            Ok(()) => true,
            Err(e) => e.is_full(),
        });
    }

    fn subscribe(&self) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(1);
        self.subscribers.lock().expect("wake lock").push(tx);
        rx
    }
}

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
            tracing::warn!(%error, "Action worker stopped; restarting it");
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
