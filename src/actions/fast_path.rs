//! The fast path: an action due at once is claimed (and its first attempt and
//! budget slot taken) in the transaction that stores its event; right after
//! that commit this process runs it, with nothing but the call between the
//! commit and the vendor. It has no job: if this process dies first, its lease
//! expires and the sweep queues it (`crate::queue`'s diagram).

use super::Context;
use super::executor::{Executor, dry_run_request, lost_claim};
use crate::catalog::ActionKind;
use crate::store::actions::{self as sql, AttemptOutcome, FastClaim, Finish, now_ms};
use std::time::Duration;

/// How long after its commit a fast-path claim is used without renewing its
/// lease (which is two call timeouts and 5 s long).
const FRESH_CLAIM: Duration = Duration::from_secs(1);

impl Executor {
    /// Runs an action this process claimed in the transaction that stored its
    /// event (the fast path), its first attempt possibly already written.
    pub async fn run_claimed(&self, claimed: FastClaim) -> anyhow::Result<()> {
        let FastClaim {
            action,
            attempt,
            slot,
            read_paid,
        } = claimed;
        let Some(attempt) = attempt else {
            return self.execute(action).await;
        };
        // Its lease began at the commit: past it (a long queue here), the sweep
        // may have queued it for another worker. Fresh from the commit (the
        // usual case) the lease still covers its calls, and no write stands
        // between the commit and the vendor.
        let fresh = action.lease_until.is_some_and(|until| {
            until - now_ms() >= (self.lease().saturating_sub(FRESH_CLAIM)).as_millis() as i64
        });
        if !fresh && !sql::renew(&self.store, &action, self.lease()).await? {
            lost_claim(&action);
            return Ok(());
        }
        let params = action.params.clone();
        let budget_slot =
            slot.and_then(|at| self.scrapely.as_ref().map(|s| (s.bucket.clone(), at)));
        if self.dry_run {
            let finish = Finish {
                request: Some(dry_run_request(&action, &params)),
                budget_slot,
                ..Finish::new(AttemptOutcome::DryRun)
            };
            return self.finish(&action, Some(attempt), finish).await;
        }
        if action.kind == ActionKind::DoNotContact {
            return self.do_not_contact(&action, Some(attempt), &params).await;
        }
        let ctx = Context {
            read_paid,
            ..self.context()
        };
        match super::prepare(&ctx, action.id, action.kind, &params).await {
            Ok(request) => {
                self.complete_call(&action, attempt, budget_slot, &request)
                    .await
            }
            Err(not_sent) => {
                let mut finish = self.not_sent_finish(&action, not_sent);
                finish.budget_slot = budget_slot;
                self.finish(&action, Some(attempt), finish).await
            }
        }
    }
}

/// How many runs may be recording their outcome per call slot.
const RECORDING_PER_CALL: usize = 4;

/// The fast path: runs the actions the writer claimed in its commits, at once and
/// in this process, at most `concurrency` calls at a time (an action whose
/// outcome is being recorded no longer counts). Ends when the writer is gone,
/// letting running actions finish within `grace` (the rest are queued by the
/// sweep when their lease expires).
pub async fn run_fast_path(
    executor: std::sync::Arc<Executor>,
    mut claimed: tokio::sync::mpsc::UnboundedReceiver<FastClaim>,
    concurrency: usize,
    grace: Duration,
) {
    use std::sync::Arc;
    use tokio::sync::Semaphore;
    let calls = Arc::new(Semaphore::new(concurrency.max(1)));
    // Runs whose outcome is being recorded are bounded too, so a database
    // slower than the calls makes the fast path wait instead of piling up runs.
    let runs = Arc::new(Semaphore::new(concurrency.max(1) * RECORDING_PER_CALL));
    let mut running = tokio::task::JoinSet::new();
    while let Some(action) = claimed.recv().await {
        let run_permit = runs.clone().acquire_owned().await.expect("semaphore open");
        let permit = calls.clone().acquire_owned().await.expect("semaphore open");
        let executor = executor.clone();
        let run = async move {
            let id = action.action.id;
            if let Err(error) = executor.run_claimed(action).await {
                tracing::error!(action = id, error = %format!("{error:#}"), "Action run failed; the sweep queues it again when its lease expires");
            }
            drop(run_permit);
        };
        running.spawn(super::call_slot::holding(permit, run));
        while running.try_join_next().is_some() {}
    }
    let finish = async { while running.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, finish).await.is_err() {
        tracing::warn!(
            "Some actions did not finish within the grace period; their jobs will take them over"
        );
    }
}
