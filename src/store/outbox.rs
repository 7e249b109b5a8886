//! The outbox: creating actions in the transaction that stores their event.
//!
//! One row per (event, rule, action index) — a second insert of the same key does
//! nothing — with its apalis job pushed in the same transaction. An action due at
//! once may be claimed right there for this process's fast path (its first attempt
//! and budget slot included) instead, with no job. An `account_paused`
//! event records the pause and holds the account's queued DMs and tweets.

use super::action_rows::{ActionRow, ActionStatus, delay_until};
use crate::catalog::ActionKind;
use crate::store::jobs::PushJobs;
use std::time::Duration;

mod conn;
pub(crate) use conn::OutboxConn;
pub use conn::Pause;

/// An action the outbox creates, in the event's transaction.
#[derive(Debug, Clone)]
pub struct NewAction {
    pub event_id: i64,
    pub rule: String,
    pub index: i32,
    pub kind: ActionKind,
    pub params: String,
    pub account: Option<String>,
    pub run_at: i64,
    pub max_attempts: Option<i32>,
}

impl NewAction {
    /// The row as [`super::lifecycle`]'s multi-row insert reads it.
    fn as_json(&self) -> serde_json::Value {
        serde_json::json!([
            self.event_id,
            self.rule,
            self.index,
            self.kind.as_str(),
            self.params,
            self.account,
            self.max_attempts,
            self.run_at
        ])
    }

    /// About how many bytes the row takes in a statement.
    fn size(&self) -> usize {
        64 + self.rule.len() + self.params.len() + self.account.as_ref().map_or(0, String::len)
    }
}

/// How the outbox hands out new actions.
#[derive(Debug, Clone, Default)]
pub struct OutboxMode {
    /// When set, an action due at once is claimed in the event's transaction
    /// (`running`, leased this long) for this process to run right after the
    /// commit, with no job (a lease that expires unfinished is the sweep's).
    pub fast_lease: Option<Duration>,
    /// Written on attempts started in the event's transaction.
    pub worker: String,
    /// Scrapely's shared budget (bucket, limit), when a key is configured.
    pub budget: Option<(String, super::ratelimit::Budget)>,
    /// Why Scrapely actions cannot run (no API key): they are recorded as
    /// `skipped` with this reason when created, and never queued.
    pub skip_scrapely: Option<String>,
}

/// An action claimed in the event's transaction, for the fast path. Except for
/// DMs (whose attempt must be written right before the call, see
/// `actions::send_dm`), its first attempt and budget slot are taken there too,
/// so nothing but the call itself stands between the commit and the vendor.
#[derive(Debug, Clone)]
pub struct FastClaim {
    pub action: ActionRow,
    pub attempt: Option<i64>,
    /// When the budget slot was taken (ms), if one was.
    pub slot: Option<i64>,
    /// A second slot taken with it, for the read the call needs first (a CRM
    /// update that appends notes or may meet a protected tag reads the
    /// conversation): that read then waits on no budget transaction of its own.
    pub read_paid: bool,
}

/// What [`insert_outbox`] did.
#[derive(Debug, Default)]
pub(crate) struct Outboxed {
    /// Jobs pushed.
    pub jobs: usize,
    /// Actions claimed for this process's fast path.
    pub claimed: Vec<FastClaim>,
    /// (event, rule) of each action created: a key already stored is not.
    pub created: Vec<(i64, String)>,
    /// The actions created held (their account is paused): they are announced.
    pub held: Vec<i64>,
}

/// Inserts actions (a second insert of the same key does nothing) and pushes one
/// job for each new, not held, action — all inside the caller's transaction.
pub(crate) async fn insert_outbox<C>(
    conn: &mut C,
    actions: &[NewAction],
    now: i64,
    mode: &OutboxMode,
) -> Result<Outboxed, sqlx::Error>
where
    C: PushJobs + OutboxConn + super::ratelimit::RateConn,
{
    let lease_until = mode.fast_lease.map(|l| now + l.as_millis() as i64);
    let mut jobs = Vec::new();
    let mut running = Vec::new();
    let mut held = Vec::new();
    let skip = mode.skip_scrapely.as_deref();
    let created = if actions.is_empty() {
        Vec::new()
    } else {
        conn.insert_actions(actions, now, lease_until, skip).await?
    };
    let mut keys = Vec::with_capacity(created.len());
    for row in created {
        keys.push((row.event_id, row.rule.clone()));
        match row.status {
            ActionStatus::Pending => jobs.push((row.id, delay_until(row.run_at, now))),
            ActionStatus::Running => running.push(row),
            ActionStatus::Held => held.push(row.id),
            // Created skipped (no Scrapely key). Counted before the commit, like
            // rule matches: a group that fails is retried item by item, so a
            // failed group can count its skips twice; a rate is not misled by it.
            ActionStatus::Skipped => {
                metrics::counter!("starling_actions_skipped_total", "kind" => row.kind.as_str())
                    .increment(1)
            }
            _ => {}
        }
    }
    let mut claimed = Vec::with_capacity(running.len());
    for started in start_in_outbox(conn, running, now, mode).await? {
        match started {
            Ok(fast) => claimed.push(fast),
            Err(id) => jobs.push((id, Duration::ZERO)),
        }
    }
    // A claimed action has no job: if this process dies before finishing it, its
    // lease expires and the sweep gives it one (`crate::actions::sweep`).
    conn.push_jobs(&jobs).await?;
    Ok(Outboxed {
        jobs: jobs.len(),
        claimed,
        created: keys,
        held,
    })
}

