//! Runs one action when its job arrives: claim it, check holds and the rate
//! budget, settle an earlier attempt whose outcome is unknown, write the attempt,
//! call, and record the answer — scheduling a retry as a new job, never sleeping
//! more than a second in memory. The call itself, with its budget slot and its
//! recorded answer, is `call.rs`.

use super::outbound;
use super::scrapely::{MAX_IN_MEMORY_WAIT, Scrapely};
use super::{Context, NotSent};
use crate::catalog::{ActionKind, AfterUnknown};
use crate::config::{RetrySettings, Settings};
use crate::secret::Secret;
use crate::store::Store;
use crate::store::actions::{
    self as sql, ActionRow, AttemptOutcome, Claim, Finish, GiveBack, RecordedRequest, now_ms,
};
use crate::store::ratelimit::Budget;
use serde_json::Value;
use std::time::Duration;

pub struct Executor {
    pub(super) store: Store,
    pub(super) client: reqwest::Client,
    pub(super) scrapely: Option<Scrapely>,
    slack_url: Option<Secret>,
    /// What credential markers in parameters resolve to when a request is sent.
    vault: crate::secret::marker::Vault,
    pub(super) retry: RetrySettings,
    pub(super) timeout: Duration,
    pub(super) dry_run: bool,
    /// Written on every attempt: which process ran it.
    pub(super) worker: String,
    /// `outreach.contact_window` in ms (`None`: off).
    pub(super) contact_window: Option<i64>,
    /// When set, finishes are group-committed by this writer (SQLite's event
    /// writer, PostgreSQL's writer of finishes).
    pub(super) writer: std::sync::OnceLock<crate::store::writer::WeakWriter>,
}

