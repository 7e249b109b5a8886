//! Tweet streams against fake vendors over real sockets: each channel delivers
//! into the store and fires rules; reconnects, close codes, 401s and limits;
//! one event per tweet across channels; fast-x then enriched.
//!
//! Past 400 lines: one whole scenario per channel and per failure, all on the
//! fake stream servers (`helpers/fake_stream.rs`) and this file's rules.

use crate::helpers::fake_stream::{Auth, FakeSse, FakeWs};
use crate::helpers::fake_vendor::FakeVendor;
use crate::helpers::{Backend, TestApp};
use serde_json::{Value, json};
use sqlx::Row;
use std::time::{Duration, Instant};

pub const KEY: &str = "sk-stream-KEY-7f3a";

/// Fast reconnects for tests; 1008 waits 2 s, a 401 the default 300 s.
pub const STREAMING: &str =
    "[streaming]\nbackoff_base_ms = 50\nbackoff_cap_secs = 1\npolicy_retry_secs = 2\n";

pub fn stream(name: &str, kind: &str, url: &str, extra: &str) -> String {
    format!(
        "[[streams]]\nname = \"{name}\"\nkind = \"{kind}\"\napi_key = \"{KEY}\"\nurl = \"{url}\"\n{extra}\n"
    )
}

pub const SLACK_RULE: &str = r#"
- name: launch tweets
  on: tweet
  keywords: [launch]
  do:
    - action: slack.post
      with:
        text: "@{{ tweet.author.screen_name }}: {{ data.text }}"
"#;

pub fn resolved(id: &str, text: &str, likes: u64) -> Value {
    json!({
        "id": id, "text": text, "created_at": "2024-02-21T00:00:00.000Z", "lang": "en",
        "favorite_count": likes, "retweet_count": 5, "reply_count": 3, "quote_count": 1, "bookmark_count": 10,
        "author": {"id": "44196397", "name": "Pro Spect", "screen_name": "prospect", "verified": false, "is_blue_verified": true},
        "entities": {"hashtags": [], "user_mentions": [], "urls": []}, "media": null,
        "retweeted_tweet": false, "retweeted": null, "quoted_tweet": null, "note_tweet_text": null,
        "in_reply_to_status_id": null, "conversation_id": id
    })
}

pub fn source_event(source: &str, payload: Value) -> String {
    json!({"mid": payload["id"], "sid": "44196397", "source": source, "timestamp": 1708473600050i64, "payload": payload}).to_string()
}

/// The builder's app with `rules`, the streaming configuration plus `toml`, and
/// `vendor` (every streams test starts this way).
pub async fn app(backend: Backend, rules: &str, toml: &str, vendor: &FakeVendor) -> TestApp {
    TestApp::builder(backend)
        .rules(&[("rules.yaml", rules)])
        .config_toml(&format!("{STREAMING}{toml}"))
        .vendor(vendor)
        .start()
        .await
}

