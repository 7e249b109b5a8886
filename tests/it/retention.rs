//! Retention (README "Retention and backup"): an event goes only with every
//! action of it done, taking its dependent rows along; the contact ledger
//! stays; `attempts_days` trims attempts of done actions only; a dry run counts
//! exactly what the prune then deletes; `serve` prunes in the background.
//! `backup` and backtest's `--limit` are in `retention_commands.rs`.
//!
//! The rows are written with times in the past (a seeded database), rather than
//! waiting for days to pass. Past 400 lines because the seed (`Seed`, `seed`)
//! writes every table retention reads, on both backends: it is half the file.

use crate::helpers::{self, Backend, TestApp, TestDb, new_reply, poll_until};
use crate::on_both_backends;
use starling::clock::format_utc;
use starling::config::Settings;
use starling::store::Store;
use starling::store::retention::{Mode, Pruned};
use std::collections::BTreeSet;
use std::time::Duration;
use time::OffsetDateTime;

fn days_ago(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::days(days)
}

fn ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Writes rows the way Starling's tables hold them, at chosen times.
struct Seed<'a> {
    store: &'a Store,
}

impl Seed<'_> {
    /// An event first seen at `received`, last at `seen`, with a sighting and a match.
    async fn event(&self, key: &str, received: OffsetDateTime, seen: OffsetDateTime) -> i64 {
        let (r, s) = (format_utc(received), format_utc(seen));
        let event = format!(
            "INSERT INTO events (source, kind, dedupe_key, received_at, last_seen_at, payload) \
             VALUES ('scrapely', 'scrapely.new_reply', $1, '{r}', '{s}', '{{}}') RETURNING id"
        );
        let sighting = format!(
            "INSERT INTO event_sightings (event_id, channel, received_at, quality, payload) \
             VALUES ($1, 'scrapely.webhook', '{r}', 1, '{{}}')"
        );
        let matched = format!(
            "INSERT INTO rule_matches (event_id, rule, rule_hash, matched_at, outcome) \
             VALUES ($1, 'r', 'h', '{r}', 'fired')"
        );
        crate::on_store!(self.store, p => {
            let id: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(event)).bind(key).fetch_one(p).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sighting)).bind(id).execute(p).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(matched)).bind(id).execute(p).await.unwrap();
            id
        })
    }

    /// An action of `event` in `status`, with one attempt started at `tried`.
    async fn action(
        &self,
        event: i64,
        index: i32,
        kind: &str,
        status: &str,
        tried: OffsetDateTime,
    ) -> i64 {
        let action = "INSERT INTO actions (event_id, rule, action_index, kind, params, status, run_at, created_at, updated_at) \
                      VALUES ($1, 'r', $2, $3, '{}', $4, $5, $5, $5) RETURNING id";
        let attempt = "INSERT INTO action_attempts (action_id, series, attempt, worker, started_at, finished_at, outcome) \
                       VALUES ($1, 1, 1, 'w', $2, $2, $3)";
        let outcome = match status {
            "succeeded" | "dead" | "skipped" | "dry_run" | "outcome_unknown" => Some(status),
            "failed" => Some("retry"),
            _ => None,
        };
        crate::on_store!(self.store, p => {
            let id: i64 = sqlx::query_scalar(action).bind(event).bind(index).bind(kind).bind(status)
                .bind(ms(tried)).fetch_one(p).await.unwrap();
            sqlx::query(attempt).bind(id).bind(ms(tried)).bind(outcome).execute(p).await.unwrap();
            id
        })
    }

    /// The proof that DM `action` was delivered, and the ledger's rows for its person.
    async fn delivered_dm(&self, action: i64, person: &str) {
        let delivery = "INSERT INTO dm_deliveries (action_id, conversation_id, message_key, text_hash, proved_by, sent_after, sent_before, recorded_at) \
                        VALUES ($1, $2, $2, 'h', 'answer', 0, 0, 0)";
        let claim = "INSERT INTO contact_claims (receiver, action_id, rule, claimed_at) VALUES ($1, $2, 'r', 0)";
        let ledger = "INSERT INTO contact_ledger (receiver, action_id, rule, claimed_at) VALUES ($1, $2, 'r', 0)";
        let block = "INSERT INTO contact_blocks (receiver, blocked_at, reason, action_id) VALUES ($1, 0, 'stop', $2)";
        let alias =
            "INSERT INTO contact_aliases (user_key, handle_key, seen_at) VALUES ($1, $2, 0)";
        let handle = format!("@{person}");
        crate::on_store!(self.store, p => {
            sqlx::query(delivery).bind(action).bind(format!("conv-{action}")).execute(p).await.unwrap();
            for sql in [claim, ledger, block] {
                sqlx::query(sql).bind(&handle).bind(action).execute(p).await.unwrap();
            }
            sqlx::query(alias).bind(format!("id:{person}")).bind(&handle).execute(p).await.unwrap();
        })
    }

    /// The tweet scheduled by `action`, in `status` at Scrapely.
    async fn tweet(&self, action: i64, status: &str) {
        let sql = "INSERT INTO scheduled_tweets (action_id, tweet_id, account_id, scheduled_at, status, proved_by, recorded_at) \
                   VALUES ($1, $2, 'acct', '2026-01-01T00:00:00Z', $3, 'answer', 0)";
        crate::on_store!(self.store, p => {
            sqlx::query(sql).bind(action).bind(format!("t{action}")).bind(status).execute(p).await.unwrap();
        })
    }

    /// A job for `action` in the queue, finished (`Done`) at `done` or still pending.
    async fn job(&self, action: i64, done: Option<OffsetDateTime>) {
        starling::store::actions::push_job(self.store, action, Duration::ZERO)
            .await
            .unwrap();
        let Some(done) = done else { return };
        let secs = done.unix_timestamp();
        let sql = match self.store {
            Store::Sqlite(_) => format!(
                "UPDATE Jobs SET status = 'Done', done_at = {secs} WHERE job_type = 'starling.actions' AND status = 'Pending'"
            ),
            Store::Postgres(_) => format!(
                "UPDATE apalis.jobs SET status = 'Done', done_at = to_timestamp({secs}) WHERE job_type = 'starling.actions' AND status = 'Pending'"
            ),
        };
        crate::on_store!(self.store, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.unwrap().rows_affected()
        });
    }

    async fn quarantined(&self, body: &str, seen: OffsetDateTime) {
        let t = format_utc(seen);
        let sql = format!(
            "INSERT INTO quarantine (source, channel, received_at, last_seen_at, reason, body, body_sha256) \
             VALUES ('scrapely', 'scrapely.webhook', '{t}', '{t}', 'bad', $1, $2)"
        );
        crate::on_store!(self.store, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(body.as_bytes().to_vec()).bind(body).execute(p).await.unwrap();
        })
    }
}