/// Takes the budget slots and writes the first attempts of the actions claimed
/// in this transaction (not for DMs): the slots of the whole group in one pass
/// of the budget, first one per call, then one per read a call needs first.
/// `Err(id)` for an action the budget had no slot for: it goes back to pending.
async fn start_in_outbox<C>(
    conn: &mut C,
    rows: Vec<ActionRow>,
    now: i64,
    mode: &OutboxMode,
) -> Result<Vec<Result<FastClaim, i64>>, sqlx::Error>
where
    C: OutboxConn + super::ratelimit::RateConn,
{
    let budget = mode.budget.as_ref();
    // A DM takes its slot right before its call, not here.
    let pays = |row: &ActionRow| {
        budget.is_some() && row.kind.calls_scrapely() && row.kind != ActionKind::SendDm
    };
    let reads = |row: &ActionRow| {
        row.kind == ActionKind::UpdateCrm && crate::catalog::reads_current(&row.params)
    };
    let calls = rows.iter().filter(|r| pays(r)).count() as u32;
    let wanted = calls + rows.iter().filter(|r| pays(r) && reads(r)).count() as u32;
    let mut slots = match budget {
        Some((bucket, budget)) if wanted > 0 => conn
            .acquire_many_on(bucket, *budget, wanted, now)
            .await?
            .unwrap_or(0),
        _ => 0,
    };
    // Calls first: a read's slot is only worth having with its call's.
    let mut read_slots = slots.saturating_sub(calls);
    let mut started = Vec::with_capacity(rows.len());
    // (action, slot, read paid) for the claims whose first attempt is written here.
    let mut attempting = Vec::with_capacity(rows.len());
    for row in rows {
        if row.kind == ActionKind::SendDm {
            // A DM's attempt is written right before its call (see `actions::send_dm`).
            started.push(Ok(FastClaim {
                action: row,
                attempt: None,
                slot: None,
                read_paid: false,
            }));
            continue;
        }
        let mut slot = None;
        let mut read_paid = false;
        if pays(&row) {
            if slots <= read_slots {
                conn.unclaim(row.id).await?;
                started.push(Err(row.id));
                continue;
            }
            slots -= 1;
            slot = Some(now);
            if reads(&row) && read_slots > 0 {
                read_slots -= 1;
                slots -= 1;
                read_paid = true;
            }
        }
        attempting.push((row, slot, read_paid));
    }
    if !attempting.is_empty() {
        let ids: Vec<i64> = attempting.iter().map(|(row, ..)| row.id).collect();
        let attempts = conn.first_attempts(&ids, &mode.worker, now).await?;
        for (row, slot, read_paid) in attempting {
            let attempt = attempts
                .iter()
                .find(|(action, _)| *action == row.id)
                .map(|(_, attempt)| *attempt)
                .ok_or_else(|| sqlx::Error::RowNotFound)?;
            started.push(Ok(FastClaim {
                action: row,
                attempt: Some(attempt),
                slot,
                read_paid,
            }));
        }
    }
    Ok(started)
}

/// The actions of a fired rule, as outbox rows keyed by (event, rule, index).
pub(super) fn new_actions(row: &super::matches::MatchRow<'_>, now: i64) -> Vec<NewAction> {
    row.decision
        .actions
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, mut a)| {
            crate::catalog::normalize(a.action, &mut a.params, time::OffsetDateTime::now_utc());
            NewAction {
                event_id: row.event_id,
                rule: row.decision.rule.clone(),
                index: i as i32,
                account: crate::catalog::account_of(a.action, &a.params),
                params: a.params.to_string(),
                run_at: now + a.delay_secs.unwrap_or(0) as i64 * 1000,
                max_attempts: a.max_attempts.map(|m| m as i32),
                kind: a.action,
            }
        })
        .collect()
}

/// A Scrapely `account_paused` event pauses its account (holding its DMs and
/// tweets), named by its handle, its id, or both.
pub(super) fn pause_of(event: &crate::event::NewEvent, event_id: i64, now: i64) -> Option<Pause> {
    if event.kind != "scrapely.account_paused" {
        return None;
    }
    let payload: serde_json::Value = serde_json::from_str(&event.payload).ok()?;
    let data = payload.get("data")?;
    let text = |k: &str| data.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let handle = text("account_handle")
        .map(|h| h.trim_start_matches('@').to_string())
        .filter(|h| !h.is_empty());
    let account_id = text("account_id").filter(|id| !id.is_empty());
    if handle.is_none() && account_id.is_none() {
        return None;
    }
    Some(Pause {
        handle,
        account_id,
        reason: text("reason"),
        event_id,
        at: now,
    })
}
