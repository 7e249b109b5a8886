//! The shared rate-limit budget around each Scrapely call: a slot is taken
//! before it (waiting at most [`MAX_IN_MEMORY_WAIT`] in memory), and what the
//! vendor's answer says of its window is recorded for every process after.

use super::{Lookup, MAX_IN_MEMORY_WAIT, Scrapely};
use crate::actions::outbound::{self, Answer, Outbound};
use crate::actions::rate_headers::{Note, RateHeaders, WindowNotes};
use crate::store::Store;
use crate::store::ratelimit::{self, Budget};
use std::sync::Arc;
use std::time::Duration;

impl Scrapely {
    /// Waits for a slot in the shared budget (at most a second in memory).
    pub async fn permit(&self, store: &Store) -> Result<(), Lookup> {
        loop {
            let now = crate::store::actions::now_ms();
            match ratelimit::acquire(store, &self.bucket, self.budget, now).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) if wait <= MAX_IN_MEMORY_WAIT => tokio::time::sleep(wait).await,
                Ok(Some(wait)) => return Err(Lookup::Wait(wait)),
                Err(error) => {
                    tracing::warn!(%error, "Cannot read the rate-limit budget; waiting");
                    return Err(Lookup::Wait(MAX_IN_MEMORY_WAIT));
                }
            }
        }
    }

    /// Sends a call under the budget, and records what the vendor says about its window.
    pub async fn call(
        &self,
        store: &Store,
        client: &reqwest::Client,
        req: &Outbound,
        timeout: Duration,
    ) -> Result<Answer, Lookup> {
        self.permit(store).await?;
        self.send_paid(store, client, req, timeout).await
    }

    /// [`Scrapely::call`] for a call whose budget slot was taken already (in the
    /// transaction that stored its event).
    pub(super) async fn send_paid(
        &self,
        store: &Store,
        client: &reqwest::Client,
        req: &Outbound,
        timeout: Duration,
    ) -> Result<Answer, Lookup> {
        let answer = outbound::send(client, req, timeout).await;
        self.note_window(store, &answer).await;
        Ok(answer)
    }

    /// Records what the vendor said about its window, for every process: its
    /// limit (logged once, by the process that saw it change), what remains until
    /// the reset, and — when the window is spent — nobody calls until the reset.
    /// Only answers that change what the pacing reads are written
    /// ([`WindowNotes`]); a spent or nearly spent window before the next call,
    /// the rest in the background, off the action's path (older records never
    /// overwrite newer ones).
    pub async fn note_window(&self, store: &Store, answer: &Answer) {
        let answered = answer.status.is_some();
        let spent = answer.window_spent_until.is_some();
        let how = self
            .noted
            .decide(answer.rate, answered, spent, self.budget.limit);
        if how == Note::Skip {
            return;
        }
        let note = note_answer(
            store.clone(),
            self.bucket.clone(),
            self.budget,
            answer.rate,
            answered,
            answer.window_spent_until,
            self.noted.clone(),
        );
        match how {
            Note::Now => note.await,
            _ => {
                tokio::spawn(note);
            }
        }
    }
}

/// [`Scrapely::note_window`]'s writes.
async fn note_answer(
    store: Store,
    bucket: String,
    budget: Budget,
    rate: RateHeaders,
    answered: bool,
    spent_until: Option<i64>,
    noted: Arc<WindowNotes>,
) {
    if answered {
        let now = crate::store::actions::now_ms();
        match ratelimit::note(&store, &bucket, rate, now).await {
            Ok(Some(limit)) => tracing::info!(
                limit,
                configured = budget.limit,
                window_secs = budget.window.as_secs_f64(),
                "Scrapely's X-RateLimit-Limit changed; the shared budget follows it"
            ),
            Ok(None) => {}
            Err(error) => {
                noted.forget();
                tracing::warn!(%error, "Cannot record Scrapely's rate-limit headers")
            }
        }
    }
    if let Some(until) = spent_until
        && let Err(error) = ratelimit::block_until(&store, &bucket, until).await
    {
        tracing::warn!(%error, "Cannot record Scrapely's rate-limit window");
    }
}
