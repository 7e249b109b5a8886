//! The console's hourly rollup (tables `console_hours`, `console_hourly`): per
//! hour, events by kind, replies by intent, finished attempts by outcome and a
//! histogram of their vendor call latency.
//!
//! An hour that has ended never changes, so [`roll`] counts it once and keeps the
//! counts; [`read`] serves a window from the kept hours and counts only the hours
//! not rolled yet (the current one, the one in its grace period) live, each a
//! range read on `events_received_at` / `action_attempts_finished_at`. Kept
//! hours are final, so a process reads each one's counts once ([`Cache`]): a
//! month of a million events then costs a page the window's hour numbers and
//! the live hour.
//!
//! Exactly once, with any number of replicas rolling: an hour's row in
//! `console_hours` is inserted (`ON CONFLICT DO NOTHING`) in the transaction that
//! writes its counts, and a roller whose insert found the row already there
//! writes nothing. [`read`] takes the rolled hours first and their counts after
//! (committed with them), and counts live whatever was not in that first list,
//! so an hour rolled while a page is read is counted once.
//!
//! Late arrivals: an event or attempt stamped with an hour that was already
//! rolled (committed more than [`GRACE_SECS`] after its hour ended, or written
//! with an old time by hand) is not added to that hour: rolled hours are final.
//! Retention does not touch these tables: a pruned event stays counted.

use super::Store;
use super::action_rows::{in_tx, now_ms, on_pool};
use crate::clock::format_utc;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock, Mutex};
use time::OffsetDateTime;

/// Seconds in an hour; hours are named by their start (Unix seconds, UTC).
pub const HOUR: i64 = 3600;

/// How long after its end an hour is rolled. Events are stamped when received
/// and committed moments later (seconds while the database is slow), attempts
/// likewise, and replicas' clocks differ a little; whatever commits after its
/// hour was rolled is not counted, so the roller leaves each hour this long.
pub const GRACE_SECS: i64 = 300;

/// Hours kept: the longest window the console charts (30 days). Older hours are
/// neither rolled nor kept.
pub const KEEP_HOURS: i64 = 30 * 24;

/// Upper bounds (ms) of the latency histogram's buckets; the last bucket,
/// [`INF`], takes every slower call.
pub const LATENCY_BOUNDS_MS: [i64; 22] = [
    5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500,
    10000, 20000, 30000, 60000,
];
pub const INF: &str = "+Inf";

/// What a count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Series {
    /// Events received, by kind.
    Events,
    /// Attempts finished, by outcome.
    Outcomes,
    /// Attempts with a latency, by histogram bucket (upper bound in ms).
    Latency,
    /// Replies received, by intent.
    Intents,
}

