//! Stream benchmark: stream message → stored → vendor call.
//!
//! `cargo bench --bench streams` runs Starling in this process (release build) with
//! one `scrapest` stream pointed at a fake Scrapest WebSocket server in this bench,
//! and a rule that posts to Slack (a fake on 127.0.0.1) for every fast-x tweet
//! with a keyword. It measures:
//!
//! - latency, from the fake server sending a fast-x SourceEvent to the fake Slack
//!   receiving the post, at a steady 200 messages/s (open loop);
//! - sustained ingestion: messages sent as fast as the socket takes them, until
//!   every one is stored (a rule-less run, and one firing an action per message).
//!
//! Baseline in the same run: a bare relay — a WebSocket client that parses each
//! message and POSTs it to the same fake, storing nothing — the floor of any
//! "stream in, call out" path on this machine.
//! Options (environment): `BENCH_SECS` (default 10), `BENCH_BACKENDS` (default
//! `sqlite,postgres`), `STARLING_TEST_DATABASE_URL` (PostgreSQL admin URL).

use axum::extract::State;
use axum::routing::post;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use starling::app::Application;
use starling::clock::Clock;
use starling::config::Settings;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[path = "common/db.rs"]
mod db;
#[path = "common/stats.rs"]
#[allow(dead_code)] // `per_sec`: this bench reports rates its own way
mod stats;
use db::BenchDb;
use stats::{Measured, env_or, measure};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    tokio::runtime::Runtime::new().unwrap().block_on(run());
}

const RULE: &str = r#"
- name: alert on launches
  on: tweet
  keywords: [launch]
  do:
    - action: slack.post
      with: { text: "bench:{{ data.id }}" }
"#;

/// When each message was sent, and when its call reached the vendor, by number.
#[derive(Default)]
struct Clocks {
    sent: HashMap<u64, Instant>,
    arrived: HashMap<u64, Instant>,
}
type Shared = Arc<Mutex<Clocks>>;

async fn run() {
    starling::actions::outbound::init_tls();
    let secs = env_or("BENCH_SECS", 10);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let clocks: Shared = Arc::default();
    let vendor = fake_vendor(clocks.clone()).await;
    let mut next = 1_000_000u64;

    let bare = {
        let ws = FakeScrapest::start().await;
        tokio::spawn(bare_relay(ws.url(), vendor));
        ws.connected().await;
        steady(&ws, &clocks, &mut next, 1).await;
        steady(&ws, &clocks, &mut next, secs).await
    };
    let mut rows = vec![
        "| backend | load | messages | p50 ms | p99 ms | max ms | p99 ÷ bare p99 |".to_string(),
        "|---|---|---:|---:|---:|---:|---:|".to_string(),
        format!(
            "| – | bare relay (parse + POST, nothing stored), 200/s | {} | {:.2} | {:.2} | {:.2} | 1.00 |",
            bare.n, bare.p50, bare.p99, bare.max
        ),
    ];
    let mut throughput = vec![
        "| backend | rule | messages | messages/s |".to_string(),
        "|---|---|---:|---:|".to_string(),
    ];
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        for (firing, label) in [(false, "none matches"), (true, "one action per message")] {
            let (ws, db, stop, server) = start_starling(backend, vendor).await;
            if firing {
                steady(&ws, &clocks, &mut next, 1).await;
                let m = steady(&ws, &clocks, &mut next, secs).await;
                rows.push(format!(
                    "| {backend} | fast-x, 200 messages/s | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                    m.n,
                    m.p50,
                    m.p99,
                    m.max,
                    m.p99 / bare.p99
                ));
            }
            let (n, per_sec) = saturate(&ws, &db, &mut next, 2000 * secs, firing).await;
            throughput.push(format!("| {backend} | {label} | {n} | {per_sec:.0} |"));
            let _ = stop.send(());
            let _ = server.await;
            db.drop_db().await;
        }
    }
    println!("\nStream message → vendor call (cargo bench --bench streams, BENCH_SECS={secs}):\n");
    for row in rows {
        println!("{row}");
    }
    println!(
        "\nSustained stream ingestion (sent as fast as the socket takes them, until all are stored):\n"
    );
    for row in throughput {
        println!("{row}");
    }
}

