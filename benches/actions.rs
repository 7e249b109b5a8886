//! Event-to-action latency benchmark.
//!
//! `cargo bench --bench actions` runs Starling in this process (release build) with
//! a rule that fires `scrapely.update_crm` on every `new_reply` (one conversation
//! per reply, so each update first reads that conversation's CRM notes to append
//! to them), pointed at a fake Scrapely on 127.0.0.1, and measures the time from
//! starting the webhook POST to the fake vendor receiving the `PATCH /crm/update`:
//!
//! - at a steady 200 events/s (open loop: a POST every 5 ms, whatever happens);
//! - at saturation (32 concurrent posters as fast as they can), with actions/s.
//!
//! Baseline measured in the same run: the bare loopback round trip of one POST to
//! the fake vendor at 200/s (the floor of any "webhook in, call out" path), so the
//! published figure is also a ratio on this noisy shared machine.
//! Options (environment): `BENCH_SECS` (default 10), `BENCH_BACKENDS` (default
//! `sqlite,postgres`), `BENCH_NOTES_MODE` (`append`, the default, or `replace`), `STARLING_TEST_DATABASE_URL` (PostgreSQL admin URL);
//! any `STARLING__*` setting (e.g. `STARLING__ACTIONS__CONCURRENCY=32`) is passed on.

