//! Every change of an action's status, as one table ([`TRANSITIONS`]: from →
//! event → to) and the SQL that performs each one, generated from that table. No
//! other module writes `actions.status` (`tests/it/lifecycle.rs` greps the tree);
//! the other store modules run these statements inside their own transactions.
//!
//! The README's lifecycle diagram is this table.
//!
//! A move to dead, outcome_unknown or held is announced as an internal event
//! (`starling.action_*`) by the group commit that runs the statement, not here:
//! only the writer has the rules that must decide on it (`store::writer::announce`).
//!
//! Longer than most files on purpose: every status change of an action lives
//! here and nowhere else, so the table and all its statements are read together.

use super::Store;
use super::action_rows::{ActionRow, COLUMNS, in_tx, now_ms, on_pool};
use super::status::{ActionStatus as S, AttemptOutcome, sql_set};
use crate::store::jobs::PushJobs;
use sqlx::Row;
use std::sync::LazyLock;
use std::time::Duration;

/// What moves an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The outbox creates it with its event: held (account paused), skipped (no
    /// Scrapely key), claimed for this process's fast path, or pending.
    Create,
    /// A worker takes a due action.
    Claim,
    /// A worker takes over a run whose lease expired (its worker died mid-call).
    TakeOver,
    /// A claimed action goes back to wait, without spending an attempt (the rate
    /// budget is spent, a reconciliation must wait, the fast path gave it back).
    Wait,
    /// Its account is paused: at run time, or by an `account_paused` event.
    Hold,
    /// Its account was resumed (or a pause turned out to be another account's).
    Release,
    /// An attempt ended with this outcome.
    Finish(AttemptOutcome),
    /// `starling jobs retry`: a new attempt series.
    Retry,
    /// `starling jobs cancel`: never sent.
    Cancel,
    /// Its receiver was marked do-not-contact (`starling contacts block`,
    /// `starling.do_not_contact`): a queued DM is never sent.
    DoNotContact,
}

/// One row of the lifecycle: `event` moves an action in one of `from` to `to`.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    pub from: &'static [S],
    pub event: Event,
    pub to: S,
}

const fn row(from: &'static [S], event: Event, to: S) -> Transition {
    Transition { from, event, to }
}

use AttemptOutcome as O;
use Event as E;

/// The whole lifecycle. `from: []` is a new row.
pub const TRANSITIONS: &[Transition] = &[
    row(&[], E::Create, S::Pending),
    row(&[], E::Create, S::Running),
    row(&[], E::Create, S::Held),
    row(&[], E::Create, S::Skipped),
    row(&[S::Pending, S::Failed], E::Claim, S::Running),
    row(&[S::Running], E::TakeOver, S::Running),
    row(&[S::Running], E::Wait, S::Pending),
    row(&[S::Running], E::Hold, S::Held),
    row(&[S::Pending, S::Failed], E::Hold, S::Held),
    row(&[S::Held], E::Release, S::Pending),
    row(&[S::Running], E::Finish(O::Succeeded), S::Succeeded),
    row(&[S::Running], E::Finish(O::Reconciled), S::Succeeded),
    row(&[S::Running], E::Finish(O::Retry), S::Failed),
    row(&[S::Running], E::Finish(O::Dead), S::Dead),
    row(
        &[S::Running],
        E::Finish(O::OutcomeUnknown),
        S::OutcomeUnknown,
    ),
    row(&[S::Running], E::Finish(O::Skipped), S::Skipped),
    row(&[S::Running], E::Finish(O::DryRun), S::DryRun),
    row(
        &[S::Dead, S::OutcomeUnknown, S::Skipped, S::Cancelled],
        E::Retry,
        S::Pending,
    ),
    row(
        &[S::Pending, S::Failed, S::Held, S::OutcomeUnknown],
        E::Cancel,
        S::Cancelled,
    ),
    row(
        &[S::Pending, S::Failed, S::Held],
        E::DoNotContact,
        S::Cancelled,
    ),
];

/// The statuses `event` moves an action from (all rows of that event).
pub fn from(event: Event) -> Vec<S> {
    let mut from: Vec<S> = TRANSITIONS
        .iter()
        .filter(|t| t.event == event)
        .flat_map(|t| t.from.iter().copied())
        .collect();
    from.dedup();
    from
}

