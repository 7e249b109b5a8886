//! One call of an action: the vendor's budget slot and the attempt written in one
//! commit, the request sent, and its answer recorded (the delivery of a DM, the
//! id of a scheduled tweet, the call's metrics) before the executor finishes it.

use super::executor::{Executor, lost_claim};
use super::outbound::{self, Outbound, Verdict};
use super::scrapely::MAX_IN_MEMORY_WAIT;
use super::{NotSent, send_dm};
use crate::catalog::ActionKind;
use crate::store::actions::{self as sql, ActionRow, NotStarted, RecordedRequest, now_ms};
use crate::store::ratelimit::{self, SEND_LATE};

impl Executor {
    /// Takes a slot of the vendor's budget and writes the attempt (one commit),
    /// calls, and records the answer.
    pub(super) async fn call(&self, action: &ActionRow, request: &Outbound) -> anyhow::Result<()> {
        let recorded = recorded(request);
        let receiver = match action.kind {
            ActionKind::SendDm => Some(self.dm_receiver(action).await?),
            _ => None,
        };
        let contact = receiver
            .as_ref()
            .map(|receiver| self.claim(action, receiver));
        let budget = self
            .scrapely
            .as_ref()
            .filter(|_| action.kind.calls_scrapely())
            .map(|s| (s.bucket.as_str(), s.budget));
        let (attempt, slot_taken) = loop {
            let now = now_ms();
            let started = sql::start_call(
                &self.store,
                action,
                &self.worker,
                &recorded,
                budget,
                contact.as_ref(),
                Some(self.lease()),
                now,
            )
            .await?;
            match started {
                Ok(attempt) => break (attempt, now),
                Err(NotStarted::Wait(wait)) if wait <= MAX_IN_MEMORY_WAIT => {
                    tokio::time::sleep(wait).await
                }
                Err(NotStarted::Wait(wait)) => {
                    return self.not_sent(action, NotSent::Wait(wait)).await;
                }
                Err(NotStarted::Refused(refusal)) => return self.refused(action, refusal).await,
                Err(NotStarted::Lost) => {
                    lost_claim(action);
                    return Ok(());
                }
            }
        };
        let slot = budget.map(|(bucket, _)| (bucket.to_string(), slot_taken));
        self.complete_call(action, attempt, slot, request).await
    }

    /// Calls (the attempt is written) and records the answer.
    pub(super) async fn complete_call(
        &self,
        action: &ActionRow,
        attempt: i64,
        budget_slot: Option<(String, i64)>,
        request: &Outbound,
    ) -> anyhow::Result<()> {
        let budget_slot = match budget_slot {
            Some((bucket, at)) if now_ms() - at > SEND_LATE.as_millis() as i64 => {
                let sent = now_ms();
                ratelimit::restamp(&self.store, &bucket, at, sent).await?;
                Some((bucket, sent))
            }
            slot => slot,
        };
        let mut answer = outbound::send(&self.client, request, self.timeout).await;
        // A receiver that echoes a header or the URL must not put a credential in the audit log.
        answer.excerpt = answer.excerpt.map(|e| request.scrub(&e));
        answer.error = answer.error.map(|e| request.scrub(&e));
        if action.kind.calls_scrapely()
            && let Some(scrapely) = &self.scrapely
        {
            scrapely.note_window(&self.store, &answer).await;
        }
        let mut finish = self.conclude(action, &answer);
        finish.budget_slot = budget_slot;
        finish.request = Some(recorded(request));
        match action.kind {
            ActionKind::SendDm if answer.verdict == Verdict::Success => {
                finish.delivery = send_dm::delivery_of(action.id, request, &answer, now_ms());
            }
            ActionKind::ScheduleTweet if answer.verdict == Verdict::Success => {
                finish.tweet = super::schedule_tweet::scheduled_by(&answer);
            }
            ActionKind::CancelScheduledTweet if answer.verdict == Verdict::Success => {
                super::schedule_tweet::record_cancelled(&self.store, request).await;
            }
            _ => {}
        }
        metrics::histogram!("starling_action_call_seconds", "kind" => action.kind.as_str())
            .record(answer.latency.as_secs_f64());
        if let Some(class) = answer.error_class {
            metrics::counter!("starling_action_call_errors_total", "kind" => action.kind.as_str(), "error_class" => class.as_str()).increment(1);
        }
        tracing::debug!(
            event = action.event_id,
            action = action.id,
            kind = %action.kind,
            attempt = action.attempts + 1,
            status = answer.status,
            outcome = %finish.outcome,
            latency_ms = answer.latency.as_secs_f64() * 1000.0,
            error = finish.error.as_deref().unwrap_or(""),
            "Action attempt finished"
        );
        self.finish(action, Some(attempt), finish).await
    }
}

pub(super) fn recorded(request: &Outbound) -> RecordedRequest {
    RecordedRequest {
        method: request.method.to_string(),
        url: request.recorded_url.clone(),
        body: request.recorded_body(),
    }
}
