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

fn fallback_task(action_id: i64, delay: Duration) -> apalis_core::task::Task<Vec<u8>> {
    let id: ulid::Ulid = fallback_job_id(action_id)
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
            .bind(fallback_job_id(action_id))
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
            .bind(fallback_job_id(action_id))
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

    pub(crate) fn subscribe(&self) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(1);
        self.subscribers.lock().expect("wake lock").push(tx);
        rx
    }
}

/// The id of the fallback job of a fast-path action (deleted once it is done).
/// apalis decodes job ids as ULIDs, so it is one: a fixed tag ("STARLING" in the
/// top bits, timestamp zero) and the action id.
pub fn fallback_job_id(action_id: i64) -> String {
    const TAG: u128 = 0x5354_4152_4c49_4e47 << 64;
    ulid::Ulid::from(TAG | action_id as u64 as u128).to_string()
}
