//! Console page-speed benchmark (issue 16, "Speed": every page ≤ 50 ms with a
//! million stored events, on SQLite and PostgreSQL).
//!
//! `cargo bench --bench console` seeds `BENCH_EVENTS` (default 1,000,000) events
//! over the last 30 days, with sightings, rule matches, actions in every status,
//! attempts, quarantined payloads and a paused account (`common/seed.rs`), into a
//! fresh migrated SQLite file and a fresh PostgreSQL database. It then serves the
//! console's router (the one `starling serve` merges, built in process, on
//! 127.0.0.1:0) against each and requests every page of [`PAGES`]
//! `BENCH_WARMUP` times (default 30, not counted) and then `BENCH_REQUESTS` times
//! (default 200), one request at a time on one keep-alive connection, and prints
//! p50/p99 per page and backend. A time is the whole request on loopback (send,
//! server, full body read), so an upper bound of the server's time.
//!
//! The seeded SQLite file is kept under `target/tmp/console-bench/`, named by the
//! schema (the newest migration), the seed's version and size, and reused by the
//! next run (`BENCH_FRESH=1` seeds again); older ones are deleted. The PostgreSQL
//! database is dropped at the end (kept, its URL printed, with `BENCH_KEEP_DB=1`,
//! to look at its plans; `BENCH_REUSE_DB=URL` times a kept one again instead of
//! seeding). `BENCH_BACKENDS` (default `sqlite,postgres`), `BENCH_PAGES` (only
//! pages and forms whose name contains it), `STARLING_TEST_DATABASE_URL`
//! (PostgreSQL admin URL). Besides the pages, [`FORMS`] are posted as the
//! console's own pages post them.

#[path = "common/db.rs"]
mod db;
#[path = "common/seed.rs"]
mod seed;
#[path = "common/stats.rs"]
mod stats;

use seed::Facts;
use starling::console::Console;
use starling::rules::load::Known;
use starling::rules::reload::RulesHandle;
use starling::store::Store;
use starling::store::writer::WeakWriter;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The pages timed, one line each: a name and a path, where `{event}`,
/// `{action}` and `{deep}` are replaced by [`Facts`] of the seeded data.
const PAGES: &[(&str, &str)] = &[
    ("overview", "/"),
    ("events", "/events"),
    (
        "events, kind = reply (25 %)",
        "/events?kind=scrapely.new_reply",
    ),
    (
        "events, kind = leads_exhausted (3 %)",
        "/events?kind=scrapely.leads_exhausted",
    ),
    (
        "events, source = scrapebadger (17 %)",
        "/events?source=scrapebadger",
    ),
    (
        "events, intent = unsubscribe (1 %)",
        "/events?intent=unsubscribe",
    ),
    ("events, q = pricing (6 %)", "/events?q=pricing"),
    ("events, q = zeppelin (10 rows)", "/events?q=zeppelin"),
    ("events, deep page", "/events?before={deep}"),
    (
        "events, kind = reply, deep page",
        "/events?kind=scrapely.new_reply&before={deep}",
    ),
    ("event", "/events/{event}"),
    ("actions", "/actions"),
    ("actions, status = dead (2 %)", "/actions?status=dead"),
    ("actions, status = succeeded", "/actions?status=succeeded"),
    ("actions, rule = dm-followup", "/actions?rule=dm-followup"),
    (
        "actions, status = dead, deep page",
        "/actions?status=dead&before={deep_action}",
    ),
    ("action", "/actions/{action}"),
    ("accounts", "/accounts"),
    ("overview, window = 7d", "/?window=7d"),
    ("overview, window = 30d", "/?window=30d"),
    ("rules (6 rules, 24 h and 7 d counts)", "/rules"),
    ("playground (form)", "/rules/playground"),
    ("quarantine", "/quarantine"),
    ("a quarantined payload", "/quarantine/1"),
];

/// The forms timed: a name, the path posted to and the form's fields (URL-encoded,
/// the CSRF field added), with [`fill`]'s placeholders and `{hour_ago}` /
/// `{day_ago}` (RFC 3339 times, URL-encoded).
const FORMS: &[(&str, &str, &str)] = &[
    (
        "playground, a stored event on every rule",
        "/rules/playground",
        "event_id={event}",
    ),
    (
        "backtest, every rule over the last hour (~1,400 events)",
        "/rules/backtest",
        "since={hour_ago}",
    ),
    (
        "backtest, every rule over the last 24 h (~33,000 events)",
        "/rules/backtest",
        "since={day_ago}",
    ),
];

