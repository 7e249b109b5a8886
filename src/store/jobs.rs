//! Job pushing, owned by the store: an apalis job `{action_id}` is the durable
//! wake-up call for one action, pushed inside the transaction that creates or
//! reschedules the action (so a job exists exactly when its action row needs
//! one), and [`Wake`] tells this process's workers right after the commit.
//! `crate::queue` runs the workers that take the jobs.

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

/// Pushing jobs on an open connection (inside the caller's transaction).
pub(crate) trait PushJobs {
    async fn push_jobs(&mut self, jobs: &[(i64, Duration)]) -> Result<(), sqlx::Error>;
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

    pub(crate) fn subscribe(&self) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(1);
        self.subscribers.lock().expect("wake lock").push(tx);
        rx
    }
}
