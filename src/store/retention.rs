//! Retention's SQL: one pass deletes (or, dry, counts) what is older than the
//! cutoffs, in small batches, each its own short transaction.
//!
//! What goes with an event (migrations' foreign keys): its sightings, its rule
//! matches, its actions and, with each action, its attempts, its DM delivery
//! proof (`dm_deliveries`) and its scheduled-tweet record (`scheduled_tweets`).
//! An event goes only when it was last seen before the cutoff and every action
//! of it [may be pruned](ActionStatus::may_be_pruned) (done, and not
//! `outcome_unknown`), none with a scheduled tweet Scrapely has not posted yet
//! (the tweet follower still looks for it). The job queue's finished jobs go
//! after the same time ([`jobs`]). What never goes: the contact ledger
//! (`contact_claims`, `contact_ledger`, `contact_blocks`, `contact_aliases`, which
//! outlive their actions since migration `…000080`), cooldowns, paused accounts,
//! rate-limit state and streams.
//!
//! Each table is walked by id (insertion order, which is time order) up to the
//! first row newer than the cutoff, so a pass reads the old rows and one batch
//! more, never the whole table. Candidates are read outside any transaction;
//! each batch's transaction checks them again (a person may have re-run a dead
//! action since) and deletes children before parents. On SQLite that
//! transaction is `BEGIN IMMEDIATE` like every other writer's, and holds the
//! lock for one batch only, so the group-commit writer waits milliseconds; a
//! deleting pass then rests as long as the batch took ([`rest_after`]).

use super::Store;
use super::action_rows::{in_tx, on_pool};
use super::status::{ActionStatus, sql_set};
use crate::clock::format_utc;
use deletions::{Count, add, deletions, id_list};
use sqlx::AssertSqlSafe;
use time::OffsetDateTime;

mod deletions;
mod jobs;

/// What is old enough to go; `None`: that kind is kept forever.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cutoffs {
    /// Events and quarantined payloads last seen before this.
    pub events_before: Option<OffsetDateTime>,
    /// Attempts (of actions that may be pruned) started before this.
    pub attempts_before: Option<OffsetDateTime>,
}

/// Delete, or only count what a deleting pass would delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Delete,
    DryRun,
}

/// Rows deleted (or that would be), per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub events: u64,
    pub event_sightings: u64,
    pub rule_matches: u64,
    pub actions: u64,
    pub action_attempts: u64,
    pub dm_deliveries: u64,
    pub scheduled_tweets: u64,
    pub quarantine: u64,
    /// The job queue's finished jobs (`Jobs`, `apalis.jobs`).
    pub jobs: u64,
}