/// Where `event` moves an action, when that is one status.
pub fn to(event: Event) -> S {
    let mut to = TRANSITIONS
        .iter()
        .filter(|t| t.event == event)
        .map(|t| t.to);
    let first = to.next().expect("every event has a row");
    debug_assert!(to.all(|t| t == first), "{event:?} has one target");
    first
}

/// The status an attempt's outcome leaves its action in (`Abandoned` closes an
/// attempt without moving the action: `None`).
pub fn after(outcome: AttemptOutcome) -> Option<S> {
    TRANSITIONS
        .iter()
        .find(|t| t.event == E::Finish(outcome))
        .map(|t| t.to)
}

impl Event {
    /// How the README's diagram labels it.
    pub fn label(self) -> String {
        match self {
            E::Create => "created".into(),
            E::Claim => "claim".into(),
            E::TakeOver => "lease expired".into(),
            E::Wait => "wait".into(),
            E::Hold => "account paused".into(),
            E::Release => "account resumed".into(),
            E::Finish(outcome) => outcome.as_str().into(),
            E::Retry => "jobs retry".into(),
            E::Cancel => "jobs cancel".into(),
            E::DoNotContact => "do-not-contact".into(),
        }
    }
}

/// The table as a Mermaid state diagram (the README shows exactly this).
pub fn diagram() -> String {
    let mut lines = vec!["stateDiagram-v2".to_string()];
    for t in TRANSITIONS {
        let froms: Vec<String> = match t.from {
            [] => vec!["[*]".into()],
            from => from.iter().map(|s| s.to_string()).collect(),
        };
        for from in froms {
            let line = format!("    {from} --> {}: {}", t.to, t.event.label());
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    lines.join("\n")
}

fn lit(s: S) -> String {
    format!("'{s}'")
}

/// Creates a group's actions (the outbox's insert), choosing each one's first
/// status: `rows` is the backend's reading of the JSON array of rows bound as
/// $1 (event_id, rule, action_index, kind, params, account, max_attempts,
/// run_at); $2 now, $3 the fast path's lease (when it claims), $4 why Scrapely
/// actions are skipped (no key). An action already stored is left as it is.
fn create_many(rows: &str) -> String {
    format!(
        "INSERT INTO actions \
    (event_id, rule, action_index, kind, params, account, status, max_attempts, run_at, lease_until, created_at, updated_at, last_error) \
    SELECT c.event_id, c.rule, c.action_index, c.kind, c.params, c.account, c.status, c.max_attempts, c.run_at, \
      CASE WHEN c.status = {running} THEN $3 END, $2, $2, CASE WHEN c.status = {skipped} THEN $4 END \
    FROM (SELECT v.*, CASE \
        WHEN $4 IS NOT NULL AND v.kind LIKE 'scrapely.%' THEN {skipped} \
        WHEN v.kind IN ('scrapely.send_dm', 'scrapely.schedule_tweet') AND EXISTS \
          (SELECT 1 FROM paused_accounts p WHERE p.account = lower(v.account) OR p.account_id = v.account \
             OR (p.account = lower(p.account_id) AND NOT EXISTS \
               (SELECT 1 FROM scrapely_accounts k WHERE k.handle = lower(v.account) OR k.account_id = v.account))) THEN {held} \
        WHEN $3 IS NOT NULL AND v.run_at <= $2 THEN {running} \
        ELSE {pending} END AS status FROM {rows} AS v) AS c \
    WHERE true \
    ON CONFLICT (event_id, rule, action_index) DO NOTHING \
    RETURNING {COLUMNS}",
        running = lit(S::Running),
        skipped = lit(S::Skipped),
        held = lit(S::Held),
        pending = lit(S::Pending),
    )
}

/// [`create_many`] on SQLite.
pub(super) static CREATE_MANY_SQLITE: LazyLock<String> = LazyLock::new(|| {
    create_many(
        "(SELECT json_extract(value, '$[0]') AS event_id, json_extract(value, '$[1]') AS rule, \
           json_extract(value, '$[2]') AS action_index, json_extract(value, '$[3]') AS kind, \
           json_extract(value, '$[4]') AS params, json_extract(value, '$[5]') AS account, \
           json_extract(value, '$[6]') AS max_attempts, json_extract(value, '$[7]') AS run_at \
         FROM json_each($1))",
    )
});

/// [`create_many`] on PostgreSQL.
pub(super) static CREATE_MANY_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    create_many(
        "(SELECT CAST(e->>0 AS BIGINT) AS event_id, e->>1 AS rule, CAST(e->>2 AS INTEGER) AS action_index, \
           e->>3 AS kind, e->>4 AS params, e->>5 AS account, CAST(e->>6 AS INTEGER) AS max_attempts, \
           CAST(e->>7 AS BIGINT) AS run_at \
         FROM jsonb_array_elements($1::jsonb) AS e)",
    )
});

