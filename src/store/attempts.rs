//! Attempts: written before each outbound call, completed after it, with the
//! action's next state in the same transaction (a retry's job too).

use super::Store;
use super::action_rows::{ActionRow, in_tx, now_ms, on_pool};
use super::contacts::{Claim, ContactConn, Refusal};
use super::status::AttemptOutcome;
use crate::store::jobs::PushJobs;
use std::time::Duration;

/// An attempt whose outcome nobody recorded: its worker died during the call.
#[derive(Debug, Clone)]
pub struct OpenAttempt {
    pub id: i64,
    pub started_at: i64,
    pub error_class: Option<String>,
    pub outcome: Option<AttemptOutcome>,
}

impl OpenAttempt {
    /// Whether this attempt may have reached the vendor without us seeing it
    /// succeed: nobody recorded its outcome (a crash mid-call), or it ended in a
    /// way that does not prove nothing was sent (timeout, reset, any 5xx).
    pub fn may_have_reached_vendor(&self) -> bool {
        use AttemptOutcome as O;
        match self.outcome {
            None => true,
            Some(O::Retry | O::Dead | O::OutcomeUnknown) => self
                .error_class
                .as_deref()
                .is_some_and(super::status::ErrorClass::recorded_may_have_reached_vendor),
            Some(_) => false,
        }
    }
}

/// The latest attempt of the action's current series, if any.
pub async fn last_attempt(
    store: &Store,
    action: &ActionRow,
) -> Result<Option<OpenAttempt>, sqlx::Error> {
    let sql = "SELECT id, started_at, error_class, outcome FROM action_attempts \
               WHERE action_id = $1 AND series = $2 ORDER BY id DESC LIMIT 1";
    type Row = (i64, i64, Option<String>, Option<String>);
    let row = on_pool!(store, pool => sqlx::query_as::<_, Row>(sql)
        .bind(action.id).bind(action.series).fetch_optional(pool).await)?;
    row.map(|(id, started_at, error_class, outcome)| {
        let outcome = outcome
            .map(AttemptOutcome::try_from)
            .transpose()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(OpenAttempt {
            id,
            started_at,
            error_class,
            outcome,
        })
    })
    .transpose()
}

/// The request about to be sent, as recorded (secrets already redacted).
#[derive(Debug, Clone, Default)]
pub struct RecordedRequest {
    pub method: String,
    pub url: String,
    pub body: Option<String>,
}

/// Writes an attempt before its call; returns its id. Counts it on the action.
pub async fn start_attempt(
    store: &Store,
    action: &ActionRow,
    worker: &str,
    request: &RecordedRequest,
) -> Result<i64, sqlx::Error> {
    match start_call(store, action, worker, request, None, None, None, now_ms()).await? {
        Ok(id) => Ok(id),
        Err(_) => unreachable!("no budget, no contact claim, no lease, nothing to wait for"),
    }
}

/// Why [`start_call`] wrote no attempt.
#[derive(Debug)]
pub enum NotStarted {
    /// The budget is spent: try again after this long.
    Wait(Duration),
    /// A DM the contact ledger refuses (nothing claimed, nothing written).
    Refused(Refusal),
    /// The run no longer holds the action (its lease ran out and another run
    /// took it over, or it was finished meanwhile): nothing written, no call.
    Lost,
}

