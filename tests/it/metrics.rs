//! `/metrics`: the action gauges are the table's counts on every replica; a fresh
//! process exports every counter at zero, `# HELP` on every family, histograms
//! (never summaries), `starling_build_info` and the process figures; and every
//! metric and label the shipped `deploy/prometheus/alerts.yml` names is in a real
//! scrape.
//!
//! Past 400 lines because the scrape parser (`Scrape`) and the list of families
//! exported at zero (`ZERO_AT_START`) are what the tests read; the alerts'
//! checks are `metrics_alerts.rs`.

use crate::helpers::fake_vendor::FakeVendor;
use crate::helpers::process::StarlingProcess;
use crate::helpers::{Backend, TestApp, TestDb, new_reply, poll_until};
use crate::{on_both_backends, on_store};
use starling::store::Store;
use starling::store::status::ActionStatus;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One scrape, parsed: each family's type, the families with `# HELP`, samples.
pub struct Scrape {
    pub types: BTreeMap<String, String>,
    helps: BTreeSet<String>,
    samples: Vec<Sample>,
}

pub struct Sample {
    name: String,
    pub labels: BTreeMap<String, String>,
    value: f64,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut scrape = Scrape {
            types: BTreeMap::new(),
            helps: BTreeSet::new(),
            samples: Vec::new(),
        };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                let previous = scrape.types.insert(name.into(), kind.into());
                assert!(previous.is_none(), "family {name} is typed twice");
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                scrape.helps.insert(rest.split(' ').next().unwrap().into());
            } else if !line.starts_with('#') {
                scrape.samples.push(sample(line));
            }
        }
        scrape
    }

    /// The family a sample belongs to (`x_bucket` → `x` for a histogram `x`).
    fn family_of(&self, sample: &str) -> String {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = sample.strip_suffix(suffix)
                && self.types.get(base).is_some_and(|t| t == "histogram")
            {
                return base.into();
            }
        }
        sample.into()
    }

    /// The samples named `name` whose labels include every pair of `labels`.
    pub fn find<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<f64> = self.find(name, labels).map(|s| s.value).collect();
        assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
        found.first().copied()
    }
}

/// `name{k="v",…} value` (label values here hold no quote or comma).
fn sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').unwrap();
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}').unwrap()),
        None => (series, ""),
    };
    let labels = labels
        .split(',')
        .filter(|l| !l.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect();
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("a number in `{line}`")),
    };
    Sample {
        name: name.into(),
        labels,
        value,
    }
}

async fn scrape(url: &str) -> Scrape {
    let response = crate::helpers::http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    Scrape::parse(&response.text().await.unwrap())
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

// ---------------------------------------------------------------------------
// The action gauges are the table, on every replica.

/// How many rows each status gets: all different, so a gauge showing another
/// status's count cannot pass.
fn seeded(status: ActionStatus) -> i64 {
    ActionStatus::ALL.iter().position(|s| *s == status).unwrap() as i64 + 1
}

/// 2026-11-30T08:00:00Z (the seeded vendor event) in Unix seconds.
const VENDOR_EVENT_SECS: f64 = 1_796_025_600.0;

/// Rows in every status that nothing in a running app will touch: due in a day,
/// leases a day long, held for an account nobody can resume (no Scrapely key).
async fn seed(store: &Store) {
    // Timestamps inline: PostgreSQL reads a literal as `timestamptz`, not a text bind.
    let vendor = "INSERT INTO events (source, kind, dedupe_key, received_at, last_seen_at, payload) \
                  VALUES ('scrapely', 'scrapely.new_reply', 'seed-vendor', '2026-11-30T08:00:00Z', \
                  '2026-11-30T08:00:00Z', '{}') RETURNING id";
    let internal = "INSERT INTO events (source, kind, dedupe_key, received_at, last_seen_at, payload) \
                    VALUES ('starling', 'starling.action_dead', 'seed-internal', '2026-11-30T09:00:00Z', \
                    '2026-11-30T09:00:00Z', '{}') RETURNING id";
    let action = "INSERT INTO actions (event_id, rule, action_index, kind, params, account, status, \
                  run_at, lease_until, created_at, updated_at) \
                  VALUES ($1, 'seeded', $2, 'slack.post', '{}', 'pausedhandle', $3, $4, $4, 0, 0)";
    let later = (now_secs() as i64 + 86_400) * 1000;
    on_store!(store, pool => {
        let event_id: i64 = sqlx::query_scalar(vendor).fetch_one(pool).await.unwrap();
        // A later internal event (Starling's own) is not "an event arrived".
        sqlx::query_scalar::<_, i64>(internal).fetch_one(pool).await.unwrap();
        let mut index = 0;
        for status in ActionStatus::ALL {
            for _ in 0..seeded(status) {
                sqlx::query(action)
                    .bind(event_id).bind(index).bind(status.as_str()).bind(later)
                    .execute(pool).await.unwrap();
                index += 1;
            }
        }
    });
}

async fn table_counts(store: &Store) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = on_store!(store, pool => sqlx::query_as(
        "SELECT status, count(*) FROM actions GROUP BY status"
    ).fetch_all(pool).await.unwrap());
    rows.into_iter().collect()
}

