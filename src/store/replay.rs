//! Replay: stored events through the current rules, by the writer's own step.
//!
//! A page of events (oldest first, by id) is replayed in one transaction, the
//! way the writer decides on an event it stores: each rule that has not decided
//! on an event yet (no `rule_matches` row, or only a failed evaluation) decides
//! now, and [`act_on`] claims its cooldown, records the match and creates the
//! fired actions with their jobs. What already ran is not run again, by the
//! same unique keys that make a better version of an event safe: a rule decides
//! once per `(event, rule)`, an action exists once per `(event, rule, index)`. So
//! a replay racing `starling serve` on the same database (SQLite: one writer at a
//! time, `BEGIN IMMEDIATE` and the busy timeout; PostgreSQL: the unique indexes)
//! cannot duplicate what the server does at the same moment, and a second replay
//! of the same window finds nothing new.
//!
//! Cooldowns are claimed through the same claim as live events, from the
//! replay's time (its actions run now, so "once per author in 30 days" counts
//! from now). A dry run does everything in each page's transaction and rolls it
//! back: what it reports is what a real run would have done at that moment; the
//! cooldown keys claimed by earlier pages are carried over in memory.
//!
//! A replay does not do what storing an event did besides the rules: an
//! `account_paused` event does not pause its account again.

use super::Store;
use super::action_rows::now_ms;
use super::jobs::PushJobs;
use super::outbox::{OutboxConn, OutboxMode};
use super::ratelimit::RateConn;
use super::writer::{GroupSql, Verdicts, act_on};
use crate::clock::format_utc;
use crate::rules::{Decision, EventContext, EventMeta, RuleSet};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};
use time::OffsetDateTime;

/// Events replayed per transaction: short enough that a server writing to the
/// same SQLite file waits milliseconds for its turn, long enough to amortize a commit.
pub const PAGE_EVENTS: i64 = 200;

/// Which stored events to replay: received at or after `since`, before `until`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub since: OffsetDateTime,
    pub until: Option<OffsetDateTime>,
}

/// What a replay did (or, dry, would do) with one rule.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleTally {
    /// Events the rule matches today (decided before or now).
    pub matched: u64,
    /// Of those, events it had decided on already: left as they are.
    pub already_decided: u64,
    /// New decisions: fired, held by a cooldown claim, failed evaluations.
    pub fired: u64,
    pub held_by_cooldown: u64,
    pub errors: u64,
    /// Actions created by this replay.
    pub actions_new: u64,
    /// Actions of the matched events that were there already (not run again).
    pub actions_existing: u64,
}

/// A replay's progress and results, kept across pages.
#[derive(Debug, Default)]
pub struct Replay {
    /// Per rule, in the rule set's order.
    pub rules: BTreeMap<String, RuleTally>,
    pub events: u64,
    /// The last event id replayed: the next page starts after it.
    pub after_id: i64,
    /// `(rule, cooldown key)` claimed by earlier pages of this run, and until when
    /// (a dry run rolled those claims back).
    held: HashMap<(String, String), OffsetDateTime>,
}

/// What to replay and how.
pub struct Options<'a> {
    pub window: Window,
    /// Only this rule's decisions.
    pub rule: Option<&'a str>,
    /// Roll every page back: report, write nothing.
    pub dry_run: bool,
    pub mode: &'a OutboxMode,
}

impl Replay {
    /// A replay of `rules` (or only `only`), every tally at zero.
    pub fn new(rules: &RuleSet, only: Option<&str>) -> Self {
        let rules = rules
            .rules
            .iter()
            .filter(|r| only.is_none_or(|n| n == r.name))
            .map(|r| (r.name.clone(), RuleTally::default()))
            .collect();
        Self {
            rules,
            ..Self::default()
        }
    }
}

/// How many stored events the window holds (for the progress bar).
pub async fn count(store: &Store, window: Window) -> Result<u64, sqlx::Error> {
    let sql =
        "SELECT COUNT(*) FROM events WHERE received_at >= $1 AND ($2 IS NULL OR received_at < $2)";
    let n: i64 = match store {
        Store::Sqlite(pool) => {
            sqlx::query_scalar(sql)
                .bind(format_utc(window.since))
                .bind(window.until.map(format_utc))
                .fetch_one(pool)
                .await?
        }
        Store::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM events WHERE received_at >= $1 AND ($2::timestamptz IS NULL OR received_at < $2)",
            )
            .bind(window.since)
            .bind(window.until)
            .fetch_one(pool)
            .await?
        }
    };
    Ok(n as u64)
}