async fn start_starling(
    backend: &str,
    vendor: std::net::SocketAddr,
) -> (
    FakeScrapest,
    BenchDb,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let ws = FakeScrapest::start().await;
    let db = BenchDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bench.yaml"), RULE).unwrap();
    let config = dir.path().join("starling.toml");
    std::fs::write(
        &config,
        format!("[[streams]]\nname = \"bench\"\nkind = \"scrapest\"\napi_key = \"k\"\nurl = \"{}\"\nuse_fast_x = true\n", ws.url()),
    )
    .unwrap();
    let env: HashMap<String, String> = [
        ("STARLING__DATABASE__URL", db.url.clone()),
        ("STARLING__RULES__DIR", dir.path().display().to_string()),
        (
            "STARLING__SLACK__WEBHOOK_URL",
            format!("http://{vendor}/slack"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let settings = Settings::load_with_env(Some(&config), Some(env)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = Application::build_with(settings, Clock::System, Some(listener))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
        drop(dir);
    }));
    ws.connected().await;
    (ws, db, stop, server)
}

fn fast_x(n: u64, keyword: bool) -> String {
    let text = if keyword {
        "We launch a new thing today"
    } else {
        "Nothing to see here today"
    };
    json!({"mid": n.to_string(), "sid": "44196397", "source": "fast-x", "timestamp": 1712072400000i64,
           "payload": {"id": n.to_string(), "text": text, "created_at": "2024-04-02T15:40:00.000Z",
                       "author": {"id": "44196397", "screen_name": "prospect", "name": "Pro Spect"}}})
    .to_string()
}

/// A one-connection fake Scrapest WebSocket: the bench hands it messages to send.
struct FakeScrapest {
    addr: std::net::SocketAddr,
    out: mpsc::UnboundedSender<String>,
    connected: Arc<tokio::sync::Notify>,
}

impl FakeScrapest {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (out, mut rx) = mpsc::unbounded_channel::<String>();
        let connected = Arc::new(tokio::sync::Notify::new());
        let ready = connected.clone();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            ready.notify_one();
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(text) => { if ws.send(Message::text(text)).await.is_err() { break } }
                        None => break,
                    },
                    incoming = ws.next() => if incoming.is_none() { break },
                }
            }
        });
        FakeScrapest {
            addr,
            out,
            connected,
        }
    }
    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
    async fn connected(&self) {
        self.connected.notified().await;
    }
}

/// The floor: read each message, parse it, POST it; nothing stored.
async fn bare_relay(url: String, vendor: std::net::SocketAddr) {
    let client = starling::actions::outbound::client(Duration::from_secs(10)).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    while let Some(Ok(Message::Text(text))) = ws.next().await {
        let v: Value = serde_json::from_str(&text).unwrap();
        let id = v["payload"]["id"].as_str().unwrap().to_string();
        let client = client.clone();
        tokio::spawn(async move {
            let _ = client
                .post(format!("http://{vendor}/slack"))
                .json(&json!({"text": format!("bench:{id}")}))
                .send()
                .await;
        });
    }
}

async fn fake_vendor(clocks: Shared) -> std::net::SocketAddr {
    async fn slack(State(clocks): State<Shared>, body: axum::Json<Value>) -> &'static str {
        let at = Instant::now();
        if let Some(n) = body["text"]
            .as_str()
            .and_then(|t| t.strip_prefix("bench:"))
            .and_then(|n| n.parse().ok())
        {
            clocks.lock().unwrap().arrived.insert(n, at);
        }
        "ok"
    }
    let app = axum::Router::new()
        .route("/slack", post(slack))
        .with_state(clocks);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// 200 fast-x messages/s for `secs`; waits until every call arrived.
async fn steady(ws: &FakeScrapest, clocks: &Shared, next: &mut u64, secs: u64) -> Measured {
    let first = *next;
    let count = 200 * secs;
    let start = tokio::time::Instant::now();
    for i in 0..count {
        tokio::time::sleep_until(start + Duration::from_millis(5 * i)).await;
        let n = first + i;
        clocks.lock().unwrap().sent.insert(n, Instant::now());
        ws.out.send(fast_x(n, true)).unwrap();
    }
    *next += count;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = {
            let c = clocks.lock().unwrap();
            (first..*next).filter(|n| c.arrived.contains_key(n)).count() as u64
        };
        if done == count {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {count} calls reached the vendor"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = clocks.lock().unwrap();
    let ms: Vec<f64> = (first..*next)
        .map(|n| c.arrived[&n].duration_since(c.sent[&n]).as_secs_f64() * 1000.0)
        .collect();
    measure(ms, start.elapsed())
}

/// Sends `count` messages at once; returns (count, messages/s until all are stored).
async fn saturate(
    ws: &FakeScrapest,
    db: &BenchDb,
    next: &mut u64,
    count: u64,
    firing: bool,
) -> (u64, f64) {
    let store = starling::store::Store::connect(&db.url, 2).await.unwrap();
    let stored = async || -> i64 {
        let sql = "SELECT COUNT(*) FROM events WHERE kind = 'tweet'";
        match &store {
            starling::store::Store::Sqlite(p) => {
                sqlx::query_scalar(sql).fetch_one(p).await.unwrap()
            }
            starling::store::Store::Postgres(p) => {
                sqlx::query_scalar(sql).fetch_one(p).await.unwrap()
            }
        }
    };
    let before = stored().await;
    let started = Instant::now();
    for i in 0..count {
        ws.out.send(fast_x(*next + i, firing)).unwrap();
    }
    *next += count;
    let deadline = Instant::now() + Duration::from_secs(300);
    while stored().await < before + count as i64 {
        assert!(Instant::now() < deadline, "messages were not all stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    store.close().await;
    (count, count as f64 / took.as_secs_f64())
}
