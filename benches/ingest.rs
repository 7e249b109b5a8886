//! Durable webhook ingestion benchmark.
//!
//! `cargo bench --bench ingest` posts Scrapely `new_reply` webhooks (unique
//! `message.id`s, `bench-N`) at 16 and 64 concurrent connections for a fixed time
//! against five servers, each a separate process on 127.0.0.1 measured in the same run:
//!
//! - `bare`: an axum endpoint that parses the JSON and answers (no storage);
//! - `group-commit`: an axum endpoint that group-commits one INSERT per request into
//!   the same database with the same durability settings (the floor for durable ingest);
//! - `starling, no rules`: the release `starling serve` binary with an empty rules directory;
//! - `starling, example rules`: the same with `rules/`, whose CRM rule fires on every
//!   posted reply (a rule match with rendered actions is written per event);
//! - `starling, peer job`: the same with one rule (written to a temporary directory)
//!   that forwards every interested reply — every posted one — with `http.request`
//!   to a sink in this process, which records each forwarded id's POSTs.
//!
//! It prints requests/s (acknowledged webhooks per second of the measured window),
//! p50/p99 latency, server CPU per request (over the load) and peak RSS (VmHWM) for
//! each, and each throughput as a ratio of both baselines, on SQLite and PostgreSQL.
//! A second table covers the peer job: the sink's POSTs/s within the measured window;
//! the backlog, from the load's end until every acknowledged webhook's POST has
//! arrived (polled, up to `BENCH_BACKLOG_TIMEOUT_SECS`); the end-to-end rate,
//! acknowledged webhooks / (window + backlog), and its ratio to group-commit; and the
//! exactly-once check: acknowledged webhooks whose POST never came (missing) and
//! POSTs beyond one per id (duplicates), counted once the server has exited. Missing
//! ones make the bench panic after the tables; unacknowledged webhooks are not checked.
//! The `starling` servers run on Starling's defaults (`actions.*` included) but for
//! the database, rules directory, listener and log filter: no `STARLING__*` variable
//! of the bench's own environment is passed on.
//!
//! `BENCH_DROP_INDEX=NAME` drops that index once each `starling` server has
//! migrated its database, before the load (what an index costs ingestion).
//! `BENCH_CONSOLE_POLL=1` adds a third table: `starling, no rules` loaded twice
//! more on fresh databases, once alone and once while a poller GETs the
//! console's overview and events pages once a second (a browser left open), and
//! the second's throughput as a ratio of the first's.
//!
//! `--load ADDR CONNS SECS` runs only the load generator (to profile a server
//! started by hand).
//! Options (environment): `BENCH_SECS` (default 5), `BENCH_BACKENDS` (default
//! `sqlite,postgres`), `BENCH_SERVERS` (default all: a comma list of names as in the
//! table, with or without `starling, ` — `BENCH_SERVERS="starling, peer job"`, or
//! `no rules,peer job`; bare and group-commit always run, they are the baselines),
//! `BENCH_BACKLOG_TIMEOUT_SECS` (default 120), `STARLING_TEST_DATABASE_URL`
//! (PostgreSQL admin URL).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