/// Claims a due action, or takes over one whose lease expired.
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE actions SET status = {to}, lease_until = $3, updated_at = $2 \
         WHERE id = $1 AND run_at <= $2 \
           AND (status IN {claim} OR (status IN {take_over} AND lease_until < $2)) \
         RETURNING {COLUMNS}",
        to = lit(to(E::Claim)),
        claim = sql_set(&from(E::Claim)),
        take_over = sql_set(&from(E::TakeOver)),
    )
});

/// Whether a run still holds its claim — the action is running under the lease
/// it was claimed with ($2) — renewing it to $3 if so. The UPDATE locks the row
/// (PostgreSQL; SQLite has one writer), so a takeover waits for the caller's commit.
pub(super) static HOLDS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE actions SET lease_until = $3 WHERE id = $1 AND status = {running} AND lease_until = $2",
        running = lit(S::Running),
    )
});

/// Renews a run's lease (`lease` from now) if the run still holds its claim.
/// `false`: the lease ran out before the run got this far (a busy machine, a long
/// wait) and another run took the action over, or it was finished or given back
/// meanwhile — this run must not call.
pub async fn renew(
    store: &Store,
    action: &ActionRow,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let until = now_ms() + lease.as_millis() as i64;
    let renewed = on_pool!(store, pool => sqlx::query(HOLDS.as_str())
        .bind(action.id).bind(action.lease_until).bind(until).execute(pool).await
        .map(|r| r.rows_affected()))?;
    Ok(renewed == 1)
}

/// Gives a claimed action back: to wait ($2 = pending) or to be held ($2 = held).
static GIVE_BACK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE actions SET status = $2, run_at = $3, lease_until = NULL, updated_at = $4, \
         last_error = COALESCE($5, last_error) WHERE id = $1 AND status IN {from}",
        from = sql_set(&from(E::Wait)),
    )
});

/// Gives back a fast-path claim taken in the event's own transaction.
pub(super) static UNCLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE actions SET status = {to}, lease_until = NULL WHERE id = $1 AND status IN {from}",
        to = lit(to(E::Wait)),
        from = sql_set(&from(E::Wait)),
    )
});

/// Moves a running action on after its attempt ($2 is `after(outcome)`).
pub(super) static FINISH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE actions SET status = $2, run_at = $3, lease_until = NULL, updated_at = $4, \
         last_error = $5 WHERE id = $1 AND status = {running}",
        running = lit(S::Running),
    )
});

/// [`FINISH`] for a group's plain finishes at once: this head, then a list of
/// `(id, status, at, last_error)` rows (`VALUES` on SQLite, `UNNEST` on
/// PostgreSQL) as `v`, then [`FINISH_MANY_TAIL`].
pub(super) const FINISH_MANY_HEAD: &str = "UPDATE actions SET status = v.status, run_at = v.at, \
     lease_until = NULL, updated_at = v.at, last_error = v.last_error FROM ";

/// Ends [`FINISH_MANY_HEAD`]: only actions still running move.
pub(super) static FINISH_MANY_TAIL: LazyLock<String> = LazyLock::new(|| {
    format!(
        " WHERE actions.id = v.id AND actions.status = {running}",
        running = lit(S::Running)
    )
});

/// Holds the queued DMs and tweets of a paused account ($1 handle, $2 id, $3
/// now), returning their ids (each held action is announced).
pub(super) static HOLD_PAUSED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE actions SET status = {to}, updated_at = $3 \
         WHERE status IN {from} AND kind IN ('scrapely.send_dm', 'scrapely.schedule_tweet') \
           AND (lower(account) = lower($1) OR account = $2) RETURNING id",
        to = lit(to(E::Hold)),
        from = sql_set(&[S::Pending, S::Failed]),
    )
});