/// Every table retention touches or must not touch, and its rows.
const TABLES: [&str; 13] = [
    "events",
    "event_sightings",
    "rule_matches",
    "actions",
    "action_attempts",
    "dm_deliveries",
    "scheduled_tweets",
    "quarantine",
    "Jobs",
    "contact_claims",
    "contact_ledger",
    "contact_blocks",
    "contact_aliases",
];

async fn counts(store: &Store) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in TABLES {
        let name = match (table, store) {
            ("Jobs", Store::Postgres(_)) => "apalis.jobs",
            _ => table,
        };
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {name}"));
        let n: i64 =
            crate::on_store!(store, p => sqlx::query_scalar(sql).fetch_one(p).await.unwrap());
        out.push((table, n));
    }
    out
}

async fn event_keys(store: &Store) -> BTreeSet<String> {
    let sql = "SELECT dedupe_key FROM events";
    let keys: Vec<String> =
        crate::on_store!(store, p => sqlx::query_scalar(sql).fetch_all(p).await.unwrap());
    keys.into_iter().collect()
}

/// The statuses that keep their event (and everything of it) whatever its age.
const WAITING: [&str; 5] = ["pending", "running", "failed", "held", "outcome_unknown"];

/// Old events done with (three), old events an action still needs (six), one
/// 20 days old, a recent one and an old one seen again lately; two quarantined
/// payloads; three jobs: done long ago, done lately, pending.
async fn seed(store: &Store) {
    let seed = Seed { store };
    let (old, recent) = (days_ago(40), days_ago(1));
    let done = seed.event("done", old, old).await;
    let dm = seed
        .action(done, 0, "scrapely.send_dm", "succeeded", old)
        .await;
    seed.delivered_dm(dm, "ann").await;
    seed.job(dm, Some(old)).await;
    let dead = seed.action(done, 1, "slack.post", "dead", old).await;
    seed.job(dead, Some(recent)).await;
    seed.action(done, 2, "slack.post", "skipped", old).await;
    seed.event("plain", old, old).await;
    let posted = seed.event("tweet_posted", old, old).await;
    let t = seed
        .action(posted, 0, "scrapely.schedule_tweet", "succeeded", old)
        .await;
    seed.tweet(t, "posted").await;

    for status in WAITING {
        let e = seed.event(&format!("waits_{status}"), old, old).await;
        seed.action(e, 0, "slack.post", "succeeded", old).await;
        seed.action(e, 1, "slack.post", status, old).await;
    }
    let pending_tweet = seed.event("tweet_pending", old, old).await;
    let t = seed
        .action(
            pending_tweet,
            0,
            "scrapely.schedule_tweet",
            "succeeded",
            old,
        )
        .await;
    seed.tweet(t, "pending").await;
    // Too young for events_days, old enough for attempts_days (ids follow time,
    // as they do when Starling writes them: the walks stop at the first young row).
    let middle = seed.event("middle", days_ago(20), days_ago(20)).await;
    seed.action(middle, 0, "slack.post", "succeeded", days_ago(20))
        .await;

    let fresh = seed.event("recent", recent, recent).await;
    let queued = seed
        .action(fresh, 0, "slack.post", "succeeded", recent)
        .await;
    seed.job(queued, None).await;
    seed.event("seen_again", old, recent).await;
    seed.quarantined("old body", old).await;
    seed.quarantined("new body", recent).await;
}