#[path = "common/baseline.rs"]
mod baseline;
#[path = "common/db.rs"]
mod db;
#[path = "common/load.rs"]
mod load;
#[path = "common/peer_job.rs"]
mod peer_job;
#[path = "common/poller.rs"]
mod poller;
#[path = "common/process.rs"]
mod process;
use db::BenchDb;
use load::{Measured, load};
use peer_job::Sink;
use process::ServerProcess;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if args.get(1).map(String::as_str) == Some("--serve") {
        runtime.block_on(baseline::serve(&args[2], args.get(3).cloned()));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list` compatibility
    }
    // `--load ADDR CONNS SECS`: only the load generator, e.g. to profile a server.
    if args.get(1).map(String::as_str) == Some("--load") {
        let (conns, secs) = (args[3].parse().unwrap(), args[4].parse().unwrap());
        let m = runtime.block_on(load(&args[2], conns, Duration::from_secs(secs)));
        println!(
            "{:.0} req/s p50 {:.2} ms p99 {:.2} ms errors {}",
            m.rps, m.p50_ms, m.p99_ms, m.errors
        );
        return;
    }
    runtime.block_on(orchestrate());
}

const STARLING_NO_RULES: &str = "starling, no rules";
const STARLING_PEER_JOB: &str = "starling, peer job";
const SERVERS: [&str; 5] = [
    "bare",
    "group-commit",
    STARLING_NO_RULES,
    "starling, example rules",
    STARLING_PEER_JOB,
];

/// `BENCH_SERVERS`: the servers to run, in `SERVERS` order, the baselines always.
/// A name may be given without `starling, `; a lone `starling` (what is left of
/// `starling, peer job` split on commas) names nothing by itself.
fn selected_servers() -> Vec<&'static str> {
    let short = |name: &'static str| name.strip_prefix("starling, ").unwrap_or(name);
    let list = std::env::var("BENCH_SERVERS").unwrap_or_default();
    let tokens: Vec<String> = list
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return SERVERS.to_vec();
    }
    for token in &tokens {
        assert!(
            token == "starling" || SERVERS.iter().any(|s| short(s) == token),
            "BENCH_SERVERS: unknown server `{token}`; expected some of {SERVERS:?}"
        );
    }
    SERVERS
        .into_iter()
        .enumerate()
        .filter(|(i, s)| *i < 2 || tokens.iter().any(|t| t == short(s)))
        .map(|(_, s)| s)
        .collect()
}

/// A numeric `BENCH_*` option from the environment.
fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

async fn orchestrate() {
    let secs = env_or("BENCH_SECS", 5);
    let backlog_timeout = Duration::from_secs(env_or("BENCH_BACKLOG_TIMEOUT_SECS", 120));
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let servers = selected_servers();
    let mut lines = vec![
        "| backend | conns | server | req/s | p50 ms | p99 ms | errors | server CPU µs/req | peak RSS MiB | ÷ bare | ÷ group-commit |".to_string(),
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|".to_string(),
    ];
    let mut peer_lines: Vec<String> = peer_job::HEADER.map(String::from).to_vec();
    let mut poll_lines: Vec<String> = poller::HEADER.map(String::from).to_vec();
    let poll_console = std::env::var("BENCH_CONSOLE_POLL").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for backend in backends.split(',') {
        for conns in [16usize, 64] {
            let mut results = Vec::new();
            for &server in &servers {
                let db = BenchDb::new(backend).await;
                let sink = match server {
                    STARLING_PEER_JOB => Some(Sink::start().await),
                    _ => None,
                };
                let rules = sink.as_ref().map(|s| s.rules_dir().to_path_buf());
                let mut process = ServerProcess::spawn(command(server, &db.url, rules));
                if server.starts_with("starling") {
                    db.drop_indexes_from_env().await;
                }
                let cpu_before = process.cpu_secs();
                let measured = load(&process.addr, conns, Duration::from_secs(secs)).await;
                let cpu = process.cpu_secs() - cpu_before;
                let backlog = match &sink {
                    Some(sink) => Some(
                        sink.await_backlog(&measured.acked, measured.load_end, backlog_timeout)
                            .await,
                    ),
                    None => None,
                };
                // After the backlog, for the peer job: its peak is the whole run's.
                let peak = process.peak_rss_mib();
                let cpu_all = process.cpu_secs() - cpu_before;
                process.stop();
                db.drop_db().await;
                eprintln!(
                    "{backend} c={conns} {server}: {:.0} req/s p50 {:.2} ms p99 {:.2} ms errors {} rss {:.1} MiB",
                    measured.rps, measured.p50_ms, measured.p99_ms, measured.errors, peak
                );
                let outcome = sink.zip(backlog).map(|(sink, backlog)| {
                    let o = sink.outcome(measured.window, backlog);
                    let backlog = o
                        .backlog_secs
                        .map_or("timed out".to_string(), |b| format!("{b:.2} s"));
                    eprintln!(
                        "  peer job: {} acknowledged, {:.0} POSTs/s in the window, backlog {backlog}, \
                         missing {} {:?}, duplicates {} ({} with another Idempotency-Key), \
                         {} without an id; server CPU {:.0} µs per acknowledged webhook, backlog included",
                        measured.acked.len(),
                        o.posts_per_sec,
                        o.missing,
                        o.missing_sample,
                        o.duplicates,
                        o.other_key_duplicates,
                        o.unparsed,
                        cpu_all * 1e6 / (measured.acked.len() as f64).max(1.0)
                    );
                    if o.missing > 0 {
                        failures.push(format!(
                            "{backend} c={conns}: {} acknowledged webhooks had no POST after {backlog_timeout:?} (ids {:?})",
                            o.missing, o.missing_sample
                        ));
                    }
                    o
                });
                // CPU per request over the whole run (warm-up included), for the server only.
                let cpu_us = cpu * 1e6 / (measured.rps * (secs as f64 + 0.5)).max(1.0);
                let m = Measured {
                    peak_rss_mib: peak,
                    cpu_us,
                    ..measured
                };
                results.push((server, m, outcome));
            }
            if poll_console {
                poll_lines.push(with_and_without_poller(backend, conns, secs).await);
            }
            let (bare_rps, commit_rps) = (results[0].1.rps, results[1].1.rps);
            for (server, m, outcome) in &results {
                lines.push(format!(
                    "| {backend} | {conns} | {server} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.1} | {:.2}× | {:.2}× |",
                    m.rps,
                    m.p50_ms,
                    m.p99_ms,
                    m.errors,
                    m.cpu_us,
                    m.peak_rss_mib,
                    m.rps / bare_rps,
                    m.rps / commit_rps
                ));
                if let Some(o) = outcome {
                    let window = (m.window.1 - m.window.0).as_secs_f64();
                    peer_lines.push(peer_job::row(
                        backend,
                        conns,
                        m.rps,
                        window,
                        commit_rps,
                        m.peak_rss_mib,
                        o,
                    ));
                }
            }
        }
    }
    println!("\n{}", lines.join("\n"));
    if peer_lines.len() > 2 {
        println!("\n{}", peer_lines.join("\n"));
    }
    if poll_lines.len() > 2 {
        println!("\n{}", poll_lines.join("\n"));
    }
    assert!(
        failures.is_empty(),
        "peer job: acknowledged webhooks never forwarded:\n{}",
        failures.join("\n")
    );
}

/// Ingestion alone, then the same on a fresh database while the console is
/// polled: one row of [`poller::HEADER`].
async fn with_and_without_poller(backend: &str, conns: usize, secs: u64) -> String {
    let mut rps = Vec::new();
    let mut polled = None;
    for poll in [false, true] {
        let db = BenchDb::new(backend).await;
        let mut process = ServerProcess::spawn(command(STARLING_NO_RULES, &db.url, None));
        let poller = poll.then(|| poller::Poller::start(&process.addr));
        rps.push(
            load(&process.addr, conns, Duration::from_secs(secs))
                .await
                .rps,
        );
        if let Some(poller) = poller {
            polled = Some(poller.stop().await);
        }
        process.stop();
        db.drop_db().await;
    }
    let p = polled.expect("the second run polls");
    eprintln!(
        "{backend} c={conns} console poll: {:.0} vs {:.0} req/s, {} polls ({} errors)",
        rps[0], rps[1], p.requests, p.errors
    );
    format!(
        "| {backend} | {conns} | {:.0} | {:.0} | {:.2}× | {} | {} | {:.1} |",
        rps[0],
        rps[1],
        rps[1] / rps[0],
        p.requests,
        p.errors,
        p.p50_ms
    )
}

/// The command that starts `server` on `db_url`; `rules`: the peer job's directory.
fn command(server: &str, db_url: &str, rules: Option<PathBuf>) -> Command {
    if !server.starts_with("starling") {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args(["--serve", server]);
        if server == "group-commit" {
            c.arg(db_url);
        }
        return c;
    }
    // The example rules fire on every posted reply; "no rules" is ingestion alone.
    let rules = rules.unwrap_or_else(|| match server {
        STARLING_NO_RULES => std::env::temp_dir().join("starling-bench-no-rules"),
        _ => "rules".into(),
    });
    let _ = std::fs::create_dir_all(&rules);
    let mut c = Command::new(env!("CARGO_BIN_EXE_starling"));
    // Defaults but for these: no `STARLING__*` of the bench's environment is inherited.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("STARLING__")) {
        c.env_remove(key);
    }
    c.arg("serve")
        .env("STARLING__RULES__DIR", rules)
        .env("STARLING__DATABASE__URL", db_url)
        .env("STARLING__SERVER__LISTEN", "127.0.0.1:0")
        .env("STARLING__LOG__FILTER", "info");
    c
}
