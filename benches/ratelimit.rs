//! Shared rate-limit benchmark: three `starling serve` processes (the built
//! binary) on one database, against a fake Scrapely on 127.0.0.1 that allows
//! `BENCH_LIMIT` calls per sliding `BENCH_WINDOW_SECS` and answers 429 beyond
//! it, with `X-RateLimit-Limit/Remaining/Reset` on every answer. Starling is
//! configured for three times that limit, so only following the vendor's
//! headers keeps it under.
//!
//! A backlog of events (each fires one `scrapely.cancel_scheduled_tweet`, one
//! call) is posted round-robin to the three processes; the run ends by itself
//! when every call got through (or after a deadline), then the processes get
//! SIGTERM. Reported: calls made, 429s (must be 0), and throughput as a ratio of
//! the most the limit allows over the same span. Options (environment):
//! `BENCH_SECS` (default 20: the backlog is that many seconds of the limit),
//! `BENCH_LIMIT` (20), `BENCH_WINDOW_SECS` (2), `BENCH_BACKENDS`
//! (`sqlite,postgres`), `STARLING_TEST_DATABASE_URL` (PostgreSQL admin URL).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/db.rs"]
mod db;
use db::BenchDb;

/// A numeric `BENCH_*` option from the environment.
fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

const RULE: &str = r#"
- name: one call per reply
  on: scrapely.new_reply
  do:
    - action: scrapely.cancel_scheduled_tweet
      with: { tweet_id: "bench-{{ data.message.id }}" }
"#;