impl Executor {
    pub fn new(
        settings: &Settings,
        store: Store,
        worker: String,
        vault: crate::secret::marker::Vault,
    ) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs_f64(settings.actions.timeout_secs);
        let client = outbound::client(timeout)?;
        // An empty key (e.g. an empty environment variable) counts as unset.
        let key = settings
            .scrapely
            .api_key
            .clone()
            .filter(|k| !k.expose().is_empty());
        let scrapely = key.map(|key| {
            let budget = Budget {
                limit: settings.scrapely.rate_limit,
                window: Duration::from_secs_f64(settings.scrapely.rate_window_secs),
            };
            Scrapely::new(&settings.scrapely.base_url, key, budget)
                .with_protected_tags(settings.scrapely.protected_tags.clone())
        });
        if scrapely.is_none() {
            tracing::info!("No scrapely.api_key: Scrapely actions will be recorded as skipped");
        }
        Ok(Self {
            store,
            client,
            scrapely,
            slack_url: settings.slack.webhook_url.clone(),
            vault,
            retry: settings.actions.retry.clone(),
            timeout,
            dry_run: settings.actions.dry_run,
            worker,
            contact_window: settings.outreach.contact_window.millis(),
            writer: std::sync::OnceLock::new(),
        })
    }

    pub fn context(&self) -> Context<'_> {
        Context {
            store: &self.store,
            client: &self.client,
            scrapely: self.scrapely.as_ref(),
            slack_url: self.slack_url.as_ref(),
            vault: &self.vault,
            timeout: self.timeout,
            read_paid: false,
        }
    }

    /// How long a run owns its action: past this a crashed run is taken over.
    /// Longer than any call can take (the call's timeout, twice, plus slack).
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }

    /// Handles one job for `id`. Any outcome is recorded on the action; an `Err`
    /// means the database could not be reached.
    pub async fn run(&self, id: i64) -> anyhow::Result<()> {
        loop {
            let now = now_ms();
            match sql::claim(&self.store, id, now, self.lease()).await? {
                Claim::Claimed(action) => return self.execute(action).await,
                Claim::NotYet(at) => {
                    // Jobs are due in whole seconds: finish a short wait here.
                    let wait = sql::delay_until(at, now);
                    if wait <= MAX_IN_MEMORY_WAIT {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Ok(sql::push_job(&self.store, id, wait).await?);
                }
                Claim::Busy(until) => {
                    let wait = sql::delay_until(until, now) + Duration::from_millis(100);
                    return Ok(sql::push_job(&self.store, id, wait).await?);
                }
                Claim::Nothing(status) => {
                    let status = status.map_or("gone", |s| s.as_str());
                    tracing::debug!(action = id, status, "Nothing to do for this job");
                    return Ok(());
                }
            }
        }
    }

    /// Sends finishes through the group-commit writer from now on.
    pub fn use_writer(&self, writer: &crate::store::writer::Writer) {
        let _ = self.writer.set(writer.downgrade());
    }

    /// Records how an attempt ended (durably, before returning): through the
    /// writer while it runs, directly otherwise (e.g. during shutdown).
    pub(super) async fn finish(
        &self,
        action: &ActionRow,
        attempt: Option<i64>,
        finish: Finish,
    ) -> anyhow::Result<()> {
        super::call_slot::release();
        self.log_end(action, attempt.is_some(), &finish);
        let (kind, outcome) = (action.kind, finish.outcome);
        if let Some(writer) = self.writer.get().and_then(|w| w.upgrade()) {
            let finished = sql::Finished {
                action_id: action.id,
                attempt_id: attempt,
                finish: finish.clone(),
            };
            match writer.finish(finished).await {
                Ok(()) => {
                    count_finish(kind, attempt, outcome);
                    return Ok(());
                }
                Err(crate::store::StoreError::WriterClosed) => {}
                Err(error) => return Err(error.into()),
            }
        }
        sql::finish(&self.store, action, attempt, &finish).await?;
        count_finish(kind, attempt, outcome);
        Ok(())
    }

    /// Scrapely's shared budget (bucket, limit), when a key is configured.
    pub fn budget(&self) -> Option<(String, Budget)> {
        self.scrapely.as_ref().map(|s| (s.bucket.clone(), s.budget))
    }

    pub(super) async fn execute(&self, action: ActionRow) -> anyhow::Result<()> {
        let params = action.params.clone();
        if action.kind.held_when_paused()
            && let Some(account) = &action.account
            && sql::is_paused(&self.store, account).await?
        {
            return self.hold(&action, account).await;
        }
        if self.dry_run {
            return self.record_dry_run(&action, &params).await;
        }
        let last = sql::last_attempt(&self.store, &action).await?;
        if let Some(last) = &last
            && last.may_have_reached_vendor()
        {
            let kind = action.kind;
            match kind.after_unknown(&params) {
                AfterUnknown::Reconcile => {
                    return self.reconcile(kind, action, &params, last).await;
                }
                AfterUnknown::Park => {
                    let finish = Finish::unknown_outcome(
                        "at_most_once",
                        "an earlier attempt may have reached the receiver and the action says `at_most_once`",
                    );
                    let open = last.outcome.is_none().then_some(last.id);
                    return self.finish(&action, open, finish).await;
                }
                AfterUnknown::Resend => {}
            }
        }
        if let Some(last) = last.filter(|l| l.outcome.is_none()) {
            // Idempotent kinds simply run again; the stale attempt is closed first.
            sql::close_stale_attempt(&self.store, last.id, "the worker stopped during the call")
                .await?;
        }
        match action.kind {
            ActionKind::DoNotContact => {
                return self.do_not_contact(&action, None, &params).await;
            }
            // Before any lookup: a person contacted or marked do-not-contact is not looked up.
            ActionKind::SendDm => {
                if let Some(refusal) = self.contact_precheck(&action).await? {
                    return self.refused(&action, refusal).await;
                }
            }
            _ => {}
        }
        let ctx = self.context();
        let request = match super::prepare(&ctx, action.id, action.kind, &params).await {
            Ok(request) => request,
            Err(not_sent) => return self.not_sent(&action, not_sent).await,
        };
        self.call(&action, &request).await
    }

    pub(super) fn max_attempts(&self, action: &ActionRow) -> u32 {
        action
            .max_attempts
            .map_or(self.retry.max_attempts, |m| m as u32)
    }

    /// Records an action that was not sent: invalid (dead), skipped, waiting for
    /// budget (rescheduled, no attempt spent), or a failed lookup (like a call).
    pub(super) async fn not_sent(
        &self,
        action: &ActionRow,
        not_sent: NotSent,
    ) -> anyhow::Result<()> {
        if let NotSent::Wait(wait) = not_sent {
            tracing::debug!(
                action = action.id,
                wait_ms = wait.as_millis() as u64,
                "Rate-limit budget spent; rescheduled"
            );
            return Ok(sql::give_back(&self.store, action, GiveBack::Wait(wait)).await?);
        }
        if let NotSent::Later(wait, why) = &not_sent {
            tracing::info!(action = action.id, kind = %action.kind, reason = %why, "Not yet; looking again later");
            return Ok(sql::give_back(&self.store, action, GiveBack::Wait(*wait)).await?);
        }
        let attempt = sql::start_attempt(
            &self.store,
            action,
            &self.worker,
            &RecordedRequest::default(),
        )
        .await?;
        let finish = self.not_sent_finish(action, not_sent);
        self.finish(action, Some(attempt), finish).await
    }

    async fn record_dry_run(&self, action: &ActionRow, params: &Value) -> anyhow::Result<()> {
        let recorded = dry_run_request(action, params);
        let attempt = sql::start_attempt(&self.store, action, &self.worker, &recorded).await?;
        let finish = Finish::new(AttemptOutcome::DryRun);
        self.finish(action, Some(attempt), finish).await
    }
}

/// Counts a finish once it is written: every attempt by how it ended (a call, a
/// skip, a refusal, a dry run, a reconciliation alike), and every skip.
fn count_finish(kind: ActionKind, attempt: Option<i64>, outcome: AttemptOutcome) {
    if attempt.is_some() {
        metrics::counter!("starling_action_attempts_total", "kind" => kind.as_str(), "outcome" => outcome.as_str()).increment(1);
    }
    if outcome == AttemptOutcome::Skipped {
        metrics::counter!("starling_actions_skipped_total", "kind" => kind.as_str()).increment(1);
    }
}

/// action (or has finished it), and this one sends nothing.
pub(super) fn lost_claim(action: &ActionRow) {
    tracing::warn!(
        action = action.id,
        kind = %action.kind,
        "This run reached its call after its lease ran out and another run took the action over; not calling"
    );
}

/// What a dry run records: the action and its rendered parameters.
pub(super) fn dry_run_request(action: &ActionRow, params: &Value) -> RecordedRequest {
    RecordedRequest {
        method: "DRY-RUN".into(),
        url: action.kind.to_string(),
        body: Some(params.to_string()),
    }
}