use axum::extract::State;
use axum::routing::{patch, post};
use serde_json::{Value, json};
use starling::app::Application;
use starling::clock::Clock;
use starling::config::Settings;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/db.rs"]
mod db;
#[path = "common/stats.rs"]
mod stats;
use db::BenchDb;
use stats::{Measured, env_or, measure};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` compatibility
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

/// The rule, its notes appended (the default: each update first reads the
/// conversation's notes, a second Scrapely call) or replaced (`BENCH_NOTES_MODE=replace`:
/// one call per update).
fn rule(notes_mode: &str) -> String {
    format!(
        r#"
- name: note every reply
  on: scrapely.new_reply
  do:
    - action: scrapely.update_crm
      with: {{ notes: "bench:{{{{ data.message.id }}}}", notes_mode: {notes_mode} }}
"#
    )
}

/// Arrival time at the fake vendor, by event number.
type Arrivals = Arc<Mutex<HashMap<u64, Instant>>>;

async fn run() {
    starling::actions::outbound::init_tls();
    let secs: u64 = env_or("BENCH_SECS", 10);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let notes_mode = std::env::var("BENCH_NOTES_MODE").unwrap_or_else(|_| "append".into());
    let (vendor, arrivals) = fake_vendor().await;
    let client = starling::actions::outbound::client(Duration::from_secs(60)).unwrap();
    let bare = bare_round_trip(&client, &vendor, secs).await;
    let mut rows = vec![
        "| backend | load | events | actions/s | p50 ms | p99 ms | max ms | p50 ÷ bare p50 |"
            .to_string(),
        "|---|---|---:|---:|---:|---:|---:|---:|".to_string(),
        format!(
            "| – | bare POST to the fake vendor, 200/s | {} | – | {:.2} | {:.2} | {:.2} | 1.00 |",
            bare.n, bare.p50, bare.p99, bare.max
        ),
    ];
    // Event numbers are unique across backends: the fake vendor's record is shared.
    let mut next = 1_000_000_000u64;
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        let db = BenchDb::new(backend).await;
        let rules = tempfile::tempdir().unwrap();
        std::fs::write(rules.path().join("bench.yaml"), rule(&notes_mode)).unwrap();
        let env: HashMap<String, String> = [
            ("STARLING__DATABASE__URL", db.url.clone()),
            ("STARLING__RULES__DIR", rules.path().display().to_string()),
            ("STARLING__SCRAPELY__API_KEY", "sk_bench".into()),
            (
                "STARLING__SCRAPELY__BASE_URL",
                format!("http://{vendor}/api/v1"),
            ),
            ("STARLING__SCRAPELY__RATE_LIMIT", "100000000".into()),
            ("STARLING__SCRAPELY__RATE_WINDOW_SECS", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        // Any other STARLING__* setting of the bench's own environment, to try one.
        .chain(
            std::env::vars()
                .filter(|(k, _)| k.starts_with("STARLING__") && !k.contains("DATABASE")),
        )
        .collect();
        let settings = Settings::load_with_env(None, Some(env)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = Application::build_with(settings, Clock::System, Some(listener))
            .await
            .unwrap();
        let addr = app.addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let url = format!("http://{addr}/webhooks/scrapely");
        // Warm up connections, caches and the database.
        drive(
            &client,
            &url,
            &arrivals,
            &mut next,
            Load::Steady {
                per_sec: 200,
                secs: 1,
            },
        )
        .await;
        let steady = drive(
            &client,
            &url,
            &arrivals,
            &mut next,
            Load::Steady { per_sec: 200, secs },
        )
        .await;
        let saturated = drive(
            &client,
            &url,
            &arrivals,
            &mut next,
            Load::Saturate {
                events: 600 * secs,
                conns: 32,
            },
        )
        .await;
        for (load, m) in [
            ("200 events/s", &steady),
            ("saturation, 32 conns", &saturated),
        ] {
            rows.push(format!(
                "| {backend} | {load} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
                m.n,
                m.per_sec,
                m.p50,
                m.p99,
                m.max,
                m.p50 / bare.p50
            ));
        }
        let _ = stop.send(());
        let _ = server.await;
        db.drop_db().await;
    }
    println!(
        "\nEvent → vendor call latency (cargo bench --bench actions, BENCH_SECS={secs}, BENCH_NOTES_MODE={notes_mode}):\n"
    );
    for row in rows {
        println!("{row}");
    }
}

/// A fake Scrapely that records when each event's CRM update arrives.
async fn fake_vendor() -> (std::net::SocketAddr, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    async fn crm(State(arrivals): State<Arrivals>, body: axum::Json<Value>) -> axum::Json<Value> {
        let at = Instant::now();
        // Notes are appended as a dated line: "YYYY-MM-DD: bench:N".
        if let Some(n) = body["notes"]
            .as_str()
            .and_then(|s| s.rsplit("bench:").next())
            .and_then(|s| s.trim().parse().ok())
        {
            arrivals.lock().unwrap().insert(n, at);
        }
        axum::Json(json!({"success": true, "updated": body.0}))
    }
    /// The conversation's CRM part, read before each update (its notes are empty).
    async fn conversation(uri: axum::http::Uri) -> axum::Json<Value> {
        let id = uri
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("conversation_id="))
            .unwrap_or("")
            .to_string();
        axum::Json(json!({"success": true, "conversation": {
            "conversation_id": id, "account_handle": "yourhandle", "messages": [],
            "crm": {"tag": null, "notes": ""}
        }}))
    }
    async fn echo() -> axum::Json<Value> {
        axum::Json(json!({"success": true}))
    }
    let app = axum::Router::new()
        .route("/api/v1/crm/update", patch(crm))
        .route("/api/v1/conversations", axum::routing::get(conversation))
        .route("/echo", post(echo))
        .with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, arrivals)
}

async fn bare_round_trip(
    client: &reqwest::Client,
    vendor: &std::net::SocketAddr,
    secs: u64,
) -> Measured {
    let url = format!("http://{vendor}/echo");
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..200 * secs {
        tokio::time::sleep_until(start + Duration::from_millis(5 * i)).await;
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            client
                .post(url)
                .json(&json!({"n": i}))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            sent.elapsed().as_secs_f64() * 1000.0
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.push(t.await.unwrap());
    }
    measure(latencies, start.elapsed())
}

enum Load {
    Steady { per_sec: u64, secs: u64 },
    Saturate { events: u64, conns: usize },
}

fn reply(n: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": "new_reply",
        "timestamp": "2024-02-28T12:00:00.000Z",
        "data": {
            // One conversation per reply, as 200 replies a second come from 200 people.
            "conversation_id": format!("123456789-{n}"),
            "account_handle": "yourhandle",
            "receiver": {"screen_name": "prospect", "name": "John Doe"},
            "message": {"id": n.to_string(), "text": "Sounds good, tell me more.", "created_at": "2024-02-28T12:00:00.000Z"}
        }
    }))
    .unwrap()
}

/// Posts events as `load` says; returns the webhook-start → vendor-arrival latencies.
async fn drive(
    client: &reqwest::Client,
    url: &str,
    arrivals: &Arrivals,
    next: &mut u64,
    load: Load,
) -> Measured {
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let first = *next;
    // Every earlier phase's events have arrived (each phase waits for its own), so
    // this phase's arrivals are the map's growth: counted without a scan, which
    // would take the shared cores from the server being measured.
    let before = arrivals.lock().unwrap().len() as u64;
    let started = Instant::now();
    let post = |n: u64| {
        let (client, url, sent) = (client.clone(), url.to_string(), sent.clone());
        async move {
            sent.lock().unwrap().insert(n, Instant::now());
            let r = client
                .post(url)
                .header("content-type", "application/json")
                .body(reply(n))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "webhook answered {}", r.status());
        }
    };
    match load {
        Load::Steady { per_sec, secs } => {
            let start = tokio::time::Instant::now();
            let gap = Duration::from_nanos(1_000_000_000 / per_sec);
            let mut tasks = Vec::new();
            for i in 0..per_sec * secs {
                tokio::time::sleep_until(start + gap * i as u32).await;
                tasks.push(tokio::spawn(post(first + i)));
            }
            for t in tasks {
                t.await.unwrap();
            }
            *next += per_sec * secs;
        }
        Load::Saturate { events, conns } => {
            use futures::StreamExt;
            futures::stream::iter((0..events).map(|i| post(first + i)))
                .buffer_unordered(conns)
                .collect::<Vec<()>>()
                .await;
            *next += events;
        }
    }
    let count = *next - first;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = arrivals.lock().unwrap().len() as u64 - before;
        if done == count {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {count} actions reached the vendor"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrivals = arrivals.lock().unwrap();
    let sent = sent.lock().unwrap();
    let last = (first..*next).map(|n| arrivals[&n]).max().unwrap();
    let latencies = (first..*next)
        .map(|n| arrivals[&n].duration_since(sent[&n]).as_secs_f64() * 1000.0)
        .collect();
    measure(latencies, last.duration_since(started))
}