/// Claims a DM's contact window (if `contact`), takes a slot of `budget` (if
/// any) and writes the attempt, in one commit: `Ok(attempt id)`, or why not
/// (nothing written). With `lease`, only while the run still holds its claim
/// (else [`NotStarted::Lost`]), and the lease is renewed from now: a run that
/// waited past its lease before calling never calls beside the run that took
/// the action over, and one that calls keeps it for the whole call.
#[allow(clippy::too_many_arguments)]
pub async fn start_call(
    store: &Store,
    action: &ActionRow,
    worker: &str,
    request: &RecordedRequest,
    budget: Option<(&str, super::ratelimit::Budget)>,
    contact: Option<&Claim<'_>>,
    lease: Option<Duration>,
    now: i64,
) -> Result<Result<i64, NotStarted>, sqlx::Error> {
    use super::ratelimit::RateConn;
    let sql = "INSERT INTO action_attempts (action_id, series, attempt, worker, started_at, method, url, request_body) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
    let bump = "UPDATE actions SET attempts = attempts + 1, updated_at = $2, \
                lease_until = COALESCE($3, lease_until) WHERE id = $1";
    let renewed = lease.map(|l| now + l.as_millis() as i64);
    Ok(in_tx!(store, tx => {
        let holds = match lease {
            None => true,
            Some(_) => sqlx::query(super::lifecycle::HOLDS.as_str())
                .bind(action.id).bind(action.lease_until).bind(action.lease_until)
                .execute(&mut *tx).await?.rows_affected() == 1,
        };
        // The ledger first: a refused DM takes no budget.
        let refused = match contact {
            Some(claim) if holds => tx.claim_on(claim, now).await?.err(),
            _ => None,
        };
        let wait = match (&refused, budget) {
            (None, Some((bucket, budget))) if holds => tx.acquire_on(bucket, budget, now).await?,
            _ => None,
        };
        if !holds {
            Err(NotStarted::Lost)
        } else if let Some(refusal) = refused {
            Err(NotStarted::Refused(refusal))
        } else if let Some(wait) = wait {
            // Leaves the claim in place: the same DM takes it again when it runs.
            Err(NotStarted::Wait(wait))
        } else {
        let id: i64 = sqlx::query_scalar(sql)
            .bind(action.id).bind(action.series).bind(action.attempts + 1).bind(worker).bind(now)
            .bind(&request.method).bind(&request.url).bind(&request.body)
            .fetch_one(&mut *tx).await?;
        sqlx::query(bump).bind(action.id).bind(now).bind(renewed).execute(&mut *tx).await?;
        Ok(id)
        }
    }))
}

/// How an attempt ended, and what happens to its action.
#[derive(Debug, Clone)]
pub struct Finish {
    /// How the attempt ended; the action's next status follows from it
    /// ([`super::lifecycle::after`]).
    pub outcome: AttemptOutcome,
    pub status_code: Option<i32>,
    pub response_excerpt: Option<String>,
    pub request_id: Option<String>,
    pub latency_ms: Option<f64>,
    pub error_class: Option<String>,
    pub error: Option<String>,
    /// When retried: run again after this long (a job is pushed).
    pub retry_in: Option<Duration>,
    /// The rate-limit slot this call took (bucket, when): re-stamped with the
    /// finish time, since the vendor counted the call somewhere in between.
    pub budget_slot: Option<(String, i64)>,
    /// The request, when the attempt was written before it was known (fast path).
    pub request: Option<RecordedRequest>,
    /// A DM's delivery that this finish proves (recorded in `dm_deliveries`).
    pub delivery: Option<super::deliveries::Delivery>,
    /// A tweet this finish proves was scheduled (recorded in `scheduled_tweets`).
    pub tweet: Option<super::tweets::ScheduledTweet>,
    /// Gives the rule's cooldown back (a DM skipped without contacting anyone).
    pub release_cooldown: bool,
}

impl Finish {
    /// An action parked for a person: it may or may not have happened.
    pub fn unknown_outcome(class: &str, why: &str) -> Self {
        Finish {
            error_class: Some(class.into()),
            error: Some(format!(
                "{why}; `starling jobs retry` runs it again, `starling jobs cancel` gives up"
            )),
            ..Finish::new(AttemptOutcome::OutcomeUnknown)
        }
    }

    /// An attempt that ended with `outcome`, nothing else known yet.
    pub fn new(outcome: AttemptOutcome) -> Self {
        Finish {
            outcome,
            status_code: None,
            response_excerpt: None,
            request_id: None,
            latency_ms: None,
            error_class: None,
            error: None,
            retry_in: None,
            budget_slot: None,
            request: None,
            delivery: None,
            tweet: None,
            release_cooldown: false,
        }
    }
}

/// Completes an attempt (if one was written) and moves its action on, in one
/// transaction; a retry's job is pushed in it too. (The executor sends finishes
/// through the group-commit writer, which runs [`FinishConn::finish_on`] in its
/// transaction; this is the direct way.)
pub async fn finish(
    store: &Store,
    action: &ActionRow,
    attempt_id: Option<i64>,
    f: &Finish,
) -> Result<(), sqlx::Error> {
    in_tx!(store, tx => tx.finish_on(action.id, attempt_id, f, now_ms()).await?);
    Ok(())
}

/// A finished attempt on its way to the writer.
#[derive(Debug, Clone)]
pub struct Finished {
    pub action_id: i64,
    pub attempt_id: Option<i64>,
    pub finish: Finish,
}