/// The CSRF token the forms carry (cookie and field alike; any 64 characters).
const CSRF: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Rules named as the seed's matches and actions are, so the rules page counts them.
const SEEDED_RULES: [&str; 6] = [
    "crm-interested",
    "dm-followup",
    "slack-alerts",
    "tag-pricing",
    "unsubscribe",
    "tweets-watch",
];

/// The target (issue 16).
const TARGET_MS: f64 = 50.0;

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list` compatibility
    }
    tokio::runtime::Runtime::new()?.block_on(run())
}

type Timings = BTreeMap<&'static str, stats::Measured>;

async fn run() -> anyhow::Result<()> {
    let events = stats::env_or("BENCH_EVENTS", 1_000_000) as i64;
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let mut results: BTreeMap<String, Timings> = BTreeMap::new();
    for backend in backends.split(',').map(str::trim) {
        let (store, cleanup) = seeded(backend, events).await?;
        let facts = seed::facts(&store).await?;
        eprintln!("{backend}: {facts:?}");
        anyhow::ensure!(
            facts.events == events,
            "{backend}: {} events stored",
            facts.events
        );
        let timings = time_pages(&store, &facts).await;
        store.close().await;
        if let Some(db) = cleanup {
            if std::env::var("BENCH_KEEP_DB").is_ok() {
                eprintln!("{backend}: kept {} (BENCH_KEEP_DB)", db.url);
            } else {
                db.drop_db().await;
            }
        }
        results.insert(backend.to_string(), timings?);
    }
    println!(
        "\n{events} events seeded; each time: one whole request on loopback, {} warm-up requests not counted",
        stats::env_or("BENCH_WARMUP", 30)
    );
    print_table(&results);
    Ok(())
}

/// A migrated store holding the seed: the cached SQLite file, or a fresh
/// PostgreSQL database (returned to be dropped).
async fn seeded(backend: &str, events: i64) -> anyhow::Result<(Store, Option<db::BenchDb>)> {
    if backend == "sqlite" {
        let path = sqlite_cache(events)?;
        let cached = path.exists() && std::env::var("BENCH_FRESH").is_err();
        if !cached {
            let _ = std::fs::remove_file(&path);
        }
        let store = Store::connect(&format!("sqlite://{}", path.display()), 8).await?;
        store.migrate().await?;
        if cached {
            eprintln!("sqlite: reusing {}", path.display());
        } else {
            timed_seed(&store, events).await?;
        }
        return Ok((store, None));
    }
    if let Ok(url) = std::env::var("BENCH_REUSE_DB") {
        eprintln!("postgres: reusing {url} (BENCH_REUSE_DB)");
        return Ok((Store::connect(&url, 8).await?, None));
    }
    let db = db::BenchDb::new(backend).await;
    let store = Store::connect(&db.url, 8).await?;
    store.migrate().await?;
    timed_seed(&store, events).await?;
    Ok((store, Some(db)))
}

async fn timed_seed(store: &Store, events: i64) -> anyhow::Result<()> {
    let started = Instant::now();
    seed::seed(store, events).await?;
    eprintln!(
        "{}: seeded {events} events in {:.1} s",
        store.backend_name(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `target/tmp/console-bench/seed-<schema>-v<seed>-<events>.db`, the others deleted.
fn sqlite_cache(events: i64) -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-bench");
    std::fs::create_dir_all(&dir)?;
    let mut migrations: Vec<String> = std::fs::read_dir("migrations/sqlite")?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    migrations.sort();
    let schema = migrations.last().map_or("none", |m| &m[..14]);
    let name = format!("seed-{schema}-v{}-{events}.db", seed::SEED_VERSION);
    for old in std::fs::read_dir(&dir)?.filter_map(Result::ok) {
        if !old.file_name().to_string_lossy().starts_with(&name) {
            let _ = std::fs::remove_file(old.path());
        }
    }
    Ok(dir.join(name))
}

/// Serves the console on `store` and times every page of [`PAGES`].
async fn time_pages(store: &Store, facts: &Facts) -> anyhow::Result<Timings> {
    let rules_dir = tempfile::tempdir()?;
    let yaml: String = SEEDED_RULES
        .iter()
        .map(|name| {
            format!(
                "- name: {name}\n  on: scrapely.new_reply\n  do:\n    - action: slack.post\n      with: {{ text: hi }}\n"
            )
        })
        .collect();
    std::fs::write(rules_dir.path().join("seeded.yaml"), yaml)?;
    let rules = RulesHandle::load(rules_dir.path(), Known { secrets: None })
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // `serve` rolls ended hours up as they end; a month of them at once here.
    let rolled = Instant::now();
    let hours = starling::store::hourly::roll(store, time::OffsetDateTime::now_utc()).await?;
    println!(
        "rolled {hours} hours up for the charts in {:.1} s",
        rolled.elapsed().as_secs_f64()
    );
    let router = Console::new(
        store.clone(),
        rules,
        None,
        WeakWriter::detached(),
        Vec::new(),
    )
    .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    starling::http_client::init_tls();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    let (warmup, requests) = (
        stats::env_or("BENCH_WARMUP", 30),
        stats::env_or("BENCH_REQUESTS", 200),
    );
    let only = std::env::var("BENCH_PAGES").unwrap_or_default();
    let mut timings = Timings::new();
    let pages = PAGES.iter().map(|&(name, path)| (name, path, None));
    let forms = FORMS
        .iter()
        .map(|&(name, path, body)| (name, path, Some(body)));
    for (name, path, form) in pages.chain(forms).filter(|(n, ..)| n.contains(&only)) {
        let url = format!("{base}{}", fill(path, facts));
        // A form is posted as the console's own page posts it: the CSRF cookie,
        // the same token in the form, and this console's Origin.
        let request = || match form {
            None => client.get(&url),
            Some(body) => client
                .post(&url)
                .header("cookie", format!("starling_csrf={CSRF}"))
                .header("origin", &base)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("csrf={CSRF}&{}", fill(body, facts))),
        };
        let mut samples = Vec::new();
        let span = Instant::now();
        for round in 0..warmup + requests {
            let started = Instant::now();
            let response = request().send().await?;
            let status = response.status();
            let body = response.text().await?;
            let elapsed = started.elapsed();
            anyhow::ensure!(
                status.is_success() && body.contains("</html>"),
                "{name} ({url}) answered {status}: {}",
                &body[..body.len().min(300)]
            );
            if round >= warmup {
                samples.push(elapsed.as_secs_f64() * 1000.0);
            }
        }
        let measured = stats::measure(samples, span.elapsed().max(Duration::from_millis(1)));
        eprintln!(
            "{} {name}: {} requests ({:.0}/s) p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            store.backend_name(),
            measured.n,
            measured.per_sec,
            measured.p50,
            measured.p99,
            measured.max
        );
        timings.insert(name, measured);
    }
    server.abort();
    Ok(timings)
}

fn fill(path: &str, facts: &Facts) -> String {
    let ago = |secs: i64| {
        let at = time::OffsetDateTime::now_utc() - time::Duration::seconds(secs);
        starling::clock::format_utc(at).replace(':', "%3A")
    };
    path.replace("{hour_ago}", &ago(3600))
        .replace("{day_ago}", &ago(86_400))
        .replace("{event}", &facts.event.to_string())
        .replace("{action}", &facts.action.to_string())
        .replace("{deep}", &facts.deep.to_string())
        .replace("{deep_action}", &(facts.action / 3).to_string())
}

fn print_table(results: &BTreeMap<String, Timings>) {
    let backends: Vec<&String> = results.keys().rev().collect(); // sqlite, then postgres
    let mut header = "| page | path |".to_string();
    let mut rule = "|---|---|".to_string();
    for backend in &backends {
        header.push_str(&format!(" {backend} p50 ms | {backend} p99 ms |"));
        rule.push_str("---:|---:|");
    }
    println!("\n{header} ≤ {TARGET_MS} ms |\n{rule}:---:|");
    let forms = FORMS.iter().map(|&(name, path, _)| (name, path));
    for (name, path) in PAGES.iter().copied().chain(forms) {
        let measured: Vec<Option<&stats::Measured>> =
            backends.iter().map(|b| results[*b].get(name)).collect();
        if measured.iter().all(Option::is_none) {
            continue;
        }
        let mut line = format!("| {name} | `{path}` |");
        for m in &measured {
            match m {
                Some(m) => line.push_str(&format!(" {:.2} | {:.2} |", m.p50, m.p99)),
                None => line.push_str(" – | – |"),
            }
        }
        let met = measured.iter().flatten().all(|m| m.p99 <= TARGET_MS);
        line.push_str(if met { " yes |" } else { " **no** |" });
        println!("{line}");
    }
}
