//! Whether the database can take commits, as the writer last found it.
//!
//! When a commit cannot reach the database (no connection within
//! [`BEGIN_DEADLINE`], a connection refused or reset), the writer marks it
//! unavailable and from then on answers every waiting and new item at once with
//! [`super::StoreError::Unavailable`] — a webhook gets 503 with `Retry-After` in
//! milliseconds instead of waiting out the pool's timeout, and nothing is
//! acknowledged that was not committed. A probe asks the database every
//! [`PROBE_EVERY`]; the first answer makes it available again, without a restart.

use super::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long the writer waits for a PostgreSQL connection before calling the
/// database unavailable (SQLite's lock waits are ordinary and never count).
pub const BEGIN_DEADLINE: Duration = Duration::from_millis(1500);

/// How often an unavailable database is asked again.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

#[derive(Default)]
struct State {
    down: AtomicBool,
    /// Since when, and the error that said so.
    why: Mutex<Option<(Instant, String)>>,
}

/// Shared by the writer, its probe and `/readyz`. Cheap to clone.
#[derive(Clone, Default)]
pub struct Availability(Arc<State>);

impl Availability {
    pub fn is_down(&self) -> bool {
        self.0.down.load(Ordering::Acquire)
    }

    /// How long it has been down and why, when it is.
    pub fn down_since(&self) -> Option<(Duration, String)> {
        let why = self.0.why.lock().expect("availability");
        why.as_ref()
            .map(|(at, error)| (at.elapsed(), error.clone()))
    }

    pub(crate) fn mark_down(&self, error: &str) {
        let mut why = self.0.why.lock().expect("availability");
        if why.is_none() {
            tracing::error!(%error, "The database cannot take commits: webhooks are answered 503 until it is back");
            metrics::counter!("starling_database_outages_total").increment(1);
            *why = Some((Instant::now(), error.to_string()));
        }
        self.0.down.store(true, Ordering::Release);
    }

    fn mark_up(&self) {
        let mut why = self.0.why.lock().expect("availability");
        if let Some((since, _)) = why.take() {
            tracing::info!(
                down_ms = since.elapsed().as_millis() as u64,
                "The database is back"
            );
        }
        self.0.down.store(false, Ordering::Release);
    }

    /// Asks the database every [`PROBE_EVERY`] while it is marked down; ends
    /// when the last holder of this availability (the writer) is gone.
    pub(crate) fn spawn_probe(&self, store: Store) {
        let weak: Weak<State> = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let Some(state) = weak.upgrade() else { return };
                let availability = Availability(state);
                if availability.is_down()
                    && let Ok(Ok(())) = tokio::time::timeout(BEGIN_DEADLINE, store.ping()).await
                {
                    availability.mark_up();
                }
            }
        });
    }
}

/// Whether `error` says the database cannot be reached, as opposed to a
/// statement it refused (which only fails its own items).
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        // SQLSTATE class 08 (connection exception), 57P01–03 (shutdown, crash).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}
