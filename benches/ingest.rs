//! Durable webhook ingestion benchmark.
//!
//! `cargo bench --bench ingest` posts Scrapely `new_reply` webhooks (unique
//! `message.id`s) at 16 and 64 concurrent connections for a fixed time against
//! four servers, each a separate process on 127.0.0.1 measured in the same run:
//!
//! - `bare`: an axum endpoint that parses the JSON and answers (no storage);
//! - `group-commit`: an axum endpoint that group-commits one INSERT per request into
//!   the same database with the same durability settings (the floor for durable ingest);
//! - `starling, no rules`: the release `starling serve` binary with an empty rules directory;
//! - `starling, example rules`: the same with `rules/`, whose CRM rule fires on every
//!   posted reply (a rule match with rendered actions is written per event).
//!
//! It prints requests/s, p50/p99 latency, server CPU per request and peak RSS
//! (VmHWM) for each, and each throughput as a ratio of both baselines, on SQLite
//! and PostgreSQL. `--load ADDR CONNS SECS` runs only the load generator (to
//! profile a server started by hand).
//! Options (environment): `BENCH_SECS` (default 5), `BENCH_BACKENDS` (default
//! `sqlite,postgres`), `STARLING_TEST_DATABASE_URL` (PostgreSQL admin URL).

use axum::Router;
use axum::routing::post;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

#[path = "common/db.rs"]
mod db;
use db::BenchDb;

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
const SERVERS: [&str; 4] = [
    "bare",
    "group-commit",
    STARLING_NO_RULES,
    "starling, example rules",
];

struct Measured {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    peak_rss_mib: f64,
    /// Server CPU time per request, in microseconds.
    cpu_us: f64,
}

async fn orchestrate() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let mut lines = vec![
        "| backend | conns | server | req/s | p50 ms | p99 ms | errors | server CPU µs/req | peak RSS MiB | ÷ bare | ÷ group-commit |".to_string(),
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|".to_string(),
    ];
    for backend in backends.split(',') {
        for conns in [16usize, 64] {
            let mut results = Vec::new();
            for server in SERVERS {
                let db = BenchDb::new(backend).await;
                let mut process = ServerProcess::start(server, &db.url);
                let cpu_before = process.cpu_secs();
                let measured = load(&process.addr, conns, Duration::from_secs(secs)).await;
                let cpu = process.cpu_secs() - cpu_before;
                let peak = process.peak_rss_mib();
                process.stop();
                db.drop_db().await;
                eprintln!(
                    "{backend} c={conns} {server}: {:.0} req/s p50 {:.2} ms p99 {:.2} ms errors {} rss {:.1} MiB",
                    measured.rps, measured.p50_ms, measured.p99_ms, measured.errors, peak
                );
                // CPU per request over the whole run (warm-up included), for the server only.
                let cpu_us = cpu * 1e6 / (measured.rps * (secs as f64 + 0.5)).max(1.0);
                results.push((
                    server,
                    Measured {
                        peak_rss_mib: peak,
                        cpu_us,
                        ..measured
                    },
                ));
            }
            let (bare_rps, commit_rps) = (results[0].1.rps, results[1].1.rps);
            for (server, m) in &results {
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
            }
        }
    }
    println!("\n{}", lines.join("\n"));
}

