//! The executor's side of the contact ledger: who a DM is for, the read-only
//! check before any lookup, the claim that goes with the DM's attempt (see
//! [`crate::store::contacts`]), and recording a DM the ledger refuses as
//! `skipped` — its rule's cooldown given back, since nobody was contacted.

use super::executor::Executor;
use crate::contacts::Receiver;
use crate::store::actions::{
    self as sql, ActionRow, AttemptOutcome, Finish, RecordedRequest, now_ms,
};
use crate::store::contacts::{self, Claim, Refusal};

impl Executor {
    /// The receiver of DM `action`, from its parameters and its event.
    pub(super) async fn dm_receiver(&self, action: &ActionRow) -> anyhow::Result<Receiver> {
        let (source, kind, payload) = contacts::event_of(&self.store, action.id)
            .await?
            .unwrap_or_default();
        Ok(contacts::dm_receiver(
            &action.params,
            &source,
            &kind,
            &payload,
        ))
    }

    /// The claim DM `action` takes on `receiver`'s window with its attempt.
    pub(super) fn claim<'a>(&self, action: &'a ActionRow, receiver: &'a Receiver) -> Claim<'a> {
        Claim {
            action_id: action.id,
            rule: &action.rule,
            receiver,
            window_ms: self.contact_window,
        }
    }

    /// Whether DM `action` would be refused now (before its conversation lookup).
    pub(super) async fn contact_precheck(
        &self,
        action: &ActionRow,
    ) -> anyhow::Result<Option<Refusal>> {
        let receiver = self.dm_receiver(action).await?;
        Ok(contacts::precheck(
            &self.store,
            &receiver,
            action.id,
            self.contact_window,
            now_ms(),
        )
        .await?)
    }

    /// Records a DM the ledger refuses: `skipped`, saying who contacted the
    /// person when (or who marked them do-not-contact), its cooldown released.
    pub(super) async fn refused(&self, action: &ActionRow, refusal: Refusal) -> anyhow::Result<()> {
        let reason = refusal.reason(now_ms());
        tracing::info!(action = action.id, rule = %action.rule, class = refusal.error_class(), %reason, "DM skipped by the contact ledger");
        metrics::counter!("starling_dm_refused_total", "reason" => refusal.error_class())
            .increment(1);
        let attempt = sql::start_attempt(
            &self.store,
            action,
            &self.worker,
            &RecordedRequest::default(),
        )
        .await?;
        let finish = Finish {
            error_class: Some(refusal.error_class().into()),
            error: Some(reason),
            release_cooldown: true,
            ..Finish::new(AttemptOutcome::Skipped)
        };
        self.finish(action, Some(attempt), finish).await
    }
}
