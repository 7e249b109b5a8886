//! Reconciliation: before a DM or a scheduled tweet is sent again after an
//! attempt that may have reached Scrapely, ask Scrapely whether it happened.
//!
//! | kind | found | not found after a crash | not found after a timeout, reset or 5xx |
//! |---|---|---|---|
//! | `scrapely.send_dm` | `succeeded` (`reconciled`), the message claimed | `outcome_unknown`, for a person | sent again (or `dead`, proven unsent, when out of attempts) |
//! | `scrapely.schedule_tweet` | `succeeded` (`reconciled`), the tweet claimed | sent again: the listing proves it is not scheduled | the same |
//!
//! A lookup that fails is retried later; when attempts run out the action is
//! parked as `outcome_unknown`, never `dead` (a dead action may be re-run by a
//! person, who must know it may have happened).

use super::NotSent;
use super::executor::Executor;
use crate::backoff;
use crate::catalog::ActionKind;
use crate::store::actions::{
    self as sql, ActionRow, AttemptOutcome, Finish, GiveBack, OpenAttempt, RecordedRequest,
};
use serde_json::Value;

/// What proved that an earlier attempt happened.
struct Proof {
    /// For the attempt's `response_excerpt`.
    description: String,
    /// The lookup, as recorded when the check is an attempt of its own.
    lookup: RecordedRequest,
}

impl Executor {
    /// Looks for the effect of an earlier attempt of `action` that may have
    /// reached Scrapely, and settles or resends the action accordingly.
    pub(super) async fn reconcile(
        &self,
        kind: ActionKind,
        action: ActionRow,
        params: &Value,
        last: &OpenAttempt,
    ) -> anyhow::Result<()> {
        let crashed = last.outcome.is_none();
        match self.look(kind, &action, params, last).await {
            Ok(Some(proof)) => {
                tracing::info!(action = action.id, kind = %kind, proof = %proof.description,
                    "Found what an earlier attempt did: not sending again");
                let finish = Finish {
                    response_excerpt: Some(proof.description),
                    error: crashed.then(|| {
                        "the worker stopped during the call; Scrapely shows it was done".into()
                    }),
                    ..Finish::new(AttemptOutcome::Reconciled)
                };
                // The crashed attempt gets its outcome; otherwise the check is an attempt of its own.
                let attempt = match crashed {
                    true => last.id,
                    false => {
                        sql::start_attempt(&self.store, &action, &self.worker, &proof.lookup)
                            .await?
                    }
                };
                self.finish(&action, Some(attempt), finish).await
            }
            Ok(None) if crashed && kind == ActionKind::SendDm => {
                tracing::warn!(
                    action = action.id,
                    "A DM attempt's outcome is unknown; parked for a person"
                );
                let finish = Finish::unknown_outcome(
                    "worker_stopped",
                    "the worker stopped during the call and the message is not in the conversation",
                );
                self.finish(&action, Some(last.id), finish).await
            }
            Ok(None) if !crashed && action.attempts as u32 >= self.max_attempts(&action) => {
                let finish = Finish {
                    error_class: last.error_class.clone(),
                    error: Some(format!(
                        "not done: Scrapely does not show it after {} attempts",
                        action.attempts
                    )),
                    ..Finish::new(AttemptOutcome::Dead)
                };
                self.finish(&action, None, finish).await
            }
            Ok(None) => {
                if crashed {
                    sql::close_stale_attempt(
                        &self.store,
                        last.id,
                        "the worker stopped during the call; Scrapely does not show it",
                    )
                    .await?;
                }
                let request =
                    match super::prepare(&self.context(), action.id, action.kind, params).await {
                        Ok(request) => request,
                        Err(not_sent) => return self.not_sent(&action, not_sent).await,
                    };
                self.call(&action, &request).await
            }
            Err(NotSent::Wait(wait) | NotSent::Later(wait, _)) => {
                Ok(sql::give_back(&self.store, &action, GiveBack::Wait(wait)).await?)
            }
            Err(NotSent::LookupFailed(answer))
                if !crashed && (action.attempts as u32) < self.max_attempts(&action) =>
            {
                // Look again later; the unreconciled attempt stays the last one.
                let wait = backoff::delay(&self.retry, action.attempts as u32, answer.vendor_wait);
                tracing::info!(
                    action = action.id,
                    error = answer.error.as_deref().unwrap_or(""),
                    "Cannot check with Scrapely yet; trying again later"
                );
                Ok(sql::give_back(&self.store, &action, GiveBack::Wait(wait)).await?)
            }
            Err(not_sent) => {
                let why = match &not_sent {
                    NotSent::LookupFailed(answer) => answer.error.clone().unwrap_or_default(),
                    NotSent::Invalid(m)
                    | NotSent::Skip(m)
                    | NotSent::NoConversation(m)
                    | NotSent::Nothing(m) => m.clone(),
                    NotSent::Wait(_) | NotSent::Later(..) => String::new(),
                };
                let finish = Finish::unknown_outcome(
                    "reconcile_failed",
                    &format!(
                        "an earlier attempt may have reached Scrapely and it could not be checked ({why})"
                    ),
                );
                self.finish(&action, crashed.then_some(last.id), finish)
                    .await
            }
        }
    }

    async fn look(
        &self,
        kind: ActionKind,
        action: &ActionRow,
        params: &Value,
        last: &OpenAttempt,
    ) -> Result<Option<Proof>, NotSent> {
        let ctx = self.context();
        Ok(match kind {
            ActionKind::SendDm => {
                super::send_dm::reconcile(&ctx, action.id, params, last.started_at)
                    .await?
                    .map(|d| Proof {
                        description: format!(
                            "proved by message {} in conversation {}",
                            d.message_key, d.conversation_id
                        ),
                        lookup: lookup(format!(
                            "/conversations?conversation_id={}",
                            d.conversation_id
                        )),
                    })
            }
            ActionKind::ScheduleTweet => super::schedule_tweet::reconcile(&ctx, action.id, params)
                .await?
                .map(|t| Proof {
                    description: format!(
                        "proved by scheduled tweet {} at {}",
                        t.tweet_id, t.scheduled_at
                    ),
                    lookup: lookup(format!("/scheduled-tweets?account_id={}", t.account_id)),
                }),
            _ => None,
        })
    }
}

fn lookup(path: String) -> RecordedRequest {
    RecordedRequest {
        method: "GET".into(),
        url: path,
        body: None,
    }
}