/// [`finish`] on an open transaction.
pub(crate) trait FinishConn {
    async fn finish_on(
        &mut self,
        action_id: i64,
        attempt_id: Option<i64>,
        f: &Finish,
        now: i64,
    ) -> Result<(), sqlx::Error>;
}

const FINISH_ATTEMPT: &str = "UPDATE action_attempts SET finished_at = $2, outcome = $3, status_code = $4, \
    response_excerpt = $5, request_id = $6, latency_ms = $7, error_class = $8, error = $9, retry_in_ms = $10, \
    method = COALESCE($11, method), url = COALESCE($12, url), request_body = COALESCE($13, request_body) \
    WHERE id = $1";
const RESTAMP_SLOT: &str = "UPDATE rate_limit_calls SET at = $3 WHERE bucket = $1 AND at = $2";

macro_rules! finish_conn {
    ($conn:ty) => {
        impl FinishConn for $conn {
            async fn finish_on(
                &mut self,
                action_id: i64,
                attempt_id: Option<i64>,
                f: &Finish,
                now: i64,
            ) -> Result<(), sqlx::Error> {
                let request = f.request.clone().unwrap_or_default();
                let given = |s: String| Some(s).filter(|s| !s.is_empty());
                let retry_ms = f.retry_in.map(|d| d.as_millis() as i64);
                if let Some(attempt) = attempt_id {
                    sqlx::query(FINISH_ATTEMPT)
                        .bind(attempt)
                        .bind(now)
                        .bind(f.outcome.as_str())
                        .bind(f.status_code)
                        .bind(&f.response_excerpt)
                        .bind(&f.request_id)
                        .bind(f.latency_ms)
                        .bind(&f.error_class)
                        .bind(&f.error)
                        .bind(retry_ms)
                        .bind(given(request.method))
                        .bind(given(request.url))
                        .bind(request.body)
                        .execute(&mut *self)
                        .await?;
                }
                let next =
                    super::lifecycle::after(f.outcome).expect("an attempt that moves its action");
                let moved = sqlx::query(super::lifecycle::FINISH.as_str())
                    .bind(action_id)
                    .bind(next.as_str())
                    .bind(now + retry_ms.unwrap_or(0))
                    .bind(now)
                    .bind(&f.error)
                    .execute(&mut *self)
                    .await?
                    .rows_affected();
                if moved == 1
                    && let Some(d) = &f.delivery
                {
                    sqlx::query(super::deliveries::INSERT)
                        .bind(action_id)
                        .bind(&d.conversation_id)
                        .bind(&d.message_key)
                        .bind(&d.text_hash)
                        .bind(d.proved_by.as_str())
                        .bind(d.sent_after)
                        .bind(d.sent_before)
                        .bind(d.message_time)
                        .bind(now)
                        .execute(&mut *self)
                        .await?;
                }
                if moved == 1
                    && let Some(t) = &f.tweet
                {
                    sqlx::query(super::tweets::INSERT)
                        .bind(action_id)
                        .bind(&t.tweet_id)
                        .bind(&t.account_id)
                        .bind(&t.scheduled_at)
                        .bind(t.proved_by.as_str())
                        .bind(now)
                        .execute(&mut *self)
                        .await?;
                }
                if moved == 1 {
                    // A DM not sent gives its contact claims (and maybe its cooldown) back.
                    self.settle_on(action_id, next, f.release_cooldown, now)
                        .await?;
                }
                if moved == 1
                    && let Some(delay) = f.retry_in
                {
                    self.push_jobs(&[(action_id, delay)]).await?;
                }
                if let Some((bucket, at)) = &f.budget_slot {
                    sqlx::query(RESTAMP_SLOT)
                        .bind(bucket)
                        .bind(at)
                        .bind(now)
                        .execute(&mut *self)
                        .await?;
                }
                Ok(())
            }
        }
    };
}
finish_conn!(sqlx::SqliteConnection);
finish_conn!(sqlx::PgConnection);

/// Closes an attempt whose worker died mid-call (for kinds safe to run again).
pub async fn close_stale_attempt(
    store: &Store,
    attempt_id: i64,
    why: &str,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE action_attempts SET finished_at = $2, outcome = $4, \
               error_class = 'worker_stopped', error = $3 WHERE id = $1 AND outcome IS NULL";
    on_pool!(store, pool => sqlx::query(sql).bind(attempt_id).bind(now_ms()).bind(why)
        .bind(AttemptOutcome::Abandoned.as_str()).execute(pool).await.map(|_| ()))?;
    Ok(())
}