impl Pruned {
    /// (table, rows) in the order a report lists them.
    pub fn tables(&self) -> [(&'static str, u64); 9] {
        [
            ("events", self.events),
            ("event_sightings", self.event_sightings),
            ("rule_matches", self.rule_matches),
            ("actions", self.actions),
            ("action_attempts", self.action_attempts),
            ("dm_deliveries", self.dm_deliveries),
            ("scheduled_tweets", self.scheduled_tweets),
            ("quarantine", self.quarantine),
            ("jobs", self.jobs),
        ]
    }

    pub fn total(&self) -> u64 {
        self.tables().iter().map(|(_, n)| n).sum()
    }
}

/// One pass over every table the cutoffs name: attempts first, then events
/// with what goes with them, then quarantine, then the queue's finished jobs. `on_batch` hears the running
/// totals after each batch (progress).
pub async fn pass(
    store: &Store,
    cutoffs: &Cutoffs,
    batch: u32,
    mode: Mode,
    on_batch: &mut (dyn FnMut(&Pruned) + Send + Sync),
) -> Result<Pruned, sqlx::Error> {
    let mut totals = Pruned::default();
    let mut walk = Walk {
        store,
        batch: i64::from(batch.max(1)),
        mode,
        attempts_before: cutoffs.attempts_before.map(unix_ms),
        totals: &mut totals,
        on_batch,
    };
    if let Some(before) = cutoffs.attempts_before {
        walk.run(Table::Attempts, &Cut::Ms(unix_ms(before))).await?;
    }
    if let Some(before) = cutoffs.events_before {
        let cut = Cut::Text(format_utc(before));
        walk.run(Table::Events, &cut).await?;
        walk.run(Table::Quarantine, &cut).await?;
        let secs = before.unix_timestamp() as f64;
        let on_batch = &mut *walk.on_batch;
        let mut seen = 0;
        let jobs = jobs::prune(store, secs, walk.batch, mode, &mut |n| {
            seen += n;
            let mut so_far = *walk.totals;
            so_far.jobs = seen;
            on_batch(&so_far);
        })
        .await?;
        walk.totals.jobs = jobs;
    }
    Ok(totals)
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The cutoff as bound: RFC 3339 text for the events' and quarantine's times
/// (TEXT on SQLite, TIMESTAMPTZ on PostgreSQL, see [`time_arg`]), milliseconds
/// for the attempts'.
enum Cut {
    Text(String),
    Ms(i64),
}

/// Binds the cutoff as `$1`.
macro_rules! bind_cut {
    ($query:expr, $cut:expr) => {
        match $cut {
            Cut::Text(text) => $query.bind(text.clone()),
            Cut::Ms(ms) => $query.bind(*ms),
        }
    };
}

/// `$1` as a time: SQLite compares its RFC 3339 text (written by `format_utc`,
/// so text order is time order); PostgreSQL casts it to its TIMESTAMPTZ.
fn time_arg(store: &Store) -> &'static str {
    match store {
        Store::Sqlite(_) => "$1",
        Store::Postgres(_) => "CAST($1 AS TIMESTAMPTZ)",
    }
}

#[derive(Debug, Clone, Copy)]
enum Table {
    Attempts,
    Events,
    Quarantine,
}

/// The event `alias` may go: none of its actions waits for anything or anyone.
fn event_may_go(alias: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM actions a WHERE a.event_id = {alias}.id AND \
         (a.status NOT IN {} OR EXISTS (SELECT 1 FROM scheduled_tweets st \
          WHERE st.action_id = a.id AND st.status = 'pending')))",
        sql_set(&ActionStatus::prunable())
    )
}

impl Table {
    /// The table's rows (aliased) that are old enough and may go, `$1` the cutoff.
    fn old_rows(self, store: &Store) -> String {
        let t = time_arg(store);
        match self {
            Table::Attempts => format!(
                "action_attempts x JOIN actions a ON a.id = x.action_id \
                 WHERE x.started_at < $1 AND a.status IN {}",
                sql_set(&ActionStatus::prunable())
            ),
            Table::Events => {
                format!(
                    "events x WHERE x.last_seen_at < {t} AND {}",
                    event_may_go("x")
                )
            }
            Table::Quarantine => {
                format!("quarantine x WHERE COALESCE(x.last_seen_at, x.received_at) < {t}")
            }
        }
    }

    /// The first row not older than the cutoff: the walk stops there.
    fn horizon(self, store: &Store) -> String {
        let t = time_arg(store);
        match self {
            Table::Attempts => {
                "SELECT id FROM action_attempts WHERE started_at >= $1 ORDER BY id LIMIT 1".into()
            }
            Table::Events => {
                format!("SELECT id FROM events WHERE received_at >= {t} ORDER BY id LIMIT 1")
            }
            Table::Quarantine => {
                format!("SELECT id FROM quarantine WHERE received_at >= {t} ORDER BY id LIMIT 1")
            }
        }
    }
}

/// Rests as long as the batch took (at most [`MAX_REST`]) before the next:
/// SQLite's lock is not fair, and a writer waiting in its busy handler would
/// otherwise find the next batch holding it again. So a backlog (retention
/// turned on over a year of events) takes at most half of the database's time.
async fn rest_after(took: std::time::Duration) {
    tokio::time::sleep(took.min(MAX_REST)).await;
}

/// The longest rest between two batches.
const MAX_REST: std::time::Duration = std::time::Duration::from_millis(500);