fn action_gauges(scrape: &Scrape) -> BTreeMap<String, i64> {
    scrape
        .find("starling_actions", &[])
        .map(|s| (s.labels["status"].clone(), s.value as i64))
        .collect()
}

const SLACK_ON_REPLY: &str = r#"
- name: tell slack
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "A reply from {{ data.receiver }}" }
"#;

on_both_backends!(the_action_gauges_are_the_table_counts_on_every_replica);

async fn the_action_gauges_are_the_table_counts_on_every_replica(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.url, 2).await.unwrap();
    store.migrate().await.unwrap();
    seed(&store).await;
    let vendor = FakeVendor::start().await;
    let slack = vendor.slack_url();
    let env = [("STARLING__SLACK__WEBHOOK_URL", slack.as_str())];
    let first = TestApp::builder(backend)
        .db(db.shared())
        .rules(&[("slack.yaml", SLACK_ON_REPLY)])
        .quick_actions()
        .env(&env)
        .start()
        .await;
    let second = TestApp::builder(backend)
        .db(db.shared())
        .rules_dir(&first.rules_dir)
        .quick_actions()
        .env(&env)
        .start()
        .await;

    let expected: BTreeMap<String, i64> = ActionStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), seeded(*s)))
        .collect();
    assert_eq!(table_counts(&store).await, expected);
    for app in [&first, &second] {
        let scrape = scrape(&app.url("/metrics")).await;
        assert_eq!(
            action_gauges(&scrape),
            expected,
            "every status, as in the table"
        );
        assert_eq!(scrape.types["starling_actions"], "gauge");
        assert_eq!(scrape.value("starling_database_up", &[]), Some(1.0));
        assert_eq!(
            scrape.value("starling_last_event_timestamp_seconds", &[]),
            Some(VENDOR_EVENT_SECS),
            "the newest vendor event, not Starling's own"
        );
    }

    // An action that succeeds through the first replica shows on the second.
    let response = first
        .post("/webhooks/scrapely", new_reply("metrics-live"))
        .await;
    assert_eq!(response.status(), 200);
    let want = seeded(ActionStatus::Succeeded) + 1;
    let mut seen = BTreeMap::new();
    let counted = poll_until(Duration::from_secs(20), async || {
        seen = action_gauges(&scrape(&second.url("/metrics")).await);
        seen.get("succeeded") == Some(&want)
    })
    .await;
    assert!(counted, "succeeded never reached {want}: {seen:?}");
    assert_eq!(seen, table_counts(&store).await);
    let newest = scrape(&second.url("/metrics"))
        .await
        .value("starling_last_event_timestamp_seconds", &[])
        .unwrap();
    assert!((newest - now_secs()).abs() < 120.0, "{newest}");

    // The seeded `running` rows are nobody's: end them so the apps stop clean.
    on_store!(&store, pool => {
        sqlx::query("UPDATE actions SET status = 'cancelled' WHERE rule = 'seeded' AND status = 'running'")
            .execute(pool)
            .await
            .unwrap();
    });
    second.stop().await;
    first.stop().await;
}

// ---------------------------------------------------------------------------
// A fresh process: counters at zero, HELP everywhere, histograms, build info,
// process figures, and every metric the shipped alerts name.

/// Counters registered at start-up, with labels, that must read 0 before anything happened.
const ZERO_AT_START: &[(&str, &[(&str, &str)])] = &[
    (
        "starling_webhook_requests_total",
        &[("source", "scrapely"), ("outcome", "created")],
    ),
    (
        "starling_webhook_requests_total",
        &[("source", "scrapebadger"), ("outcome", "unauthorized")],
    ),
    (
        "starling_action_attempts_total",
        &[("kind", "scrapely.send_dm"), ("outcome", "dead")],
    ),
    (
        "starling_action_attempts_total",
        &[("kind", "slack.post"), ("outcome", "outcome_unknown")],
    ),
    (
        "starling_action_call_errors_total",
        &[
            ("kind", "scrapely.send_dm"),
            ("error_class", "rate_limited"),
        ],
    ),
    (
        "starling_actions_skipped_total",
        &[("kind", "scrapely.update_crm")],
    ),
    ("starling_dm_refused_total", &[("reason", "do_not_contact")]),
    ("starling_rule_matches_total", &[("outcome", "error")]),
    ("starling_rules_reloads_total", &[("result", "error")]),
    ("starling_database_outages_total", &[]),
    ("starling_group_commits_total", &[]),
    ("starling_stream_messages_total", &[("stream", "watched")]),
];

/// A stream nobody serves: its series are registered from the configuration.
const STREAM_CONFIG: &str = r#"
[[streams]]
name = "watched"
kind = "scrapest_sse"
url = "http://127.0.0.1:9/stream"
"#;

struct Fresh {
    process: StarlingProcess,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    _db: TestDb,
}

