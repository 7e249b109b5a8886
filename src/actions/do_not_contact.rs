//! `starling.do_not_contact` — marks a person do-not-contact in the contact
//! ledger (`contact_blocks`) and cancels their queued DMs (`pending`, `failed`,
//! `held`), in one transaction. It calls no vendor and is safe to run twice
//! (a person marked twice is marked once), so after a crash it simply runs again.
//!
//! The person is the `handle` (by default the Scrapely reply's
//! `data.receiver.screen_name`) and/or `user_id`, completed from the event's
//! person; when both are known they are remembered as one person, so a DM that
//! knows only the other one is refused too.

use super::NotSent;
use super::executor::Executor;
use super::params::optional_text;
use crate::contacts::Receiver;
use crate::store::actions::{
    self as sql, ActionRow, AttemptOutcome, Finish, RecordedRequest, now_ms,
};
use crate::store::contacts::{self, BlockTarget};
use serde_json::Value;

impl Executor {
    /// Runs a `starling.do_not_contact` action (its attempt already written, or not).
    pub(super) async fn do_not_contact(
        &self,
        action: &ActionRow,
        attempt: Option<i64>,
        params: &Value,
    ) -> anyhow::Result<()> {
        let recorded = RecordedRequest {
            method: "STARLING".into(),
            url: action.kind.to_string(),
            body: Some(params.to_string()),
        };
        let attempt = match attempt {
            Some(id) => id,
            None => sql::start_attempt(&self.store, action, &self.worker, &recorded).await?,
        };
        let finish = match self.mark(action, params).await? {
            Ok(done) => Finish {
                response_excerpt: Some(done),
                request: Some(recorded),
                ..Finish::new(AttemptOutcome::Succeeded)
            },
            Err(NotSent::Invalid(why)) => Finish {
                error_class: Some("validation".into()),
                error: Some(why),
                request: Some(recorded),
                ..Finish::new(AttemptOutcome::Dead)
            },
            Err(other) => unreachable!("marking a person is local: {other:?}"),
        };
        self.finish(action, Some(attempt), finish).await
    }

    /// Marks the person; `Ok(Ok(what was done))`, or why the parameters name nobody.
    async fn mark(
        &self,
        action: &ActionRow,
        params: &Value,
    ) -> anyhow::Result<Result<String, NotSent>> {
        let reason = match optional_text(params, "reason") {
            Ok(reason) => reason,
            Err(invalid) => return Ok(Err(invalid)),
        };
        let (source, kind, payload) = contacts::event_of(&self.store, action.id)
            .await?
            .unwrap_or_default();
        let payload: Value = serde_json::from_str(&payload).unwrap_or_default();
        let data = crate::event::rule_data(&source, &payload);
        let receiver = Receiver::of_block(params, &kind, &data);
        if !receiver.is_known() {
            return Ok(Err(NotSent::Invalid(
                "no person to mark: `handle` (an X handle) or `user_id` (an X user id) is missing or empty".into(),
            )));
        }
        let target = BlockTarget {
            receiver: &receiver,
            reason,
            rule: Some(&action.rule),
            action_id: Some(action.id),
        };
        let cancelled = contacts::block(&self.store, &target, now_ms()).await?;
        tracing::info!(action = action.id, rule = %action.rule, person = %receiver.describe(),
            cancelled = cancelled.len(), "Person marked do-not-contact");
        Ok(Ok(format!(
            "{} marked do-not-contact ({}); {} queued DM(s) cancelled{}",
            receiver.describe(),
            receiver.keys().join(", "),
            cancelled.len(),
            match cancelled.is_empty() {
                true => String::new(),
                false => format!(
                    ": {}",
                    cancelled
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        )))
    }
}