/// Releases held actions whose account no pause names any more ($1 now).
pub(super) static RELEASE_UNPAUSED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE actions SET status = {to}, \
           run_at = CASE WHEN run_at > $1 THEN run_at ELSE $1 END, updated_at = $1 \
         WHERE status IN {from} AND account IS NOT NULL AND NOT EXISTS \
           (SELECT 1 FROM paused_accounts p WHERE p.account = lower(actions.account) \
              OR p.account_id = actions.account \
              OR (p.account = lower(p.account_id) AND NOT EXISTS (SELECT 1 FROM scrapely_accounts k \
                    WHERE k.handle = lower(actions.account) OR k.account_id = actions.account))) \
         RETURNING id, run_at",
        to = lit(to(E::Release)),
        from = sql_set(&from(E::Release)),
    )
});

/// Releases the held actions of one resumed account ($1 handle, $2 id, $3 now).
pub(super) static RELEASE_RESUMED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE actions SET status = {to}, run_at = CASE WHEN run_at > $3 THEN run_at ELSE $3 END, \
           updated_at = $3 WHERE status IN {from} AND (lower(account) = $1 OR account = $2) \
         RETURNING id, run_at",
        to = lit(to(E::Release)),
        from = sql_set(&from(E::Release)),
    )
});

/// [`Event::DoNotContact`]: cancels one queued DM of a person marked
/// do-not-contact ($1 id, $2 now, $3 why); the contact ledger runs it in the
/// block's transaction (`store::contacts`).
pub(super) static CANCEL_DO_NOT_CONTACT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE actions SET status = {to}, updated_at = $2, last_error = $3 \
         WHERE id = $1 AND kind = 'scrapely.send_dm' AND status IN {from}",
        to = lit(to(E::DoNotContact)),
        from = sql_set(&from(E::DoNotContact)),
    )
});

/// The queued DMs [`Event::DoNotContact`] may cancel, with their events (for their receivers).
pub(super) static QUEUED_DMS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT a.id, a.params, e.source, e.kind, CAST(e.payload AS TEXT) FROM actions a \
         JOIN events e ON e.id = a.event_id WHERE a.kind = 'scrapely.send_dm' AND a.status IN {from}",
        from = sql_set(&from(E::DoNotContact)),
    )
});

/// What a worker found when it tried to take an action.
#[derive(Debug)]
pub enum Claim {
    Claimed(ActionRow),
    /// Not due yet: due at this time (ms).
    NotYet(i64),
    /// Another run holds it until this time (ms).
    Busy(i64),
    /// Nothing to do: it is in this status (finished, held, cancelled), or gone.
    Nothing(Option<S>),
}

/// Takes an action that is due and not held by a live run; a run whose lease has
/// expired (its worker died mid-call) is taken over.
pub async fn claim(
    store: &Store,
    id: i64,
    now: i64,
    lease: Duration,
) -> Result<Claim, sqlx::Error> {
    let lease_until = now + lease.as_millis() as i64;
    let claimed = on_pool!(store, pool => sqlx::query_as::<_, ActionRow>(CLAIM.as_str())
        .bind(id).bind(now).bind(lease_until).fetch_optional(pool).await)?;
    if let Some(row) = claimed {
        return Ok(Claim::Claimed(row));
    }
    Ok(match super::action_rows::get(store, id).await? {
        None => Claim::Nothing(None),
        Some(a) if from(E::Claim).contains(&a.status) => Claim::NotYet(a.run_at),
        Some(a) if a.status == S::Running => Claim::Busy(a.lease_until.unwrap_or(now)),
        Some(a) => Claim::Nothing(Some(a.status)),
    })
}

/// Why a claimed action is given back without spending an attempt.
#[derive(Debug, Clone)]
pub enum GiveBack<'a> {
    /// Run again after this long (a job is pushed for then).
    Wait(Duration),
    /// Its account is paused: held until it is resumed, with this note.
    Hold(&'a str),
}