const API_KEY: &str = "sk_bench_ratelimit";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` compatibility
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

/// The fake's sliding window and what it saw.
#[derive(Default)]
struct Limited {
    limit: usize,
    window: Duration,
    arrivals: VecDeque<Instant>,
    ok: Vec<Instant>,
    refused: usize,
}

type Shared = Arc<Mutex<Limited>>;

async fn cancel(State(state): State<Shared>, headers: HeaderMap) -> impl IntoResponse {
    let mut s = state.lock().unwrap();
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        return (StatusCode::UNAUTHORIZED, HeaderMap::new(), "{}".to_string());
    }
    let now = Instant::now();
    let window = s.window;
    while s
        .arrivals
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        s.arrivals.pop_front();
    }
    let oldest = s.arrivals.front().copied().unwrap_or(now);
    let left = window.saturating_sub(now.duration_since(oldest));
    let reset = (SystemTime::now() + left)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let mut out = HeaderMap::new();
    out.insert("x-ratelimit-limit", s.limit.to_string().parse().unwrap());
    out.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
    if s.arrivals.len() >= s.limit {
        s.refused += 1;
        out.insert("x-ratelimit-remaining", "0".parse().unwrap());
        let body = json!({"error": "Rate limited", "message": "Too many requests.", "retry_after": window.as_secs().max(1)});
        return (StatusCode::TOO_MANY_REQUESTS, out, body.to_string());
    }
    s.arrivals.push_back(now);
    s.ok.push(now);
    let remaining = s.limit - s.arrivals.len();
    out.insert(
        "x-ratelimit-remaining",
        remaining.to_string().parse().unwrap(),
    );
    out.insert("content-type", "application/json".parse().unwrap());
    let body = json!({"success": true, "message": "Scheduled tweet cancelled"});
    (StatusCode::OK, out, body.to_string())
}

async fn fake_scrapely(limit: usize, window: Duration) -> (std::net::SocketAddr, Shared) {
    let state: Shared = Arc::new(Mutex::new(Limited {
        limit,
        window,
        ..Limited::default()
    }));
    let app = axum::Router::new()
        .route("/api/v1/scheduled-tweets", axum::routing::delete(cancel))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

/// One `starling serve` child, its address, and its log.
struct Process {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

fn env(
    db: &str,
    rules: &str,
    vendor: &std::net::SocketAddr,
    window: u64,
    configured: u64,
) -> Vec<(String, String)> {
    [
        ("STARLING__DATABASE__URL", db.to_string()),
        ("STARLING__RULES__DIR", rules.to_string()),
        ("STARLING__SERVER__LISTEN", "127.0.0.1:0".into()),
        ("STARLING__SCRAPELY__API_KEY", API_KEY.into()),
        (
            "STARLING__SCRAPELY__BASE_URL",
            format!("http://{vendor}/api/v1"),
        ),
        ("STARLING__SCRAPELY__RATE_LIMIT", configured.to_string()),
        ("STARLING__SCRAPELY__RATE_WINDOW_SECS", window.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn starling(args: &[&str], env: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_starling"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command
}

fn serve(env: &[(String, String)]) -> Process {
    let mut child = starling(&["serve"], env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the starling binary starts");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Starling is listening")
                && let Some(addr) = line.split("addr=").nth(1)
            {
                let _ = tx.send(
                    addr.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("starling did not start: {}", log.lock().unwrap()));
    Process { child, addr, log }
}

fn reply(n: usize) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/scrapely/new_reply.json"
    );
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["data"]["message"]["id"] = format!("bench-{n}").into();
    serde_json::to_vec(&v).unwrap()
}

async fn run() {
    starling::actions::outbound::init_tls();
    let secs = env_or("BENCH_SECS", 20);
    let limit = env_or("BENCH_LIMIT", 20) as usize;
    let window_secs = env_or("BENCH_WINDOW_SECS", 2).max(1);
    let window = Duration::from_secs(window_secs);
    let events = limit * (secs / window_secs).max(1) as usize;
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let mut rows = vec![
        format!(
            "| backend | fake limit | configured | events | calls | 429s | span s | calls/s | ÷ most the limit allows | processes logging the new limit |"
        ),
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|".to_string(),
    ];
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        let (vendor, seen) = fake_scrapely(limit, window).await;
        let db = BenchDb::new(backend).await;
        let rules = tempfile::tempdir().unwrap();
        std::fs::write(rules.path().join("bench.yaml"), RULE).unwrap();
        let configured = 3 * limit as u64;
        let env = env(
            &db.url,
            &rules.path().display().to_string(),
            &vendor,
            window_secs,
            configured,
        );
        let migrated = starling(&["migrate"], &env)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(migrated.success(), "starling migrate failed");
        let processes: Vec<Process> = (0..3).map(|_| serve(&env)).collect();
        let client = reqwest::Client::new();
        let posts = futures::stream::iter(0..events).map(|n| {
            let url = format!("http://{}/webhooks/scrapely", processes[n % 3].addr);
            let client = client.clone();
            async move {
                let status = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(reply(n))
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                assert_eq!(status.ok(), Some(200), "event {n} not stored");
            }
        });
        use futures::StreamExt;
        posts.buffer_unordered(16).collect::<Vec<()>>().await;
        // Ends by itself: every call through, or a deadline well past the ideal.
        let deadline = Instant::now() + Duration::from_secs(secs * 4 + 30);
        while seen.lock().unwrap().ok.len() < events && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (ok, refused, span) = {
            let s = seen.lock().unwrap();
            let span = match (s.ok.first(), s.ok.last()) {
                (Some(a), Some(b)) => b.duration_since(*a),
                _ => Duration::ZERO,
            };
            (s.ok.len(), s.refused, span)
        };
        let mut logged = 0;
        for mut p in processes {
            let pid = p.child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let _ = p.child.wait();
            if p.log.lock().unwrap().contains("X-RateLimit-Limit changed") {
                logged += 1;
            }
        }
        // The most any client could make in `span`: `limit` per window, the first one included.
        let allowed = limit as f64 * ((span.as_secs_f64() / window.as_secs_f64()).floor() + 1.0);
        rows.push(format!(
            "| {backend} | {limit} per {window_secs} s | {configured} per {window_secs} s | {events} | {} | {refused} | {:.1} | {:.2} | {:.2} | {logged} of 3 |",
            ok + refused,
            span.as_secs_f64(),
            ok as f64 / span.as_secs_f64().max(0.001),
            ok as f64 / allowed,
        ));
        if ok < events {
            rows.push(format!("| {backend} | only {ok} of {events} calls got through before the deadline | | | | | | | | |"));
        }
        db.drop_db().await;
    }
    println!(
        "\nShared rate limit, 3 processes (cargo bench --bench ratelimit, BENCH_SECS={secs} BENCH_LIMIT={limit} BENCH_WINDOW_SECS={window_secs}):\n"
    );
    for row in rows {
        println!("{row}");
    }
}