fn start_fresh(db: TestDb) -> Fresh {
    let rules = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let file = config.path().join("starling.toml");
    std::fs::write(&file, STREAM_CONFIG).unwrap();
    let process = StarlingProcess::start_args(
        &["--config", file.to_str().unwrap(), "serve"],
        &[
            ("STARLING__DATABASE__URL", &db.url),
            ("STARLING__RULES__DIR", rules.path().to_str().unwrap()),
        ],
    );
    Fresh {
        process,
        _dirs: (rules, config),
        _db: db,
    }
}

on_both_backends!(a_fresh_process_exports_every_family_described_and_counters_at_zero);

async fn a_fresh_process_exports_every_family_described_and_counters_at_zero(backend: Backend) {
    let fresh = start_fresh(TestDb::new(backend).await);
    let scrape = scrape(&fresh.process.url("/metrics")).await;

    for (name, labels) in ZERO_AT_START {
        assert_eq!(scrape.value(name, labels), Some(0.0), "{name} {labels:?}");
    }
    // Every counter reads 0: nothing has happened yet (but the stream, which
    // nothing serves, may have failed to connect and be waiting to try again).
    for sample in &scrape.samples {
        if scrape
            .types
            .get(&sample.name)
            .is_some_and(|t| t == "counter")
            && sample.name.starts_with("starling_")
            && sample.name != "starling_stream_reconnects_total"
        {
            assert_eq!(sample.value, 0.0, "{} {:?}", sample.name, sample.labels);
        }
    }
    let undescribed: Vec<_> = scrape
        .types
        .keys()
        .filter(|f| !scrape.helps.contains(*f))
        .collect();
    assert!(
        undescribed.is_empty(),
        "families without # HELP: {undescribed:?}"
    );
    for sample in &scrape.samples {
        let family = scrape.family_of(&sample.name);
        assert!(
            scrape.types.contains_key(&family),
            "{} has no # TYPE",
            sample.name
        );
    }

    // Latencies and sizes are histograms with buckets, never summaries.
    assert!(
        !scrape.types.values().any(|t| t == "summary"),
        "{:?}",
        scrape.types
    );
    for family in [
        "starling_action_call_seconds",
        "starling_group_commit_seconds",
        "starling_group_commit_items",
    ] {
        assert_eq!(scrape.types[family], "histogram", "{family}");
        let bucket = format!("{family}_bucket");
        let buckets: Vec<&Sample> = scrape.find(&bucket, &[]).collect();
        assert!(buckets.iter().any(|b| b.labels["le"] == "+Inf"), "{family}");
        assert!(
            buckets.iter().filter(|b| b.labels["le"] != "+Inf").count() >= 8,
            "{family}"
        );
    }
    assert_eq!(
        scrape.value(
            "starling_action_call_seconds_count",
            &[("kind", "slack.post")]
        ),
        Some(0.0)
    );

    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        scrape.value("starling_build_info", &[("version", version)]),
        Some(1.0)
    );

    assert!(scrape.value("process_resident_memory_bytes", &[]).unwrap() > 1e6);
    assert!(scrape.value("process_open_fds", &[]).unwrap() >= 3.0);
    assert!(scrape.value("process_cpu_seconds_total", &[]).unwrap() >= 0.0);
    let started = scrape.value("process_start_time_seconds", &[]).unwrap();
    assert!((now_secs() - started).abs() < 120.0, "{started}");
    assert_eq!(scrape.types["process_cpu_seconds_total"], "counter");

    assert_eq!(
        scrape.value("starling_stream_connected", &[("stream", "watched")]),
        Some(0.0)
    );
    assert_eq!(scrape.value("starling_database_up", &[]), Some(1.0));
    assert_eq!(
        scrape.value("starling_last_event_timestamp_seconds", &[]),
        None,
        "no event yet"
    );
    let fresh_counts: Vec<f64> = scrape
        .find("starling_actions", &[])
        .map(|s| s.value)
        .collect();
    assert_eq!(fresh_counts, vec![0.0; ActionStatus::ALL.len()]);

    // One webhook: its counter moves from the zero it was registered at.
    let response = crate::helpers::http()
        .post(fresh.process.url("/webhooks/scrapely"))
        .body(new_reply("fresh-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let after = self::scrape(&fresh.process.url("/metrics")).await;
    assert_eq!(
        after.value(
            "starling_webhook_requests_total",
            &[("source", "scrapely"), ("outcome", "created")]
        ),
        Some(1.0)
    );
    assert!(
        after
            .value("starling_last_event_timestamp_seconds", &[])
            .is_some()
    );
    crate::metrics_alerts::every_alert_names_what_the_scrape_has(&after);
    the_readme_lists_every_family(&after);
    let (_, _log) = fresh.process.terminate();
}

/// The README's "Metrics and alerts" names every family a scrape has.
fn the_readme_lists_every_family(scrape: &Scrape) {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("### Metrics and alerts")
        .expect("the README section");
    let section = &readme[start..];
    let section = &section[..section[4..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 4)];
    let missing: Vec<&String> = scrape
        .types
        .keys()
        .filter(|family| !section.contains(&format!("`{family}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "the README's metrics table lacks {missing:?}"
    );
}