/// Gives a claimed action back ([`Event::Wait`] or [`Event::Hold`]).
pub async fn give_back(
    store: &Store,
    action: &ActionRow,
    why: GiveBack<'_>,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let (to, wait, note) = match why {
        GiveBack::Wait(wait) => (to(E::Wait), Some(wait), None),
        GiveBack::Hold(note) => (S::Held, None, Some(note)),
    };
    let run_at = now + wait.map_or(0, |d| d.as_millis() as i64);
    in_tx!(store, tx => {
        let moved = sqlx::query(GIVE_BACK.as_str()).bind(action.id).bind(to.as_str()).bind(run_at).bind(now).bind(note)
            .execute(&mut *tx).await?.rows_affected();
        if moved == 1 && let Some(delay) = wait {
            tx.push_jobs(&[(action.id, delay)]).await?;
        }
    });
    Ok(())
}

/// [`Event::Retry`]: a new attempt series for one action (`Some(id)`) or every
/// dead action (of `rule`, if given), each with its job. Returns the ids moved.
pub async fn retry(
    store: &Store,
    id: Option<i64>,
    rule: Option<&str>,
) -> Result<Vec<i64>, sqlx::Error> {
    let which = match id {
        Some(_) => format!("id = $1 AND status IN {}", sql_set(&from(E::Retry))),
        None => format!(
            "status = {} AND ($3 IS NULL OR rule = $3) AND $1 = $1",
            lit(S::Dead)
        ),
    };
    let sql = format!(
        "UPDATE actions SET status = {to}, attempts = 0, series = series + 1, run_at = $2, \
         updated_at = $2, last_error = NULL, lease_until = NULL WHERE {which} RETURNING id",
        to = lit(to(E::Retry)),
    );
    let now = now_ms();
    Ok(in_tx!(store, tx => {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id.unwrap_or(0)).bind(now).bind(rule)
            .fetch_all(&mut *tx).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?;
        let jobs: Vec<_> = ids.iter().map(|id| (*id, Duration::ZERO)).collect();
        tx.push_jobs(&jobs).await?;
        ids
    }))
}

/// [`Event::Cancel`]: an action not yet sent never will be. Returns whether it moved.
pub async fn cancel(store: &Store, id: i64, why: &str) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "UPDATE actions SET status = {to}, updated_at = $2, last_error = $3 WHERE id = $1 AND status IN {from}",
        to = lit(to(E::Cancel)),
        from = sql_set(&from(E::Cancel)),
    );
    let moved = in_tx!(store, tx => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id).bind(now_ms()).bind(why).execute(&mut *tx).await?.rows_affected());
    Ok(moved == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_but_abandoned_moves_a_running_action() {
        for outcome in AttemptOutcome::ALL {
            let rows: Vec<_> = TRANSITIONS
                .iter()
                .filter(|t| t.event == E::Finish(outcome))
                .collect();
            match outcome {
                O::Abandoned => assert!(rows.is_empty()),
                _ => {
                    assert_eq!(rows.len(), 1, "{outcome}");
                    assert_eq!(rows[0].from, &[S::Running], "{outcome}");
                }
            }
        }
        assert_eq!(after(O::Reconciled), Some(S::Succeeded));
        assert_eq!(after(O::Retry), Some(S::Failed));
    }

    #[test]
    fn every_status_is_reachable_and_only_final_ones_wait_for_a_person() {
        for status in S::ALL {
            assert!(
                TRANSITIONS.iter().any(|t| t.to == status),
                "{status} is never reached"
            );
            let by_person = TRANSITIONS
                .iter()
                .filter(|t| t.from.contains(&status))
                .all(|t| matches!(t.event, E::Retry | E::Cancel));
            assert_eq!(status.is_final(), by_person, "{status}");
        }
    }

    #[test]
    fn the_sql_says_what_the_table_says() {
        assert!(CLAIM.contains("status = 'running'") && CLAIM.contains("('pending', 'failed')"));
        assert!(HOLD_PAUSED.contains("status = 'held'"));
        assert!(
            RELEASE_RESUMED.contains("status = 'pending'") && RELEASE_RESUMED.contains("('held')")
        );
        assert!(UNCLAIM.contains("status = 'pending'") && UNCLAIM.contains("('running')"));
        for to in TRANSITIONS.iter().filter(|t| t.event == E::Hold) {
            assert_eq!(to.to, S::Held);
        }
    }
}
