//! The per-stream lease: one process in a fleet holds a stream. [`Holder`] waits
//! for the lease, runs the stream while it holds it, and gives it up on shutdown.

use super::status::{self, State, StreamStatus};
use super::{StreamContext, supervise};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Holds one stream's lease: waits for it, runs the stream while it is held.
pub(super) struct Holder {
    pub store: Store,
    pub owner: String,
    pub lease: Duration,
    pub status: Arc<StreamStatus>,
}

impl Holder {
    pub(super) async fn hold(self, mut ctx: StreamContext, stop: CancellationToken) {
        let name = self.status.name.clone();
        let kind = self.status.kind.as_str();
        while !stop.is_cancelled() {
            match crate::store::streams::acquire(
                &self.store,
                &name,
                kind,
                &self.owner,
                self.lease.as_millis() as i64,
            )
            .await
            {
                Ok(true) => {
                    tracing::info!(stream = %name, kind, "Holding the stream");
                    let lost = self.status.hold();
                    let either = CancellationToken::new();
                    let (s, l, e) = (stop.clone(), lost.clone(), either.clone());
                    let relay = tokio::spawn(async move {
                        tokio::select! { _ = s.cancelled() => {}, _ = l.cancelled() => {} }
                        e.cancel();
                    });
                    ctx.stop = either;
                    ctx = supervise(ctx).await;
                    relay.abort();
                    if stop.is_cancelled() {
                        self.status.set_state(State::Stopped);
                        status::flush(&self.store, &self.owner, self.lease, &self.status).await;
                        if let Err(error) =
                            crate::store::streams::release(&self.store, &name, &self.owner).await
                        {
                            tracing::warn!(stream = %name, %error, "Could not release the stream's lease");
                        }
                        return;
                    }
                }
                Ok(false) => self.status.set_state(State::Standby),
                Err(error) => {
                    tracing::warn!(stream = %name, %error, "Could not take the stream's lease")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.lease / 3) => {}
                _ = stop.cancelled() => {}
            }
        }
        self.status.set_state(State::Stopped);
    }
}