/// Replays the next page of events into `replay`; returns how many it held
/// (0: the window is done).
pub async fn next_page(
    store: &Store,
    rules: &RuleSet,
    replay: &mut Replay,
    options: &Options<'_>,
) -> Result<usize, sqlx::Error> {
    match store {
        Store::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let n = page_in(&mut *tx, rules, replay, options).await?;
            finish(tx, options.dry_run).await?;
            Ok(n)
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let n = page_in(&mut *tx, rules, replay, options).await?;
            finish(tx, options.dry_run).await?;
            Ok(n)
        }
    }
}

async fn finish<DB: sqlx::Database>(
    tx: sqlx::Transaction<'_, DB>,
    dry_run: bool,
) -> Result<(), sqlx::Error> {
    if dry_run {
        tx.rollback().await
    } else {
        tx.commit().await
    }
}

/// A stored event as a rule sees it.
struct Stored {
    id: i64,
    source: String,
    kind: String,
    dedupe_key: String,
    received_at: String,
    channels: Vec<String>,
    payload: serde_json::Value,
}

impl Stored {
    fn context(&self) -> EventContext {
        let channels: Vec<&str> = self.channels.iter().map(String::as_str).collect();
        let meta = EventMeta {
            id: Some(self.id),
            source: &self.source,
            kind: &self.kind,
            dedupe_key: &self.dedupe_key,
            received_at: &self.received_at,
            channels: &channels,
        };
        EventContext::new(meta, crate::event::rule_data(&self.source, &self.payload))
    }
}

/// The reads a replay needs inside its transaction, in each backend's SQL.
trait ReplaySql {
    async fn page(&mut self, window: Window, after_id: i64) -> Result<Vec<Stored>, sqlx::Error>;
    /// (event, rule) pairs already decided (not failed) among events `lo..=hi`.
    async fn decided_between(
        &mut self,
        lo: i64,
        hi: i64,
    ) -> Result<HashSet<(i64, String)>, sqlx::Error>;
    /// Actions stored per (event, rule) among events `lo..=hi`.
    async fn actions_between(
        &mut self,
        lo: i64,
        hi: i64,
    ) -> Result<HashMap<(i64, String), u64>, sqlx::Error>;
}

const DECIDED: &str = "SELECT event_id, rule FROM rule_matches \
    WHERE event_id >= $1 AND event_id <= $2 AND outcome <> 'error'";
const ACTIONS: &str = "SELECT event_id, rule, COUNT(*) FROM actions \
    WHERE event_id >= $1 AND event_id <= $2 GROUP BY event_id, rule";
const PAGE_SQLITE: &str = "SELECT id, source, kind, dedupe_key, received_at, channels, payload \
    FROM events WHERE id > $1 AND received_at >= $2 AND ($3 IS NULL OR received_at < $3) \
    ORDER BY id LIMIT $4";
const PAGE_POSTGRES: &str = "SELECT id, source, kind, dedupe_key, received_at, channels::text, payload::text \
    FROM events WHERE id > $1 AND received_at >= $2 AND ($3::timestamptz IS NULL OR received_at < $3) \
    ORDER BY id LIMIT $4";

macro_rules! replay_sql {
    ($conn:ty, $page:expr, $bind_time:expr, $received:expr) => {
        impl ReplaySql for $conn {
            async fn page(
                &mut self,
                window: Window,
                after_id: i64,
            ) -> Result<Vec<Stored>, sqlx::Error> {
                let rows = sqlx::query($page)
                    .bind(after_id)
                    .bind($bind_time(window.since))
                    .bind(window.until.map($bind_time))
                    .bind(PAGE_EVENTS)
                    .fetch_all(&mut *self)
                    .await?;
                rows.iter()
                    .map(|row| {
                        let json = |i: usize| -> Result<serde_json::Value, sqlx::Error> {
                            let text: String = row.try_get(i)?;
                            serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode {
                                index: i.to_string(),
                                source: Box::new(e),
                            })
                        };
                        Ok(Stored {
                            id: row.try_get(0)?,
                            source: row.try_get(1)?,
                            kind: row.try_get(2)?,
                            dedupe_key: row.try_get(3)?,
                            received_at: $received(row)?,
                            channels: serde_json::from_value(json(5)?).unwrap_or_default(),
                            payload: json(6)?,
                        })
                    })
                    .collect()
            }

            async fn decided_between(
                &mut self,
                lo: i64,
                hi: i64,
            ) -> Result<HashSet<(i64, String)>, sqlx::Error> {
                let rows: Vec<(i64, String)> = sqlx::query_as(DECIDED)
                    .bind(lo)
                    .bind(hi)
                    .fetch_all(&mut *self)
                    .await?;
                Ok(rows.into_iter().collect())
            }

            async fn actions_between(
                &mut self,
                lo: i64,
                hi: i64,
            ) -> Result<HashMap<(i64, String), u64>, sqlx::Error> {
                let rows: Vec<(i64, String, i64)> = sqlx::query_as(ACTIONS)
                    .bind(lo)
                    .bind(hi)
                    .fetch_all(&mut *self)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(e, r, n)| ((e, r), n as u64))
                    .collect())
            }
        }
    };
}

