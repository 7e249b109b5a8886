//! Streams in the real binary: keys never logged at TRACE level, and one holder
//! per stream across processes with takeover.

use crate::helpers::fake_stream::{Auth, FakeSse, FakeWs};
use crate::helpers::{Backend, poll_until};
use crate::streams::{KEY, STREAMING, eventually, resolved, stream};
use serde_json::json;
use std::time::{Duration, Instant};

/// At TRACE level, with a key in a header (Scrapest), a Bearer key (filter), a key
/// in the URL (ScrapeBadger), a refused key and a private SSE token, the log and
/// the stored state never show a key or token; `starling streams` prints the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stream_key_appears_in_logs_or_state() {
    use crate::helpers::process::StarlingProcess;
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    let scrapest = FakeWs::start(Auth::Header("x-api-key", KEY.into())).await;
    let filter = FakeWs::start(Auth::Bearer(KEY.into())).await;
    let badger = FakeWs::start(Auth::Query("api_key", KEY.into())).await;
    let refusing = FakeWs::start(Auth::Query("api_key", "another-key".into())).await;
    let sse = FakeSse::start(Some(KEY)).await;
    let toml = [
        stream("a", "scrapest", &scrapest.url("/ws"), "text_ping_secs = 1"),
        stream(
            "b",
            "scrapest_filter",
            &filter.url("/ws"),
            "[[streams.filters]]\nkeywords = [\"x\"]",
        ),
        stream("c", "scrapebadger", &badger.url("/v1/twitter/stream"), ""),
        stream("d", "scrapebadger", &refusing.url("/v1/twitter/stream"), ""),
        stream("e", "scrapest_sse", &sse.url(), ""),
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("starling.toml");
    std::fs::write(&config, format!("{STREAMING}{toml}")).unwrap();
    let rules = dir.path().display().to_string();
    let env = [
        ("RUST_LOG", "trace"),
        ("STARLING__DATABASE__URL", db.url.as_str()),
        ("STARLING__RULES__DIR", rules.as_str()),
    ];
    let server =
        StarlingProcess::start_args(&["--config", config.to_str().unwrap(), "serve"], &env);
    for ws in [&scrapest, &filter, &badger] {
        ws.wait_connections(1).await;
    }
    refusing
        .wait("a refusal", Duration::from_secs(20), |f| {
            !f.refused().is_empty()
        })
        .await;
    sse.wait("the private stream", |f| !f.connections().is_empty())
        .await;
    badger.send(json!({"event": "tweet.detected", "tweet_id": "900", "author_username": "p", "tweet_text": "t"}).to_string());
    badger.drop_connection();
    badger.wait_connections(2).await;
    scrapest
        .wait("a text ping", Duration::from_secs(10), |f| {
            !f.received().is_empty()
        })
        .await;

    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
            .args(args)
            .env("STARLING__DATABASE__URL", &db.url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let mut shown = String::new();
    poll_until(Duration::from_secs(20), async || {
        shown = cli(&["streams", "--format", "csv"]);
        shown.contains("unauthorized") && shown.matches("connected").count() >= 4
    })
    .await;
    assert!(shown.starts_with("name,kind,state"), "{shown}");
    assert!(shown.contains("d,scrapebadger,unauthorized"), "{shown}");
    let (status, logs) = server.terminate();
    assert!(status.success());
    assert!(logs.contains("TRACE"));
    assert!(logs.contains("Stream connected"), "{logs}");
    let token_values = ["tok-1", "tok-2"];
    let leaks: Vec<&str> = logs
        .lines()
        .chain(shown.lines())
        .filter(|l| {
            l.contains(KEY)
                || l.contains("another-key")
                || token_values.iter().any(|t| l.contains(t))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "secrets in the log:\n{}",
        leaks.join("\n")
    );
}

/// Two processes on one PostgreSQL database: the stream is held by exactly one;
/// when its holder is killed, the other takes it over once the lease lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_holds_a_stream_and_another_takes_over() {
    use crate::helpers::process::StarlingProcess;
    let db = crate::helpers::TestDb::new(Backend::Postgres).await;
    let ws = FakeWs::start(Auth::Header("x-api-key", KEY.into())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("starling.toml");
    let toml = format!(
        "{STREAMING}lease_secs = 3\n{}",
        stream("main", "scrapest", &ws.url("/ws"), "")
    );
    std::fs::write(&config, toml).unwrap();
    let rules = dir.path().display().to_string();
    let env = [
        ("STARLING__DATABASE__URL", db.url.as_str()),
        ("STARLING__RULES__DIR", rules.as_str()),
    ];
    let args = ["--config", config.to_str().unwrap(), "serve"];
    let mut first = StarlingProcess::start_args(&args, &env);
    ws.wait_connections(1).await;
    let mut second = StarlingProcess::start_args(&args, &env);
    let owner = async || -> String {
        let sql = "SELECT owner FROM streams WHERE name = 'main'";
        crate::on_store!(&db_store(&db).await, p => sqlx::query_scalar::<_, Option<String>>(sql).fetch_one(p).await.unwrap())
            .unwrap_or_default()
    };
    // The second process stands by: no second connection while the lease is held.
    // Sleep stays: a subprocess proving nothing happens within a real-time window.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(ws.connections().len(), 1);
    let holder = owner().await;
    let first_pid = first.child.id().to_string();
    let (holder_proc, standby) = if holder.ends_with(&format!("-{first_pid}")) {
        (&mut first, &mut second)
    } else {
        (&mut second, &mut first)
    };
    let standby_pid = standby.child.id().to_string();
    let killed = Instant::now();
    holder_proc.kill9();
    ws.wait_connections(2).await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(10), "took over after {took:?}");
    eventually("the new owner recorded", async || {
        owner().await.ends_with(&format!("-{standby_pid}"))
    })
    .await;
    ws.send(resolved("990", "after the takeover", 1).to_string());
    let store = db_store(&db).await;
    eventually("the tweet stored by the new holder", async || {
        let sql = "SELECT COUNT(*) FROM events WHERE dedupe_key = 'tweet:990'";
        crate::on_store!(&store, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await.unwrap())
            == 1
    })
    .await;
    first.kill9_if_running();
    second.kill9_if_running();
}

async fn db_store(db: &crate::helpers::TestDb) -> starling::store::Store {
    starling::store::Store::connect(&db.url, 2).await.unwrap()
}
