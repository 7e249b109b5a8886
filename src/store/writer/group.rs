//! What one group commit writes, in one transaction: the events (and better
//! versions of ones already stored), the rules' decisions with their cooldown
//! claims, paused accounts, the outbox's actions and jobs, quarantined payloads
//! and finished attempts.

use super::super::attempts::{FinishConn, Finished};
use super::super::outbox::{self, FastClaim, NewAction, OutboxConn, OutboxMode};
use super::super::{events, matches, quarantine};
use super::now_ms;
use crate::event::{Committed, NewEvent, internal};
use crate::rules::{Decision, RuleSet};
use crate::store::jobs::PushJobs;
use crate::store::status::{ActionStatus, AttemptOutcome};
use matches::MatchRow;
use quarantine::QuarantinedPayload;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// The statements a group needs, in each backend's SQL.
pub(crate) trait GroupSql {
    async fn upsert(&mut self, events: &[&NewEvent]) -> Result<Vec<Committed>, sqlx::Error>;
    async fn claim(
        &mut self,
        decision: &Decision,
        at: OffsetDateTime,
        event_id: i64,
    ) -> Result<bool, sqlx::Error>;
    async fn record(&mut self, rows: &[MatchRow<'_>]) -> Result<(), sqlx::Error>;
    async fn quarantine(&mut self, payload: &QuarantinedPayload) -> Result<i64, sqlx::Error>;
    async fn upgrade(&mut self, event_id: i64, event: &NewEvent) -> Result<bool, sqlx::Error>;
    async fn decided(&mut self, event_id: i64) -> Result<Vec<String>, sqlx::Error>;
    async fn sightings(&mut self, rows: &[(i64, &NewEvent)]) -> Result<(), sqlx::Error>;
}

impl GroupSql for sqlx::SqliteConnection {
    async fn upsert(&mut self, events: &[&NewEvent]) -> Result<Vec<Committed>, sqlx::Error> {
        events::upsert_sqlite(self, events).await
    }
    async fn claim(
        &mut self,
        d: &Decision,
        at: OffsetDateTime,
        event_id: i64,
    ) -> Result<bool, sqlx::Error> {
        let (key, window) = d
            .cooldown
            .as_ref()
            .expect("only decisions with a cooldown claim one");
        matches::claim_cooldown_sqlite(self, &d.rule, key, at, *window, event_id).await
    }
    async fn record(&mut self, rows: &[MatchRow<'_>]) -> Result<(), sqlx::Error> {
        matches::record_sqlite(self, rows).await
    }
    async fn quarantine(&mut self, payload: &QuarantinedPayload) -> Result<i64, sqlx::Error> {
        quarantine::insert_sqlite(self, payload).await
    }
    async fn upgrade(&mut self, event_id: i64, event: &NewEvent) -> Result<bool, sqlx::Error> {
        events::upgrade_sqlite(self, event_id, event).await
    }
    async fn decided(&mut self, event_id: i64) -> Result<Vec<String>, sqlx::Error> {
        matches::decided_sqlite(self, event_id).await
    }
    async fn sightings(&mut self, rows: &[(i64, &NewEvent)]) -> Result<(), sqlx::Error> {
        events::record_sightings_sqlite(self, rows).await
    }
}

impl GroupSql for sqlx::PgConnection {
    async fn upsert(&mut self, events: &[&NewEvent]) -> Result<Vec<Committed>, sqlx::Error> {
        events::upsert_postgres(self, events).await
    }
    async fn claim(
        &mut self,
        d: &Decision,
        at: OffsetDateTime,
        event_id: i64,
    ) -> Result<bool, sqlx::Error> {
        let (key, window) = d
            .cooldown
            .as_ref()
            .expect("only decisions with a cooldown claim one");
        matches::claim_cooldown_postgres(self, &d.rule, key, at, *window, event_id).await
    }
    async fn record(&mut self, rows: &[MatchRow<'_>]) -> Result<(), sqlx::Error> {
        matches::record_postgres(self, rows).await
    }
    async fn quarantine(&mut self, payload: &QuarantinedPayload) -> Result<i64, sqlx::Error> {
        quarantine::insert_postgres(self, payload).await
    }
    async fn upgrade(&mut self, event_id: i64, event: &NewEvent) -> Result<bool, sqlx::Error> {
        events::upgrade_postgres(self, event_id, event).await
    }
    async fn decided(&mut self, event_id: i64) -> Result<Vec<String>, sqlx::Error> {
        matches::decided_postgres(self, event_id).await
    }
    async fn sightings(&mut self, rows: &[(i64, &NewEvent)]) -> Result<(), sqlx::Error> {
        events::record_sightings_postgres(self, rows).await
    }
}

/// Writes a group inside an open transaction: the events; for each new event the
/// rules' decisions, after claiming their cooldowns, and the fired actions with
/// their jobs; then the quarantined payloads and the finished attempts. Last,
/// the failures the group made (actions now dead, unknown or held; rules that
/// failed on its events) and the actions `announce` names become internal
/// events, decided on in this same transaction ([`super::announce`]); what
/// those raise is not raised again (loop safety). Returns the jobs pushed too.
#[allow(clippy::too_many_arguments)]
pub(super) async fn write_group(
    conn: &mut (
             impl GroupSql
             + OutboxConn
             + PushJobs
             + super::super::ratelimit::RateConn
             + FinishConn
             + super::super::finishes::FinishMany
             + super::announce::AnnounceSql
         ),
    events: &[&NewEvent],
    quarantined: &[&QuarantinedPayload],
    finished: &[&Finished],
    announce: &[i64],
    rules: &RuleSet,
    mode: &OutboxMode,
) -> Result<(Vec<Committed>, Vec<i64>, usize, Vec<FastClaim>), sqlx::Error> {
    let mut first = ingest(conn, events, rules, mode).await?;
    let mut ids = Vec::with_capacity(quarantined.len());
    for q in quarantined {
        ids.push(conn.quarantine(q).await?);
    }
    if !finished.is_empty() {
        super::super::finishes::finish_all(conn, finished, now_ms()).await?;
    }
    let mut moved = std::mem::take(&mut first.held);
    // Only finishes that leave a person something to do are read back: a group
    // of successes costs no extra statement.
    moved.extend(
        finished
            .iter()
            .filter(|f| announced(f.finish.outcome))
            .map(|f| f.action_id),
    );
    moved.extend_from_slice(announce);
    let mut raised = super::announce::actions(conn, &mut moved).await?;
    raised.append(&mut first.rule_errors);
    let (mut jobs, mut claimed) = (first.jobs, first.claimed);
    if !raised.is_empty() {
        let raised: Vec<&NewEvent> = raised.iter().collect();
        let second = ingest(conn, &raised, rules, mode).await?;
        jobs += second.jobs;
        claimed.extend(second.claimed);
    }
    Ok((first.committed, ids, jobs, claimed))
}

/// Whether an attempt's outcome moves its action to a status that is announced.
fn announced(outcome: AttemptOutcome) -> bool {
    matches!(
        super::super::lifecycle::after(outcome),
        Some(ActionStatus::Dead | ActionStatus::OutcomeUnknown)
    )
}

/// What [`ingest`] wrote.
#[derive(Default)]
struct Ingested {
    committed: Vec<Committed>,
    jobs: usize,
    claimed: Vec<FastClaim>,
    /// Actions created held, or held by a pause among the events.
    held: Vec<i64>,
    /// `starling.rule_error` events for the rules that failed on these events.
    rule_errors: Vec<NewEvent>,
}

/// Stores `events` with the rules' decisions on the new (or better) ones and the
/// actions those fired ([`act_on`], as a replay does).
async fn ingest(
    conn: &mut (impl GroupSql + OutboxConn + PushJobs + super::super::ratelimit::RateConn),
    events: &[&NewEvent],
    rules: &RuleSet,
    mode: &OutboxMode,
) -> Result<Ingested, sqlx::Error> {
    if events.is_empty() {
        return Ok(Ingested::default());
    }
    let mut committed = conn.upsert(events).await?;
    let sightings: Vec<(i64, &NewEvent)> = events
        .iter()
        .zip(&committed)
        .filter(|(e, _)| e.sighting.is_some())
        .map(|(e, done)| (done.event_id, *e))
        .collect();
    if !sightings.is_empty() {
        conn.sightings(&sightings).await?;
    }
    upgrade(conn, events, &mut committed).await?;
    // Another sighting of a stored event fires nothing again; a better version
    // lets the rules that have not decided on the event decide.
    let mut decided: Vec<(&NewEvent, i64, Vec<Decision>)> = Vec::new();
    for (event, done) in events.iter().zip(&committed) {
        if done.created {
            decided.push((event, done.event_id, rules.decide(event, done.event_id)));
        } else if done.upgraded {
            let already = conn.decided(done.event_id).await?;
            let mut decisions = rules.decide(event, done.event_id);
            decisions.retain(|d| !already.contains(&d.rule));
            decided.push((event, done.event_id, decisions));
        }
    }
    let rule_errors = decided
        .iter()
        .flat_map(|(event, event_id, decisions)| {
            decisions.iter().filter_map(move |d| {
                let error = d.error.as_ref()?;
                internal::rule_failed(&d.rule, error, *event_id, &event.kind)
            })
        })
        .collect();
    let verdicts: Vec<Verdicts> = decided
        .iter()
        .map(|(event, event_id, decisions)| Verdicts {
            event_id: *event_id,
            claim_at: event.received_at,
            decisions,
        })
        .collect();
    let now = now_ms();
    let mut held = Vec::new();
    // An `account_paused` event pauses its account as it is stored (not on replay).
    for (event, event_id, _) in &decided {
        if let Some(pause) = outbox::pause_of(event, *event_id, now) {
            held.extend(conn.pause_account(&pause).await?);
        }
    }
    let acted = act_on(conn, &verdicts, &Default::default(), now, mode).await?;
    held.extend(acted.held);
    Ok(Ingested {
        committed,
        jobs: acted.jobs,
        claimed: acted.claimed,
        held,
        rule_errors,
    })
}

/// The rules' decisions on one stored event, as [`act_on`] takes them.
pub(crate) struct Verdicts<'d> {
    pub event_id: i64,
    /// From when the decisions' cooldowns are claimed: the event's arrival when
    /// it is stored, the replay's start when it is replayed (its actions run then).
    pub claim_at: OffsetDateTime,
    pub decisions: &'d [Decision],
}

/// What [`act_on`] did.
pub(crate) struct Acted {
    /// Jobs pushed, and the actions claimed for this process's fast path.
    pub jobs: usize,
    pub claimed: Vec<FastClaim>,
    /// Each decision's recorded outcome (`fired`, `cooldown`, `error`), in order.
    pub outcomes: Vec<&'static str>,
    /// (event, rule) of every action created (an action already stored is not).
    pub created: Vec<(i64, String)>,
    /// The actions created held (their account is paused).
    pub held: Vec<i64>,
}

/// Acts on decisions inside the caller's transaction, the one way live events
/// and replays do: claims each decision's cooldown (a `(rule, key)` in `held`
/// counts as claimed until the time it maps to), records the matches, creates the fired rules'
/// actions with their jobs. The unique keys decide what is new: a rule decides
/// once per event, an action exists once per (event, rule, index).
pub(crate) async fn act_on(
    conn: &mut (impl GroupSql + OutboxConn + PushJobs + super::super::ratelimit::RateConn),
    verdicts: &[Verdicts<'_>],
    held: &HashMap<(String, String), OffsetDateTime>,
    now: i64,
    mode: &OutboxMode,
) -> Result<Acted, sqlx::Error> {
    let mut rows = Vec::new();
    for v in verdicts {
        for decision in v.decisions {
            let is_held = match &decision.cooldown {
                None => false,
                // Live groups pass no held keys: no lookup (and no clones) on the hot path.
                Some((key, _))
                    if !held.is_empty()
                        && held
                            .get(&(decision.rule.clone(), key.clone()))
                            .is_some_and(|until| *until > v.claim_at) =>
                {
                    true
                }
                Some(_) => !conn.claim(decision, v.claim_at, v.event_id).await?,
            };
            rows.push(MatchRow::new(v.event_id, decision, is_held));
        }
    }
    conn.record(&rows).await?;
    for row in &rows {
        metrics::counter!("starling_rule_matches_total", "outcome" => row.outcome).increment(1);
        if row.outcome == "fired" {
            log_fired(row);
        }
    }
    let actions: Vec<NewAction> = rows
        .iter()
        .filter(|r| r.outcome == "fired")
        .flat_map(|r| outbox::new_actions(r, now))
        .collect();
    let outboxed = outbox::insert_outbox(conn, &actions, now, mode).await?;
    Ok(Acted {
        jobs: outboxed.jobs,
        claimed: outboxed.claimed,
        outcomes: rows.iter().map(|r| r.outcome).collect(),
        created: outboxed.created,
        held: outboxed.held,
    })
}

/// One line per rule that fired, so `grep event=ID` follows an event: which
/// rule, which actions (each action's end is logged with the same `event`).
fn log_fired(row: &MatchRow<'_>) {
    let actions: Vec<&str> = row
        .decision
        .actions
        .iter()
        .map(|a| a.action.as_str())
        .collect();
    tracing::info!(
        event = row.event_id,
        rule = %row.decision.rule,
        actions = %actions.join(","),
        "Rule fired"
    );
}

/// Stores the better versions among a group's repeated sightings: for each stored
/// key, its best copy replaces the stored payload if its quality is higher.
async fn upgrade(
    conn: &mut impl GroupSql,
    events: &[&NewEvent],
    committed: &mut [Committed],
) -> Result<(), sqlx::Error> {
    // A key created in this group already stored its best copy.
    let created: HashSet<i64> = committed
        .iter()
        .filter(|c| c.created)
        .map(|c| c.event_id)
        .collect();
    let mut best: HashMap<&str, usize> = HashMap::new();
    for (i, (event, done)) in events.iter().zip(committed.iter()).enumerate() {
        if event.quality == 0 || created.contains(&done.event_id) {
            continue;
        }
        let slot = best.entry(event.dedupe_key.as_str()).or_insert(i);
        if event.quality > events[*slot].quality {
            *slot = i;
        }
    }
    for i in best.into_values() {
        committed[i].upgraded = conn.upgrade(committed[i].event_id, events[i]).await?;
    }
    Ok(())
}
