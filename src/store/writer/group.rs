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

/// The statements a group needs, in each backend's SQL.
pub(super) trait GroupSql {
    async fn upsert(&mut self, events: &[&NewEvent]) -> Result<Vec<Committed>, sqlx::Error>;
    async fn claim(
        &mut self,
        decision: &Decision,
        event: &NewEvent,
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
        event: &NewEvent,
        event_id: i64,
    ) -> Result<bool, sqlx::Error> {
        let (key, window) = d
            .cooldown
            .as_ref()
            .expect("only decisions with a cooldown claim one");
        matches::claim_cooldown_sqlite(self, &d.rule, key, event.received_at, *window, event_id)
            .await
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
        event: &NewEvent,
        event_id: i64,
    ) -> Result<bool, sqlx::Error> {
        let (key, window) = d
            .cooldown
            .as_ref()
            .expect("only decisions with a cooldown claim one");
        matches::claim_cooldown_postgres(self, &d.rule, key, event.received_at, *window, event_id)
            .await
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
/// actions those fired.
async fn ingest(
    conn: &mut (impl GroupSql + OutboxConn + PushJobs + super::super::ratelimit::RateConn),
    events: &[&NewEvent],
    rules: &RuleSet,
    mode: &OutboxMode,
) -> Result<Ingested, sqlx::Error> {
    if events.is_empty() {
        return Ok(Ingested {
            committed: Vec::new(),
            jobs: 0,
            claimed: Vec::new(),
            held: Vec::new(),
            rule_errors: Vec::new(),
        });
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
    let mut rows = Vec::new();
    let mut rule_errors = Vec::new();
    for (event, event_id, decisions) in &decided {
        for decision in decisions {
            let held =
                decision.cooldown.is_some() && !conn.claim(decision, event, *event_id).await?;
            rows.push(MatchRow::new(*event_id, decision, held));
            if let Some(error) = &decision.error {
                rule_errors.extend(internal::rule_failed(
                    &decision.rule,
                    error,
                    *event_id,
                    &event.kind,
                ));
            }
        }
    }
    conn.record(&rows).await?;
    for row in &rows {
        metrics::counter!("starling_rule_matches_total", "outcome" => row.outcome).increment(1);
        if row.outcome == "fired" {
            log_fired(row);
        }
    }
    let now = now_ms();
    let mut held = Vec::new();
    for (event, event_id, _) in &decided {
        if let Some(pause) = outbox::pause_of(event, *event_id, now) {
            held.extend(conn.pause_account(&pause).await?);
        }
    }
    let actions: Vec<NewAction> = rows
        .iter()
        .filter(|r| r.outcome == "fired")
        .flat_map(|r| outbox::new_actions(r, now))
        .collect();
    let inserted = outbox::insert_outbox(conn, &actions, now, mode).await?;
    held.extend(inserted.held);
    Ok(Ingested {
        committed,
        jobs: inserted.jobs,
        claimed: inserted.claimed,
        held,
        rule_errors,
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
    use std::collections::{HashMap, HashSet};
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