impl Series {
    pub const ALL: [Series; 4] = [
        Series::Events,
        Series::Outcomes,
        Series::Latency,
        Series::Intents,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Series::Events => "events",
            Series::Outcomes => "outcomes",
            Series::Latency => "latency",
            Series::Intents => "intents",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One hour's counts by (series, key).
pub type Counts = BTreeMap<(Series, String), i64>;

/// The (key, count) pairs of `series` in `counts`, by key.
pub fn series_of(counts: &Counts, series: Series) -> impl Iterator<Item = (&str, i64)> {
    counts
        .range((series, String::new())..)
        .take_while(move |((s, _), _)| *s == series)
        .map(|((_, key), n)| (key.as_str(), *n))
}

/// A window's counts by hour (every hour of the window present, empty or not).
#[derive(Debug, Default)]
pub struct Hours {
    pub by_hour: BTreeMap<i64, Arc<Counts>>,
    /// How many of the hours came from the rollup, and how many were counted live.
    pub rolled: usize,
    pub live: usize,
}

/// The start of the hour `at` falls in.
pub fn hour_of(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(HOUR) * HOUR
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).expect("an hour within time's range")
}

const EVENTS_OF_HOUR: &str = "SELECT kind, intent, count(*) FROM events \
     WHERE received_at >= $1 AND received_at < $2 GROUP BY kind, intent";

static ATTEMPTS_OF_HOUR: LazyLock<String> = LazyLock::new(|| {
    let buckets: String = LATENCY_BOUNDS_MS
        .iter()
        .map(|b| format!(" WHEN latency_ms <= {b} THEN '{b}'"))
        .collect();
    format!(
        "SELECT outcome, CASE WHEN latency_ms IS NULL THEN NULL{buckets} ELSE '{INF}' END AS le, \
         count(*) FROM action_attempts \
         WHERE finished_at >= $1 AND finished_at < $2 AND outcome IS NOT NULL GROUP BY outcome, le"
    )
});

const ROLLED_SINCE: &str = "SELECT hour FROM console_hours WHERE hour >= $1";
const INSERT_HOUR: &str =
    "INSERT INTO console_hours (hour, rolled_at) VALUES ($1, $2) ON CONFLICT (hour) DO NOTHING";
const INSERT_COUNT: &str =
    "INSERT INTO console_hourly (hour, series, key, n) VALUES ($1, $2, $3, $4)";
const FORGET_HOURS: &str = "DELETE FROM console_hours WHERE hour < $1";
const FORGET_COUNTS: &str = "DELETE FROM console_hourly WHERE hour < $1";
const ROLLED_BETWEEN: &str =
    "SELECT hour FROM console_hours WHERE hour >= $1 AND hour <= $2 ORDER BY hour";
const READ_ROLLED: &str =
    "SELECT hour, series, key, n FROM console_hourly WHERE hour >= $1 AND hour <= $2";

type Grouped = Vec<(String, Option<String>, i64)>;

/// Counts the hour starting at `hour` from the events and attempts tables.
pub async fn count_hour(store: &Store, hour: i64) -> Result<Counts, sqlx::Error> {
    let (from, to) = (at(hour), at(hour + HOUR));
    let events: Grouped = match store {
        // SQLite keeps times as sortable RFC 3339 text (`clock::format_utc`).
        Store::Sqlite(pool) => {
            sqlx::query_as(EVENTS_OF_HOUR)
                .bind(format_utc(from))
                .bind(format_utc(to))
                .fetch_all(pool)
                .await?
        }
        Store::Postgres(pool) => {
            sqlx::query_as(EVENTS_OF_HOUR)
                .bind(from)
                .bind(to)
                .fetch_all(pool)
                .await?
        }
    };
    let attempts: Grouped = on_pool!(store, pool => sqlx::query_as(ATTEMPTS_OF_HOUR.as_str())
        .bind(hour * 1000)
        .bind((hour + HOUR) * 1000)
        .fetch_all(pool)
        .await)?;
    let mut counts = Counts::new();
    let mut add = |series: Series, key: String, n: i64| {
        *counts.entry((series, key)).or_default() += n;
    };
    for (kind, intent, n) in events {
        if let Some(intent) = intent {
            add(Series::Intents, intent, n);
        }
        add(Series::Events, kind, n);
    }
    for (outcome, bucket, n) in attempts {
        if let Some(bucket) = bucket {
            add(Series::Latency, bucket, n);
        }
        add(Series::Outcomes, outcome, n);
    }
    Ok(counts)
}

/// The hours due to be rolled at `now`, oldest first: ended at least
/// [`GRACE_SECS`] ago, within the last [`KEEP_HOURS`], not rolled yet.
async fn due(store: &Store, now: OffsetDateTime) -> Result<Vec<i64>, sqlx::Error> {
    let first = hour_of(now) - (KEEP_HOURS - 1) * HOUR;
    let last = hour_of(now - time::Duration::seconds(GRACE_SECS)) - HOUR;
    let rolled: Vec<i64> = on_pool!(store, pool => sqlx::query_scalar(ROLLED_SINCE)
        .bind(first)
        .fetch_all(pool)
        .await)?;
    let rolled: BTreeSet<i64> = rolled.into_iter().collect();
    Ok((first..=last)
        .step_by(HOUR as usize)
        .filter(|h| !rolled.contains(h))
        .collect())
}

/// Hours kept per write transaction while catching up: a commit is an fsync on
/// SQLite, and a month of hours one by one is 720 of them.
const HOURS_PER_COMMIT: usize = 24;

/// Keeps each hour's counts, unless another roller already kept that hour's
/// (then nothing is written for it). How many hours this call kept.
async fn keep(store: &Store, hours: &[(i64, Counts)]) -> Result<usize, sqlx::Error> {
    let now = now_ms();
    let kept = in_tx!(store, tx => {
        let mut kept = 0;
        for (hour, counts) in hours {
            let inserted = sqlx::query(INSERT_HOUR)
                .bind(hour)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted != 1 {
                continue;
            }
            kept += 1;
            for ((series, key), n) in counts {
                sqlx::query(INSERT_COUNT)
                    .bind(hour)
                    .bind(series.as_str())
                    .bind(key)
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        kept
    });
    Ok(kept)
}

/// Rolls every hour due at `now` and forgets hours older than the longest
/// window. How many hours this call rolled (another replica's are not counted).
pub async fn roll(store: &Store, now: OffsetDateTime) -> Result<usize, sqlx::Error> {
    let mut rolled = 0;
    for hours in due(store, now).await?.chunks(HOURS_PER_COMMIT) {
        // Counted outside the write transaction: on SQLite that keeps the write
        // lock to the inserts; an ended hour's counts are the same either way.
        let mut counted = Vec::with_capacity(hours.len());
        for hour in hours {
            counted.push((*hour, count_hour(store, *hour).await?));
        }
        rolled += keep(store, &counted).await?;
    }
    let oldest = hour_of(now) - (KEEP_HOURS - 1) * HOUR;
    on_pool!(store, pool => {
        sqlx::query(FORGET_COUNTS).bind(oldest).execute(pool).await?;
        sqlx::query(FORGET_HOURS).bind(oldest).execute(pool).await.map(|_| ())
    })?;
    Ok(rolled)
}

/// Rolled hours already read, by hour. A rolled hour is final, so each process
/// reads its counts from the database once: a page then reads the window's
/// rolled hour numbers, the counts of hours rolled since, and the live hours.
#[derive(Debug, Clone, Default)]
pub struct Cache(Arc<Mutex<BTreeMap<i64, Arc<Counts>>>>);

impl Cache {
    fn missing(&self, hours: &[i64]) -> Vec<i64> {
        let cached = self.0.lock().expect("hourly cache lock");
        hours
            .iter()
            .copied()
            .filter(|h| !cached.contains_key(h))
            .collect()
    }

    /// The first hour from `from` on that is not cached (every hour before it is).
    fn cached_until(&self, from: i64, to: i64) -> i64 {
        let cached = self.0.lock().expect("hourly cache lock");
        let mut hour = from;
        while hour <= to && cached.contains_key(&hour) {
            hour += HOUR;
        }
        hour
    }

    fn get(&self, hour: i64) -> Option<Arc<Counts>> {
        self.0
            .lock()
            .expect("hourly cache lock")
            .get(&hour)
            .cloned()
    }

    /// Adds `read`, forgetting hours older than any window ending at `to`.
    fn add(&self, read: BTreeMap<i64, Counts>, to: i64) {
        let mut cached = self.0.lock().expect("hourly cache lock");
        for (hour, counts) in read {
            cached.insert(hour, Arc::new(counts));
        }
        let oldest = to - (KEEP_HOURS - 1) * HOUR;
        cached.retain(|hour, _| *hour >= oldest);
    }
}

/// The counts of every hour from `from` (an hour start) to the hour of `now`:
/// rolled hours from the rollup (through `cache`), the others counted live.
pub async fn read(
    store: &Store,
    cache: &Cache,
    from: i64,
    now: OffsetDateTime,
) -> Result<Hours, sqlx::Error> {
    let to = hour_of(now);
    // Only the hours after the cached stretch are asked about: usually none or one.
    let until = cache.cached_until(from, to);
    let newer: Vec<i64> = on_pool!(store, pool => sqlx::query_scalar(ROLLED_BETWEEN)
        .bind(until)
        .bind(to)
        .fetch_all(pool)
        .await)?;
    let missing = cache.missing(&newer);
    let rolled: Vec<i64> = (from..until).step_by(HOUR as usize).chain(newer).collect();
    if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
        // An hour's counts commit with its row: every hour in `rolled` has all of
        // its counts here. Hours rolled since `rolled` was read are left to the
        // live count below, so nothing is counted twice.
        let rows: Vec<(i64, String, String, i64)> = on_pool!(store, pool => sqlx::query_as(READ_ROLLED)
                .bind(first)
                .bind(last)
                .fetch_all(pool)
                .await)?;
        let mut read: BTreeMap<i64, Counts> = missing.iter().map(|h| (*h, Counts::new())).collect();
        for (hour, series, key, n) in rows {
            // A series this build does not know (a newer replica rolled it) is left out.
            if let (Some(counts), Some(series)) = (read.get_mut(&hour), Series::parse(&series)) {
                counts.insert((series, key), n);
            }
        }
        cache.add(read, to);
    }
    let mut hours = Hours::default();
    for hour in rolled {
        if let Some(counts) = cache.get(hour) {
            hours.by_hour.insert(hour, counts);
            hours.rolled += 1;
        }
    }
    for hour in (from..=to).step_by(HOUR as usize) {
        if let Entry::Vacant(slot) = hours.by_hour.entry(hour) {
            slot.insert(Arc::new(count_hour(store, hour).await?));
            hours.live += 1;
        }
    }
    Ok(hours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_named_by_their_start() {
        let at = time::macros::datetime!(2026-12-01 10:59:59.9 UTC);
        assert_eq!(hour_of(at), at.unix_timestamp() - 3599);
        assert_eq!(hour_of(at) % HOUR, 0);
    }
}