replay_sql!(
    sqlx::SqliteConnection,
    PAGE_SQLITE,
    format_utc,
    |row: &sqlx::sqlite::SqliteRow| row.try_get::<String, _>(4)
);
replay_sql!(
    sqlx::PgConnection,
    PAGE_POSTGRES,
    std::convert::identity::<OffsetDateTime>,
    |row: &sqlx::postgres::PgRow| row.try_get::<OffsetDateTime, _>(4).map(format_utc)
);

/// One page inside the caller's transaction.
async fn page_in(
    conn: &mut (impl ReplaySql + GroupSql + OutboxConn + PushJobs + RateConn),
    rules: &RuleSet,
    replay: &mut Replay,
    options: &Options<'_>,
) -> Result<usize, sqlx::Error> {
    let events = conn.page(options.window, replay.after_id).await?;
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Ok(0);
    };
    let (lo, hi) = (first.id, last.id);
    let decided = conn.decided_between(lo, hi).await?;
    let existing = conn.actions_between(lo, hi).await?;
    // Every selected rule's decision on every event: the ones already decided
    // are only counted; the others are acted on.
    let mut new: Vec<(i64, Vec<Decision>)> = Vec::with_capacity(events.len());
    for event in &events {
        let mut fresh = Vec::new();
        // No rule listens to this kind: skip building its context.
        let decisions = match rules.handles(&event.kind) {
            true => rules.decide_on(&event.context(), &event.dedupe_key),
            false => Vec::new(),
        };
        for decision in decisions {
            let Some(tally) = replay.rules.get_mut(&decision.rule) else {
                continue; // not the rule asked for
            };
            let key = (event.id, decision.rule.clone());
            if decided.contains(&key) {
                if decision.error.is_none() {
                    tally.matched += 1;
                    tally.already_decided += 1;
                    tally.actions_existing += existing.get(&key).copied().unwrap_or(0);
                }
                continue;
            }
            if decision.error.is_none() {
                tally.matched += 1;
                tally.actions_existing += existing.get(&key).copied().unwrap_or(0);
            }
            fresh.push(decision);
        }
        new.push((event.id, fresh));
    }
    let claim_at = OffsetDateTime::now_utc();
    let verdicts: Vec<Verdicts> = new
        .iter()
        .map(|(event_id, decisions)| Verdicts {
            event_id: *event_id,
            claim_at,
            decisions,
        })
        .collect();
    let acted = act_on(conn, &verdicts, &replay.held, now_ms(), options.mode).await?;
    let decisions = new.iter().flat_map(|(_, d)| d.iter());
    for (decision, outcome) in decisions.zip(&acted.outcomes) {
        let tally = replay.rules.get_mut(&decision.rule).expect("counted above");
        match *outcome {
            "fired" => tally.fired += 1,
            "cooldown" => tally.held_by_cooldown += 1,
            _ => tally.errors += 1,
        }
        if let (Some((key, window)), "fired") = (&decision.cooldown, *outcome) {
            let until = claim_at + *window;
            replay
                .held
                .insert((decision.rule.clone(), key.clone()), until);
        }
    }
    for (_, rule) in acted.created {
        if let Some(tally) = replay.rules.get_mut(&rule) {
            tally.actions_new += 1;
        }
    }
    replay.events += events.len() as u64;
    replay.after_id = hi;
    Ok(events.len())
}