async fn migrated(backend: Backend) -> (TestDb, Store) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.url, 2).await.unwrap();
    store.migrate().await.unwrap();
    (db, store)
}

fn settings(db: &TestDb, vars: &[(&str, &str)]) -> Settings {
    helpers::settings(db, vars)
}

async fn prune(store: &Store, settings: &Settings, mode: Mode) -> Pruned {
    starling::retention::prune_once(
        store,
        &settings.retention,
        OffsetDateTime::now_utc(),
        mode,
        &mut |_| {},
    )
    .await
    .unwrap()
}

on_both_backends!(retention_deletes_done_events_with_their_rows_and_nothing_an_action_still_needs);

async fn retention_deletes_done_events_with_their_rows_and_nothing_an_action_still_needs(
    backend: Backend,
) {
    let (db, store) = migrated(backend).await;
    seed(&store).await;
    let before = counts(&store).await;
    let s = settings(
        &db,
        &[
            ("STARLING__RETENTION__EVENTS_DAYS", "30"),
            ("STARLING__RETENTION__BATCH_SIZE", "2"),
        ],
    );

    let pruned = prune(&store, &s, Mode::Delete).await;

    let mut kept: BTreeSet<String> = WAITING.iter().map(|s| format!("waits_{s}")).collect();
    kept.extend(["tweet_pending", "middle", "recent", "seen_again"].map(String::from));
    assert_eq!(event_keys(&store).await, kept);
    assert_eq!(
        pruned,
        Pruned {
            events: 3,
            event_sightings: 3,
            rule_matches: 3,
            actions: 4,
            action_attempts: 4,
            dm_deliveries: 1,
            scheduled_tweets: 1,
            quarantine: 1,
            jobs: 1,
        }
    );
    let after = counts(&store).await;
    for ((table, b), (_, a)) in before.iter().zip(&after) {
        let gone = pruned
            .tables()
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(table))
            .map_or(0, |(_, n)| *n as i64);
        assert_eq!(b - a, gone, "{table}: before {b}, after {a}");
    }
    // Every waiting event keeps both its actions and their attempts.
    let sql = "SELECT COUNT(*) FROM actions a JOIN action_attempts t ON t.action_id = a.id \
               JOIN events e ON e.id = a.event_id WHERE e.dedupe_key LIKE 'waits_%'";
    let kept_attempts: i64 =
        crate::on_store!(&store, p => sqlx::query_scalar(sql).fetch_one(p).await.unwrap());
    assert_eq!(kept_attempts, 2 * WAITING.len() as i64);
    // The contact ledger outlives the DM it records; `contacts show` still reads it.
    let out = starling::cli::contacts::show(&db.url, "ann", starling::cli::audit::Format::Json)
        .await
        .unwrap();
    assert!(out.contains("@ann") && out.contains("\"dm\""), "{out}");
    // A second pass has nothing left to do.
    assert_eq!(prune(&store, &s, Mode::Delete).await.total(), 0);
}