/// Waits for `n` Slack posts at the fake vendor; returns every post's text.
pub async fn slack_posts(vendor: &FakeVendor, n: usize) -> Vec<String> {
    let path = crate::helpers::fake_vendor::SLACK_PATH;
    vendor
        .wait_for("POST", path, n, Duration::from_secs(20))
        .await;
    vendor
        .requests("POST", path)
        .iter()
        .map(|r| r.body["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub async fn eventually<F: AsyncFnMut() -> bool>(what: &str, check: F) {
    let held = crate::helpers::poll_until(Duration::from_secs(20), check).await;
    assert!(held, "timed out waiting for {what}");
}

/// The stored tweet (as rules see it) and its sightings count.
pub async fn tweet(app: &TestApp, id: &str) -> Option<(Value, i64)> {
    let sql =
        "SELECT CAST(payload AS TEXT), CAST(sightings AS BIGINT) FROM events WHERE dedupe_key = $1";
    let key = format!("tweet:{id}");
    let row: (String, i64) = crate::on_store!(&app.store, p => sqlx::query_as(sql).bind(&key).fetch_optional(p).await.unwrap())?;
    Some((serde_json::from_str(&row.0).unwrap(), row.1))
}

pub async fn fired(app: &TestApp) -> Vec<(String, String)> {
    let sql = "SELECT rule, outcome FROM rule_matches ORDER BY id";
    crate::on_store!(&app.store, p => sqlx::query(sql).fetch_all(p).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn stream_row(app: &TestApp, name: &str) -> Option<(String, Option<String>, i64, i64)> {
    let sql = "SELECT state, last_error, messages, reconnects FROM streams WHERE name = $1";
    crate::on_store!(&app.store, p => sqlx::query_as(sql).bind(name).fetch_optional(p).await.unwrap())
}

async fn stream_error(app: &TestApp, name: &str) -> String {
    stream_row(app, name)
        .await
        .and_then(|r| r.1)
        .unwrap_or_default()
}

async fn scrapest_ws_delivers_tweets_and_fires_a_rule(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let ws = FakeWs::start(Auth::Header("x-api-key", KEY.into())).await;
    let toml = stream(
        "main",
        "scrapest",
        &ws.url("/ws"),
        "use_fast_x = true\nignore_full_payload = true\ntext_ping_secs = 1",
    );
    let app = app(backend, SLACK_RULE, &toml, &vendor).await;
    let conn = ws.wait_connections(1).await.remove(0);
    assert_eq!(conn.uri, "/ws?useFastX=true&ignoreFullPayload=true");
    assert_eq!(conn.headers.get("x-api-key").map(String::as_str), Some(KEY));

    // A plain ResolvedTweet, and one inside a SourceEvent envelope.
    ws.send(resolved("100", "We launch today", 42).to_string());
    ws.send(source_event("x", resolved("101", "Launch day two", 7)));
    let texts = slack_posts(&vendor, 2).await;
    let (t, sightings) = tweet(&app, "100").await.expect("stored");
    assert_eq!(sightings, 1);
    assert_eq!(t["author"]["screen_name"], "prospect");
    assert_eq!(t["counts"]["likes"], 42);
    assert_eq!(t["url"], "https://x.com/prospect/status/100");
    assert_eq!(t["origin"]["stream"], "main");
    assert_eq!(t["origin"]["channel"], "scrapest.ws");
    assert_eq!(t["fast"], false);
    assert!(
        texts.contains(&"@prospect: We launch today".to_string()),
        "{texts:?}"
    );

    // Keepalive: a ping frame is answered, a text ping goes out every second, the
    // server's "pong" is not a message.
    ws.ping();
    ws.wait("a pong frame", Duration::from_secs(10), |f| f.pongs() >= 1)
        .await;
    ws.wait("a text ping", Duration::from_secs(10), |f| {
        f.received().iter().any(|(_, t)| t == "ping")
    })
    .await;
    // Telegram and Discord are stored with their payload under `data`.
    ws.send(json!({"mid": "tg-1", "sid": "chan", "source": "telegram", "timestamp": 1, "payload": {"text": "hello"}}).to_string());
    eventually("the telegram message", async || {
        app.event("scrapest:telegram:tg-1").await.is_some()
    })
    .await;
    assert_eq!(
        app.event("scrapest:telegram:tg-1").await.unwrap().0,
        "telegram.message"
    );
    // The state is recorded and shown.
    eventually("the stream row", async || {
        stream_row(&app, "main")
            .await
            .is_some_and(|r| r.0 == "connected" && r.2 >= 3)
    })
    .await;
    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = &ready["checks"]["streams"][0];
    assert_eq!(
        (s["name"].as_str(), s["state"].as_str()),
        (Some("main"), Some("connected")),
        "{ready}"
    );
    assert!(s["last_message_at"].as_i64().is_some());
    assert_eq!(ws.connections().len(), 1);
    app.stop().await;
}

async fn a_dropped_connection_reconnects_and_resubscribes(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let ws = FakeWs::start(Auth::Bearer(KEY.into())).await;
    let filters = "[[streams.filters]]\nkeywords = [\"launch\", \"ship\"]\nlanguage = \"en\"\n\
                   [[streams.filters]]\nusers = [\"prospect\"]\nmin_retweets = 10\n";
    let toml = stream("subs", "scrapest_filter", &ws.url("/ws"), filters);
    let app = app(backend, SLACK_RULE, &toml, &vendor).await;
    let subscribed = |conn: usize| {
        move |f: &FakeWs| f.received().iter().filter(|(c, _)| *c == conn).count() >= 2
    };
    ws.wait("two subscriptions", Duration::from_secs(20), subscribed(0))
        .await;
    let first: Vec<Value> = ws
        .received()
        .iter()
        .map(|(_, t)| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(
        first[0],
        json!({"action": "subscribe", "filters": {"keywords": ["launch", "ship"], "language": "en"}})
    );
    assert_eq!(
        first[1],
        json!({"action": "subscribe", "filters": {"users": ["prospect"], "min_retweets": 10}})
    );
    assert_eq!(
        ws.connections()[0].headers.get("authorization").unwrap(),
        &format!("Bearer {KEY}")
    );
    ws.send(json!({"type": "tweet", "data": {"id": "200", "text": "launch!", "user": {"id": "1", "username": "prospect", "name": "P"},
        "created_at": "2024-01-01T00:00:00Z", "metrics": {"retweets": 10, "likes": 25, "replies": 5}}}).to_string());
    assert_eq!(slack_posts(&vendor, 1).await, ["@prospect: launch!"]);
    assert_eq!(tweet(&app, "200").await.unwrap().0["counts"]["likes"], 25);
    // An error the server reports is shown; the connection stays.
    ws.send(json!({"type": "error", "message": "unknown filter field"}).to_string());
    eventually("the server's error shown", async || {
        stream_error(&app, "subs").await == "the server reported: unknown filter field"
    })
    .await;
    assert_eq!(ws.connections().len(), 1);

    // Abrupt drop (1006), then each close code: every reconnect subscribes again.
    ws.drop_connection();
    ws.wait(
        "a reconnect after a drop",
        Duration::from_secs(20),
        subscribed(1),
    )
    .await;
    assert!(stream_error(&app, "subs").await.contains("1006") || ws.connections().len() >= 2);
    ws.close(1000, "bye");
    ws.wait(
        "a reconnect after 1000",
        Duration::from_secs(20),
        subscribed(2),
    )
    .await;
    ws.close(1001, "restarting");
    ws.wait(
        "a reconnect after 1001",
        Duration::from_secs(20),
        subscribed(3),
    )
    .await;
    eventually("1001 reported", async || {
        stream_error(&app, "subs").await.contains("1001")
    })
    .await;
    // 1008: a limit was broken — the wait is the longer policy wait, and it says so.
    let closed_at = Instant::now();
    ws.close(1008, "too many connections");
    eventually("1008 reported", async || {
        stream_error(&app, "subs").await.contains("1008")
    })
    .await;
    let error = stream_error(&app, "subs").await;
    assert!(
        error.contains("5 connections per API key") && error.contains("too many connections"),
        "{error}"
    );
    ws.wait(
        "a reconnect after 1008",
        Duration::from_secs(20),
        subscribed(4),
    )
    .await;
    let waited = ws.connections()[4].at.duration_since(closed_at);
    assert!(
        waited >= Duration::from_secs(2),
        "reconnected after {waited:?}"
    );
    eventually("reconnects counted", async || {
        stream_row(&app, "subs").await.is_some_and(|r| r.3 >= 4)
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_key_is_reported_and_not_hammered() {
    let vendor = FakeVendor::start().await;
    let ws = FakeWs::start(Auth::Query("api_key", "the-right-key".into())).await;
    let toml = stream("badger", "scrapebadger", &ws.url("/v1/twitter/stream"), "");
    let app = app(Backend::Sqlite, SLACK_RULE, &toml, &vendor).await;
    ws.wait("a refused handshake", Duration::from_secs(20), |f| {
        !f.refused().is_empty()
    })
    .await;
    eventually("the 401 reported", async || {
        stream_row(&app, "badger")
            .await
            .is_some_and(|r| r.0 == "unauthorized")
    })
    .await;
    let error = stream_error(&app, "badger").await;
    assert!(
        error.contains("401") && error.contains("api_key"),
        "{error}"
    );
    assert!(!error.contains(KEY), "{error}");
    // The next try waits `unauthorized_retry_secs` (300 s by default), never at once.
    // Sleep stays: it proves no reconnect within a real-time window (no event to wait for).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(ws.refused().len(), 1);
    assert!(ws.connections().is_empty());
    app.stop().await;
}

#[test]
fn a_sixth_filter_connection_for_one_key_is_refused() {
    let toml: String = (1..=6)
        .map(|i| {
            stream(
                &format!("f{i}"),
                "scrapest_filter",
                "wss://api.scrape.st/ws",
                "",
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, &toml).unwrap();
    let error = starling::config::Settings::load(Some(&path))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("at most 5 connections per API key"),
        "{error}"
    );
    assert!(error.contains("f1, f2, f3, f4, f5, f6"), "{error}");
    assert!(!error.contains(KEY), "{error}");
    // Five are fine.
    let five: String = (1..=5)
        .map(|i| {
            stream(
                &format!("f{i}"),
                "scrapest_filter",
                "wss://api.scrape.st/ws",
                "",
            )
        })
        .collect();
    std::fs::write(&path, five).unwrap();
    starling::config::Settings::load(Some(&path)).expect("five connections per key are allowed");
}

async fn a_malformed_message_is_quarantined_and_the_connection_stays_up(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let ws = FakeWs::start(Auth::Header("x-api-key", KEY.into())).await;
    let app = app(
        backend,
        SLACK_RULE,
        &stream("main", "scrapest", &ws.url("/ws"), ""),
        &vendor,
    )
    .await;
    ws.wait_connections(1).await;
    ws.send("{not json");
    ws.send(json!({"text": "a tweet without an id", "author": {}}).to_string());
    ws.send(resolved("500", "still here", 1).to_string());
    eventually("the good tweet", async || {
        tweet(&app, "500").await.is_some()
    })
    .await;
    eventually("two quarantined", async || {
        app.count("quarantine").await == 2
    })
    .await;
    // Each message is quarantined by a task of its own: the two may commit in
    // either order, so they are told apart by their body (`{n` sorts after `{"`), not their id.
    let sql = "SELECT channel, reason, body FROM quarantine ORDER BY body DESC";
    let rows: Vec<(String, String, Vec<u8>)> = crate::on_store!(&app.store, p => sqlx::query_as(sql)
        .fetch_all(p).await.unwrap());
    assert_eq!(rows[0].0, "scrapest.ws");
    assert!(rows[0].1.contains("not valid JSON"), "{rows:?}");
    assert_eq!(rows[0].2, b"{not json");
    assert!(rows[1].1.contains("`id`"), "{rows:?}");
    assert_eq!(ws.connections().len(), 1, "the connection stayed up");
    app.stop().await;
}

crate::on_both_backends!(
    scrapest_ws_delivers_tweets_and_fires_a_rule,
    a_dropped_connection_reconnects_and_resubscribes,
    a_malformed_message_is_quarantined_and_the_connection_stays_up,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_sse_tweets_are_marked_truncated() {
    let vendor = FakeVendor::start().await;
    let sse = FakeSse::start(None).await;
    let toml = format!(
        "[[streams]]\nname = \"public\"\nkind = \"scrapest_sse\"\nurl = \"{}\"\nuse_fast_x = true\n",
        sse.url()
    );
    let app = app(Backend::Sqlite, SLACK_RULE, &toml, &vendor).await;
    sse.wait("a connection", |f| !f.connections().is_empty())
        .await;
    assert_eq!(
        sse.connections()[0].0.get("useFastX").map(String::as_str),
        Some("true")
    );
    assert!(
        sse.token_requests().is_empty(),
        "the public stream needs no token"
    );
    // A comment, then one event whose JSON spans three `data:` lines.
    let text = format!("We launch {}", "x".repeat(90));
    sse.push(": keepalive\n\n");
    sse.push(&format!(
        "id: 1\ndata: {{\"mid\": \"600\", \"sid\": \"1\", \"source\": \"fast-x\",\ndata: \"timestamp\": 1,\ndata: \"payload\": {{\"id\": \"600\", \"text\": \"{text}\", \"author\": {{\"screen_name\": \"prospect\"}}}}}}\n\n"
    ));
    eventually("the public tweet", async || {
        tweet(&app, "600").await.is_some()
    })
    .await;
    let (t, _) = tweet(&app, "600").await.unwrap();
    assert_eq!(t["truncated"], true);
    assert_eq!(t["origin"]["channel"], "scrapest.sse_public");
    assert_eq!(
        slack_posts(&vendor, 1).await,
        [format!("@prospect: {text}")]
    );
    // The server ends the stream: it reconnects, with the last event id.
    sse.end_stream();
    sse.wait("a reconnect", |f| f.connections().len() >= 2)
        .await;
    assert_eq!(sse.connections()[1].1.get("last-event-id").unwrap(), "1");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_sse_fetches_a_token_and_a_new_one_when_refused() {
    let vendor = FakeVendor::start().await;
    let sse = FakeSse::start(Some(KEY)).await;
    let toml = stream("private", "scrapest_sse", &sse.url(), "");
    let app = app(Backend::Sqlite, SLACK_RULE, &toml, &vendor).await;
    sse.wait("a connection", |f| !f.connections().is_empty())
        .await;
    assert_eq!(sse.token_requests(), [Some(KEY.to_string())]);
    assert_eq!(
        sse.connections()[0].0.get("token").map(String::as_str),
        Some("tok-1")
    );
    sse.push(&format!(
        "data: {}\n\n",
        source_event("x", resolved("700", "We launch privately", 3))
    ));
    slack_posts(&vendor, 1).await;
    assert_eq!(tweet(&app, "700").await.unwrap().0["truncated"], false);
    // The token expires and the stream ends: the old token is refused once, a new
    // one is fetched, and the stream is back.
    sse.expire_tokens();
    sse.end_stream();
    sse.wait("a second connection", |f| f.connections().len() >= 2)
        .await;
    assert_eq!(sse.refused(), 1);
    assert_eq!(sse.token_requests().len(), 2);
    assert_eq!(
        sse.connections()[1].0.get("token").map(String::as_str),
        Some("tok-2")
    );
    app.stop().await;
}

/// Silence past `idle_timeout_secs` (no message, no ping) is a dead connection:
/// it is dropped, reported, and made again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_taken_for_dead_and_replaced() {
    let vendor = FakeVendor::start().await;
    let ws = FakeWs::start(Auth::Query("api_key", KEY.into())).await;
    let toml = stream(
        "quiet",
        "scrapebadger",
        &ws.url("/v1/twitter/stream"),
        "idle_timeout_secs = 1",
    );
    let app = app(Backend::Sqlite, SLACK_RULE, &toml, &vendor).await;
    ws.wait_connections(1).await;
    // Heartbeat pings keep it alive…
    for _ in 0..4 {
        // Sleep stays: real time passing beyond `idle_timeout_secs` is what is tested.
        tokio::time::sleep(Duration::from_millis(400)).await;
        ws.ping();
    }
    assert_eq!(ws.connections().len(), 1);
    // …silence does not.
    ws.wait_connections(2).await;
    eventually("the idle drop reported", async || {
        stream_error(&app, "quiet")
            .await
            .contains("nothing received for 1 s")
    })
    .await;
    app.stop().await;
}
