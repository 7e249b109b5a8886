//! How an attempt ends, decided from what happened: an answer (done, dead, or a
//! retry after backoff; what may have reached the receiver is reconciled before
//! anything is sent again) or a call that never happened ([`NotSent`]). Pure
//! decisions over the executor's settings; recording them is the store's. The
//! one INFO line each attempt's end writes ([`log_end`]) is here too.

use super::NotSent;
use super::executor::Executor;
use super::outbound::{Answer, Verdict};
use crate::backoff;
use crate::catalog::AfterUnknown;
use crate::store::actions::{ActionRow, AttemptOutcome, Finish, now_ms};

impl Executor {
    /// What an answer means for the action: done, dead, or a retry after backoff.
    pub(super) fn conclude(&self, action: &ActionRow, answer: &Answer) -> Finish {
        let attempt = (action.attempts + 1) as u32;
        let max = self.max_attempts(action);
        // What may have reached the receiver is never given up unreconciled: the
        // next run looks first (DMs, tweets), and only then counts attempts; an
        // `at_most_once` action is parked for a person instead of sent again.
        let after = answer
            .maybe_sent()
            .then(|| action.kind.after_unknown(&action.params));
        if after == Some(AfterUnknown::Park) {
            let mut finish = Finish::unknown_outcome(
                answer.error_class.map_or("unknown", |c| c.as_str()),
                &format!(
                    "{} and the action says `at_most_once`",
                    answer.error.as_deref().unwrap_or("no answer")
                ),
            );
            finish.status_code = answer.status.map(i32::from);
            finish.response_excerpt = answer.excerpt.clone();
            finish.latency_ms = Some(answer.latency.as_secs_f64() * 1000.0);
            return finish;
        }
        let must_reconcile = after == Some(AfterUnknown::Reconcile);
        use AttemptOutcome as O;
        let (outcome, retry_in, error) = match answer.verdict {
            Verdict::Success => (O::Succeeded, None, None),
            Verdict::Dead => (O::Dead, None, answer.error.clone()),
            Verdict::Retry if attempt >= max && !must_reconcile => (
                O::Dead,
                None,
                answer
                    .error
                    .as_ref()
                    .map(|e| format!("{e} (attempt {attempt} of {max}; no attempts left)")),
            ),
            Verdict::Retry => (
                O::Retry,
                Some(backoff::delay(&self.retry, attempt, answer.vendor_wait)),
                answer.error.clone(),
            ),
        };
        Finish {
            status_code: answer.status.map(i32::from),
            response_excerpt: answer.excerpt.clone(),
            request_id: answer.request_id.clone(),
            latency_ms: Some(answer.latency.as_secs_f64() * 1000.0),
            error_class: answer.error_class.map(|c| c.as_str().to_string()),
            error,
            retry_in,
            ..Finish::new(outcome)
        }
    }

    /// How an attempt that never reached the call ends.
    pub(super) fn not_sent_finish(&self, action: &ActionRow, not_sent: NotSent) -> Finish {
        let (outcome, class, message) = match not_sent {
            NotSent::LookupFailed(answer) => {
                let mut finish = self.conclude(action, &answer);
                finish.error = finish
                    .error
                    .map(|e| format!("lookup before the call failed: {e}"));
                return finish;
            }
            NotSent::Wait(wait) => {
                // Only the fast path gets here (its attempt was already written): retry then.
                let mut finish = Finish {
                    error_class: Some("rate_limited".into()),
                    error: Some("Scrapely's budget was spent by a lookup".into()),
                    retry_in: Some(wait),
                    ..Finish::new(AttemptOutcome::Retry)
                };
                if action.attempts + 1
                    >= action
                        .max_attempts
                        .unwrap_or(self.retry.max_attempts as i32)
                {
                    finish.outcome = AttemptOutcome::Dead;
                    finish.retry_in = None;
                }
                return finish;
            }
            NotSent::Later(wait, why) => {
                // Only the fast path gets here (its attempt was already written).
                return Finish {
                    error_class: Some("waiting".into()),
                    error: Some(why),
                    retry_in: Some(wait),
                    ..Finish::new(AttemptOutcome::Retry)
                };
            }
            NotSent::Invalid(message) => (AttemptOutcome::Dead, "validation", message),
            NotSent::Skip(message) => (AttemptOutcome::Skipped, "not_configured", message),
            NotSent::NoConversation(message) => {
                (AttemptOutcome::Skipped, "no_conversation", message)
            }
            NotSent::Nothing(message) => (AttemptOutcome::Skipped, "nothing_to_do", message),
        };
        // Nobody was contacted: the rule may fire for this key again.
        let release_cooldown = class == "no_conversation";
        // Skips repeat for every event while a key is missing (said once at start); a
        // validation failure is about this one action.
        if outcome == AttemptOutcome::Skipped {
            tracing::debug!(action = action.id, kind = %action.kind, reason = %message, "Action skipped");
        } else {
            tracing::warn!(action = action.id, kind = %action.kind, %outcome, reason = %message, "Action not sent");
        }
        Finish {
            error_class: Some(class.into()),
            error: Some(message),
            release_cooldown,
            ..Finish::new(outcome)
        }
    }
}

impl Executor {
    /// One INFO line per attempt's end, with the action's `event` (the rule that
    /// fired it logged the same): `grep event=ID` follows an event to its actions'
    /// ends. A retry is said as such; any other outcome ends the action.
    pub(super) fn log_end(&self, action: &ActionRow, attempted: bool, finish: &Finish) {
        let latency_ms = finish.latency_ms.map(|ms| ms.round() as i64);
        let since_created_ms = now_ms() - action.created_at;
        let error = finish.error.as_deref().unwrap_or("");
        let outcome = finish.outcome;
        // `attempts` on the row counts the attempts started; a finish without one adds none.
        let attempts = action.attempts + i32::from(attempted);
        if let Some(retry_in) = finish.retry_in {
            tracing::info!(
                event = action.event_id, action = action.id, kind = %action.kind, rule = %action.rule,
                %outcome, attempt = attempts, status = finish.status_code, latency_ms,
                retry_in_ms = retry_in.as_millis() as u64, error, "Action attempt failed; retrying"
            );
        } else {
            tracing::info!(
                event = action.event_id, action = action.id, kind = %action.kind, rule = %action.rule,
                %outcome, attempts, status = finish.status_code, latency_ms,
                since_created_ms, error, "Action ended"
            );
        }
    }
}