on_both_backends!(attempts_days_deletes_old_attempts_of_done_actions_only);

async fn attempts_days_deletes_old_attempts_of_done_actions_only(backend: Backend) {
    let (db, store) = migrated(backend).await;
    let seed = Seed { store: &store };
    let (old, recent) = (days_ago(20), days_ago(2));
    let e = seed.event("e", old, old).await;
    let done = seed.action(e, 0, "slack.post", "succeeded", old).await;
    let unknown = seed
        .action(e, 1, "scrapely.send_dm", "outcome_unknown", old)
        .await;
    let failed = seed.action(e, 2, "slack.post", "failed", old).await;
    let fresh = seed.action(e, 3, "slack.post", "dead", recent).await;
    let s = settings(&db, &[("STARLING__RETENTION__ATTEMPTS_DAYS", "10")]);

    let pruned = prune(&store, &s, Mode::Delete).await;

    assert_eq!(
        pruned,
        Pruned {
            action_attempts: 1,
            ..Pruned::default()
        }
    );
    let sql = "SELECT action_id FROM action_attempts ORDER BY action_id";
    let left: Vec<i64> =
        crate::on_store!(&store, p => sqlx::query_scalar(sql).fetch_all(p).await.unwrap());
    assert_eq!(left, vec![unknown, failed, fresh]);
    assert!(
        starling::store::actions::get(&store, done)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(event_keys(&store).await, BTreeSet::from(["e".to_string()]));
}

on_both_backends!(a_dry_run_changes_nothing_and_counts_what_the_prune_then_deletes);

async fn a_dry_run_changes_nothing_and_counts_what_the_prune_then_deletes(backend: Backend) {
    let (db, store) = migrated(backend).await;
    // Attempts of an event that goes are old enough for attempts_days too:
    // counted once, by whichever walk deletes them.
    seed(&store).await;
    let s = settings(
        &db,
        &[
            ("STARLING__RETENTION__EVENTS_DAYS", "30"),
            ("STARLING__RETENTION__ATTEMPTS_DAYS", "10"),
            ("STARLING__RETENTION__BATCH_SIZE", "3"),
        ],
    );
    let before = counts(&store).await;
    let args = starling::cli::prune::PruneArgs {
        dry_run: true,
        format: starling::cli::audit::Format::Json,
    };

    let report: serde_json::Value =
        serde_json::from_str(&starling::cli::prune::run(&s, &args).await.unwrap()).unwrap();

    assert_eq!(counts(&store).await, before, "a dry run deletes nothing");
    assert_eq!(report["dry_run"], true);
    let real = prune(&store, &s, Mode::Delete).await;
    for (table, n) in real.tables() {
        assert_eq!(report["tables"][table], n, "{table}: {report}");
    }
    assert_eq!(report["total"], real.total());
    // 4 of the events that go, 1 of `middle`, and 6 of done actions whose
    // events stay (5 waiting, 1 with a tweet not posted yet).
    assert_eq!(real.action_attempts, 11);
    assert_eq!(real.events, 3);
}

on_both_backends!(serve_prunes_in_the_background);

async fn serve_prunes_in_the_background(backend: Backend) {
    let app = TestApp::builder(backend)
        .env(&[
            ("STARLING__RETENTION__EVENTS_DAYS", "30"),
            ("STARLING__RETENTION__INTERVAL_SECS", "0.2"),
        ])
        .start()
        .await;
    for id in ["m1", "m2", "m3"] {
        let response = app.post("/webhooks/scrapely", new_reply(id)).await;
        assert!(response.status().is_success());
    }
    assert_eq!(app.count("events").await, 3);
    // Two of them were last seen 40 days ago.
    let old = format_utc(days_ago(40));
    let sql = format!(
        "UPDATE events SET received_at = '{old}', last_seen_at = '{old}' \
         WHERE id IN (SELECT id FROM events ORDER BY id LIMIT 2)"
    );
    crate::on_store!(&app.store, p => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.unwrap().rows_affected());

    let gone = poll_until(Duration::from_secs(20), async || {
        app.count("events").await == 1
    })
    .await;

    assert!(gone, "the pruner did not delete the old events");
    // Ingestion goes on beside it.
    let response = app.post("/webhooks/scrapely", new_reply("m4")).await;
    assert!(response.status().is_success());
    assert_eq!(app.count("events").await, 2);
    app.stop().await;
}