/// One pass's state: where it writes its totals and whom it tells.
struct Walk<'a> {
    store: &'a Store,
    batch: i64,
    mode: Mode,
    /// The attempts' cutoff (ms): a dry run's events do not count the attempts
    /// its attempts walk counted already.
    attempts_before: Option<i64>,
    totals: &'a mut Pruned,
    on_batch: &'a mut (dyn FnMut(&Pruned) + Send + Sync),
}

impl Walk<'_> {
    async fn run(&mut self, table: Table, cut: &Cut) -> Result<(), sqlx::Error> {
        let store = self.store;
        let horizon_sql = AssertSqlSafe(table.horizon(store));
        let horizon: Option<i64> = on_pool!(store, pool => {
            bind_cut!(sqlx::query_scalar(horizon_sql), cut).fetch_optional(pool).await
        })?;
        let horizon = horizon.unwrap_or(i64::MAX);
        let candidates = format!(
            "SELECT x.id FROM {} AND x.id > $2 AND x.id < $3 ORDER BY x.id LIMIT $4",
            table.old_rows(store)
        );
        let mut cursor = 0i64;
        loop {
            let sql = AssertSqlSafe(candidates.clone());
            let ids: Vec<i64> = on_pool!(store, pool => {
                bind_cut!(sqlx::query_scalar(sql), cut)
                    .bind(cursor)
                    .bind(horizon)
                    .bind(self.batch)
                    .fetch_all(pool)
                    .await
            })?;
            let Some(&last) = ids.last() else {
                return Ok(());
            };
            cursor = last;
            let started = std::time::Instant::now();
            let step = match self.mode {
                Mode::Delete => self.delete(table, cut, &ids).await?,
                Mode::DryRun => self.count(table, &ids).await?,
            };
            let took = started.elapsed();
            add(self.totals, &step);
            (self.on_batch)(self.totals);
            if (ids.len() as i64) < self.batch {
                return Ok(());
            }
            if self.mode == Mode::Delete {
                rest_after(took).await;
            }
        }
    }

    /// Deletes the batch's rows that still may go, children first, in one transaction.
    async fn delete(&self, table: Table, cut: &Cut, ids: &[i64]) -> Result<Pruned, sqlx::Error> {
        let store = self.store;
        let confirm = AssertSqlSafe(format!(
            "SELECT x.id FROM {} AND x.id IN ({})",
            table.old_rows(store),
            id_list(ids)
        ));
        let mut step = Pruned::default();
        in_tx!(store, tx => {
            let ids: Vec<i64> = bind_cut!(sqlx::query_scalar(confirm), cut).fetch_all(&mut *tx).await?;
            for (statement, count) in deletions(table, &ids) {
                let done = sqlx::query(AssertSqlSafe(statement)).execute(&mut *tx).await?;
                *count.of(&mut step) += done.rows_affected();
            }
        });
        Ok(step)
    }

    /// What [`Self::delete`] would delete of the batch.
    async fn count(&self, table: Table, ids: &[i64]) -> Result<Pruned, sqlx::Error> {
        let store = self.store;
        let mut step = Pruned::default();
        for (statement, count) in deletions(table, ids) {
            let mut select = statement.replacen("DELETE FROM", "SELECT COUNT(*) FROM", 1);
            if let (Count::Attempts, Table::Events, Some(before)) =
                (count, table, self.attempts_before)
            {
                // Those went already in this pass's attempts walk.
                select.push_str(&format!(" AND started_at >= {before}"));
            }
            let n: i64 = on_pool!(store, pool => {
                sqlx::query_scalar(AssertSqlSafe(select)).fetch_one(pool).await
            })?;
            *count.of(&mut step) += n as u64;
        }
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_waits_for_every_action_not_done_and_every_tweet_not_posted() {
        let sql = event_may_go("e");
        let set = sql.split("NOT IN (").nth(1).unwrap();
        let set = &set[..set.find(')').unwrap()];
        for status in ActionStatus::ALL {
            let listed = set.contains(&format!("'{status}'"));
            assert_eq!(listed, status.may_be_pruned(), "{status}: {sql}");
        }
        assert!(!ActionStatus::OutcomeUnknown.may_be_pruned());
        assert!(ActionStatus::Dead.may_be_pruned());
        assert!(sql.contains("st.status = 'pending'"), "{sql}");
    }
}
