//! Every stream message goes through the group-commit writer, like a webhook: it
//! is committed (and the rules decide on it) before anything acts on it. A
//! message that cannot be read is kept in `quarantine` and the connection goes on.
//! Commits run concurrently (so the writer can group them) up to [`IN_FLIGHT`]
//! per stream; reading waits beyond that.

use super::Rejection;
use super::status::StreamStatus;
use crate::event::NewEvent;
use crate::store::StoreError;
use crate::store::quarantine::QuarantinedPayload;
use crate::store::writer::Writer;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

/// Messages being committed at once per stream.
pub const IN_FLIGHT: usize = 1024;

/// Hands a stream's messages to the writer.
#[derive(Clone)]
pub struct Ingest {
    writer: Writer,
    source: &'static str,
    channel: &'static str,
    status: Arc<StreamStatus>,
    permits: Arc<Semaphore>,
}

impl Ingest {
    pub fn new(
        writer: Writer,
        source: &'static str,
        channel: &'static str,
        status: Arc<StreamStatus>,
    ) -> Self {
        Self {
            writer,
            source,
            channel,
            status,
            permits: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }

    pub fn status(&self) -> &StreamStatus {
        &self.status
    }

    /// Takes one read message (`Ok(None)`: nothing to store, e.g. an acknowledgement).
    /// Returns once the commit is under way; waits only when too many are.
    pub async fn accept(
        &self,
        read: Result<Option<NewEvent>, Rejection>,
        raw: &str,
        received_at: OffsetDateTime,
    ) {
        self.status.message();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        let writer = self.writer.clone();
        let stream = self.status.name.clone();
        match read {
            Ok(None) => {}
            Ok(Some(event)) => {
                tokio::spawn(async move {
                    commit_with_retries(&writer, event, &stream).await;
                    drop(permit);
                });
            }
            Err(rejection) => {
                let (Rejection::NotJson(reason) | Rejection::Malformed(reason)) = rejection;
                let payload = QuarantinedPayload {
                    source: self.source,
                    channel: self.channel,
                    received_at,
                    reason: reason.clone(),
                    content_type: Some("application/json".into()),
                    body: raw.as_bytes().to_vec(),
                };
                tokio::spawn(async move {
                    match writer.quarantine(payload).await {
                        Ok(id) => {
                            tracing::warn!(%stream, quarantine_id = id, %reason, "Quarantined a malformed stream message; the connection stays up")
                        }
                        Err(error) => {
                            tracing::error!(%stream, %error, "Could not quarantine a stream message")
                        }
                    }
                    drop(permit);
                });
            }
        }
    }

    /// Waits until every accepted message is committed.
    pub async fn drain(&self) {
        let _all = self.permits.acquire_many(IN_FLIGHT as u32).await;
    }
}

/// Waits between attempts to commit a stream message while the database is
/// unreachable: no vendor will send the message again (its webhook backup might).
const RETRY_WAITS: [Duration; 4] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(15),
];

async fn commit_with_retries(writer: &Writer, event: NewEvent, stream: &str) {
    for wait in RETRY_WAITS {
        match writer.commit_event(event.clone()).await {
            Ok(_) => return,
            Err(StoreError::WriterClosed) => break,
            Err(error) => {
                tracing::warn!(stream, %error, retry_in_ms = wait.as_millis() as u64, "Could not store a stream message; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
    if let Err(error) = writer.commit_event(event.clone()).await {
        tracing::error!(stream, %error, key = %event.dedupe_key, "Could not store a stream message; it is lost to this channel");
    }
}