/// `conns` clients, each posting sequentially on its own keep-alive connection.
async fn load(addr: &str, conns: usize, duration: Duration) -> Measured {
    let url = format!("http://{addr}/webhooks/scrapely");
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let template = include_str!("../tests/fixtures/scrapely/new_reply.json");
    // Warm-up, then the measured window.
    let warmup = Instant::now() + Duration::from_millis(500);
    let deadline = warmup + duration;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        starling::actions::outbound::init_tls();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let (url, counter, errors) = (url.clone(), counter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let id = counter.fetch_add(1, Ordering::Relaxed);
                let body = template.replacen("1234567890123456789", &format!("bench-{id}"), 1);
                let started = Instant::now();
                if started >= deadline {
                    break;
                }
                let ok = match client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => r.status().is_success(),
                    Err(_) => false,
                };
                if started >= warmup {
                    if ok {
                        latencies.push(started.elapsed().as_micros() as u32);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Measured {
        rps: all.len() as f64 / duration.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
        peak_rss_mib: 0.0,
        cpu_us: 0.0,
    }
}

struct ServerProcess {
    child: Child,
    addr: String,
}

impl ServerProcess {
    fn start(server: &str, db_url: &str) -> Self {
        let mut command = if server.starts_with("starling") {
            // The example rules fire on every posted reply; "no rules" is ingestion alone.
            let rules = if server == STARLING_NO_RULES {
                std::env::temp_dir().join("starling-bench-no-rules")
            } else {
                "rules".into()
            };
            let _ = std::fs::create_dir_all(&rules);
            let mut c = Command::new(env!("CARGO_BIN_EXE_starling"));
            c.arg("serve")
                .env("STARLING__RULES__DIR", rules)
                .env("STARLING__DATABASE__URL", db_url)
                .env("STARLING__SERVER__LISTEN", "127.0.0.1:0")
                .env("STARLING__LOG__FILTER", "info");
            c
        } else {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args(["--serve", server]);
            if server == "group-commit" {
                c.arg(db_url);
            }
            c
        };
        let mut child = command
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("LISTENING ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Starling is listening")
                    && let Some(addr) = line.split("addr=").nth(1)
                {
                    let _ = tx2.send(addr.split_whitespace().next().unwrap().to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server starts");
        Self { child, addr }
    }

    /// User + system CPU time the server has used so far, in seconds.
    fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may contain spaces) end with ')'.
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: f64 = fields
            .get(11)
            .and_then(|u| u.parse::<f64>().ok())
            .unwrap_or(0.0)
            + fields
                .get(12)
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0);
        ticks / 100.0
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The two baseline servers, run as child processes of the bench.
mod baseline {
    use super::*;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::StatusCode;
    use starling::store::sqlite_options;

    pub async fn serve(kind: &str, db_url: Option<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let router = match kind {
            "bare" => Router::new().route("/webhooks/scrapely", post(bare)),
            "group-commit" => {
                let writer = GroupCommit::start(&db_url.expect("a database URL")).await;
                Router::new()
                    .route("/webhooks/scrapely", post(insert))
                    .with_state(writer)
            }
            other => panic!("unknown baseline {other}"),
        };
        println!("LISTENING {}", listener.local_addr().unwrap());
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
            term.recv().await;
        };
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .unwrap();
    }

    async fn bare(body: Bytes) -> StatusCode {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(_) => StatusCode::OK,
            Err(_) => StatusCode::BAD_REQUEST,
        }
    }

    type Insert = (String, String, oneshot::Sender<()>);

    #[derive(Clone)]
    struct GroupCommit(mpsc::Sender<Insert>);

    impl GroupCommit {
        async fn start(url: &str) -> Self {
            let (tx, mut rx) = mpsc::channel::<Insert>(2048);
            if url.starts_with("sqlite:") {
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(sqlite_options(url).unwrap())
                    .await
                    .unwrap();
                sqlx::query("CREATE TABLE bench_events (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL)").execute(&pool).await.unwrap();
                tokio::spawn(async move {
                    let mut group = Vec::new();
                    while rx.recv_many(&mut group, 512).await > 0 {
                        let mut tx = pool.begin().await.unwrap();
                        for (key, payload, _) in &group {
                            sqlx::query("INSERT INTO bench_events (key, payload) VALUES (?1, ?2)")
                                .bind(key)
                                .bind(payload)
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                        }
                        tx.commit().await.unwrap();
                        for (_, _, done) in group.drain(..) {
                            let _ = done.send(());
                        }
                    }
                });
            } else {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .unwrap();
                sqlx::query("CREATE TABLE bench_events (id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL UNIQUE, payload JSONB NOT NULL)").execute(&pool).await.unwrap();
                tokio::spawn(async move {
                    let mut group = Vec::new();
                    while rx.recv_many(&mut group, 512).await > 0 {
                        let mut tx = pool.begin().await.unwrap();
                        for (key, payload, _) in &group {
                            sqlx::query(
                                "INSERT INTO bench_events (key, payload) VALUES ($1, $2::jsonb)",
                            )
                            .bind(key)
                            .bind(payload)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        }
                        tx.commit().await.unwrap();
                        for (_, _, done) in group.drain(..) {
                            let _ = done.send(());
                        }
                    }
                });
            }
            Self(tx)
        }
    }

    async fn insert(State(writer): State<GroupCommit>, body: Bytes) -> StatusCode {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
            return StatusCode::BAD_REQUEST;
        };
        let key = value["data"]["message"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (done, committed) = oneshot::channel();
        writer.0.send((key, value.to_string(), done)).await.unwrap();
        match committed.await {
            Ok(()) => StatusCode::OK,
            Err(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}
