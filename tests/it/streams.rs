//! Tweet streams against fake vendors over real sockets: each channel delivers
//! into the store and fires rules; reconnects, close codes, 401s and limits;
//! one event per tweet across channels; fast-x then enriched.

use crate::helpers::fake_stream::{Auth, FakeSse, FakeWs};
use crate::helpers::fake_vendor::FakeVendor;
use crate::helpers::{Backend, TestApp, spawn_app_with_config};
use serde_json::{Value, json};
use sqlx::Row;
use std::time::{Duration, Instant};

pub const KEY: &str = "sk-stream-KEY-7f3a";

/// Fast reconnects for tests; 1008 waits 2 s, a 401 the default 300 s.
const STREAMING: &str =
    "[streaming]\nbackoff_base_ms = 50\nbackoff_cap_secs = 1\npolicy_retry_secs = 2\n";

pub fn stream(name: &str, kind: &str, url: &str, extra: &str) -> String {
    format!(
        "[[streams]]\nname = \"{name}\"\nkind = \"{kind}\"\napi_key = \"{KEY}\"\nurl = \"{url}\"\n{extra}\n"
    )
}

const SLACK_RULE: &str = r#"
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

async fn app(backend: Backend, rules: &str, toml: &str, vendor: &FakeVendor) -> TestApp {
    let env = vendor.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with_config(
        backend,
        &[("rules.yaml", rules)],
        &format!("{STREAMING}{toml}"),
        &env,
    )
    .await
}

pub async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
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
    vendor
        .wait_for(
            "POST",
            crate::helpers::fake_vendor::SLACK_PATH,
            2,
            Duration::from_secs(20),
        )
        .await;
    let (t, sightings) = tweet(&app, "100").await.expect("stored");
    assert_eq!(sightings, 1);
    assert_eq!(t["author"]["screen_name"], "prospect");
    assert_eq!(t["counts"]["likes"], 42);
    assert_eq!(t["url"], "https://x.com/prospect/status/100");
    assert_eq!(t["origin"]["stream"], "main");
    assert_eq!(t["origin"]["channel"], "scrapest.ws");
    assert_eq!(t["fast"], false);
    let texts: Vec<String> = vendor
        .requests("POST", crate::helpers::fake_vendor::SLACK_PATH)
        .iter()
        .map(|r| r.body["text"].as_str().unwrap().to_string())
        .collect();
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
    eventually("the filter tweet", async || {
        tweet(&app, "200").await.is_some()
    })
    .await;

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

async fn a_tweet_on_the_websocket_and_by_webhook_fires_once(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let ws = FakeWs::start(Auth::Query("api_key", KEY.into())).await;
    let toml = format!(
        "{}[webhooks.scrapest]\ntoken = \"hook-token\"\n[webhooks.scrapebadger]\ntoken = \"badger-token\"\n",
        stream("badger", "scrapebadger", &ws.url("/v1/twitter/stream"), "")
    );
    let app = app(backend, SLACK_RULE, &toml, &vendor).await;
    assert!(
        ws.wait_connections(1).await[0]
            .uri
            .ends_with(&format!("?api_key={KEY}"))
    );
    let detected = json!({"event": "tweet.detected", "monitor_id": "abc-123", "monitor_name": "Tech Leaders",
        "tweet_id": "300", "author_username": "prospect", "tweet_text": "We launch at noon",
        "tweet_url": "https://x.com/prospect/status/300", "tweet_published_at": "2026-03-13T12:00:00Z",
        "detected_at": "2026-03-13T12:00:00.150Z", "latency_ms": 150});
    ws.send(detected.to_string());
    eventually("the websocket tweet", async || {
        tweet(&app, "300").await.is_some()
    })
    .await;
    // The webhook backup delivers it too, and Scrapest's webhook a richer version.
    let hook = app
        .post("/webhooks/scrapebadger/badger-token", detected.to_string())
        .await;
    assert_eq!(hook.status(), 200);
    assert_eq!(hook.json::<Value>().await.unwrap()["status"], "duplicate");
    let richer = source_event("x", resolved("300", "We launch at noon", 9));
    let hook = app
        .post("/webhooks/scrapest/hook-token", richer.clone())
        .await;
    assert_eq!(hook.json::<Value>().await.unwrap()["status"], "updated");
    let again = app.post("/webhooks/scrapest/hook-token", richer).await;
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "duplicate");
    vendor
        .wait_for(
            "POST",
            crate::helpers::fake_vendor::SLACK_PATH,
            1,
            Duration::from_secs(20),
        )
        .await;
    let (t, sightings) = tweet(&app, "300").await.unwrap();
    assert_eq!(sightings, 4);
    assert_eq!(
        t["counts"]["likes"], 9,
        "the enriched version replaced the detection"
    );
    let channels = app.event("tweet:300").await.unwrap().2;
    for channel in [
        "scrapebadger.ws",
        "scrapebadger.webhook",
        "scrapest.webhook",
    ] {
        assert!(channels.contains(channel), "{channels}");
    }
    assert_eq!(
        fired(&app).await,
        [("launch tweets".to_string(), "fired".to_string())]
    );
    assert_eq!(app.count("event_sightings").await, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        vendor
            .requests("POST", crate::helpers::fake_vendor::SLACK_PATH)
            .len(),
        1
    );
    // A wrong token is refused and nothing is stored.
    assert_eq!(
        app.post("/webhooks/scrapest/nope", "{}").await.status(),
        401
    );
    app.stop().await;
}

const TWO_RULES: &str = r#"
- name: launch tweets
  on: tweet
  keywords: [launch]
  do:
    - action: slack.post
      with: { text: "launch {{ data.id }}" }
- name: popular tweets
  on: tweet
  when: data.counts.likes is not none and data.counts.likes >= 100
  do:
    - action: slack.post
      with: { text: "popular {{ data.id }} {{ data.counts.likes }}" }
"#;

async fn fast_x_then_enriched_fires_each_rule_once(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let ws = FakeWs::start(Auth::Header("x-api-key", KEY.into())).await;
    let toml = stream("main", "scrapest", &ws.url("/ws"), "use_fast_x = true");
    let app = app(backend, TWO_RULES, &toml, &vendor).await;
    ws.wait_connections(1).await;
    let mut fast = resolved("400", "We launch now", 0);
    for field in [
        "favorite_count",
        "retweet_count",
        "reply_count",
        "quote_count",
        "bookmark_count",
        "entities",
        "media",
    ] {
        fast.as_object_mut().unwrap().remove(field);
    }
    ws.send(source_event("fast-x", fast));
    eventually("the fast tweet", async || {
        tweet(&app, "400").await.is_some()
    })
    .await;
    let (t, _) = tweet(&app, "400").await.unwrap();
    assert_eq!(
        (t["fast"].as_bool(), t["counts"]["likes"].clone()),
        (Some(true), Value::Null)
    );
    vendor
        .wait_for(
            "POST",
            crate::helpers::fake_vendor::SLACK_PATH,
            1,
            Duration::from_secs(20),
        )
        .await;
    ws.send(source_event("x", resolved("400", "We launch now", 150)));
    vendor
        .wait_for(
            "POST",
            crate::helpers::fake_vendor::SLACK_PATH,
            2,
            Duration::from_secs(20),
        )
        .await;
    // A repeat (a reconnect replaying) changes nothing.
    ws.send(source_event("x", resolved("400", "We launch now", 150)));
    eventually("three sightings", async || {
        tweet(&app, "400").await.is_some_and(|t| t.1 == 3)
    })
    .await;
    let (t, _) = tweet(&app, "400").await.unwrap();
    assert_eq!(
        (t["fast"].as_bool(), t["counts"]["likes"].as_u64()),
        (Some(false), Some(150))
    );
    let mut texts: Vec<String> = vendor
        .requests("POST", crate::helpers::fake_vendor::SLACK_PATH)
        .iter()
        .map(|r| r.body["text"].as_str().unwrap().to_string())
        .collect();
    texts.sort();
    assert_eq!(texts, ["launch 400", "popular 400 150"]);
    let mut decided = fired(&app).await;
    decided.sort();
    assert_eq!(
        decided,
        [
            ("launch tweets".into(), "fired".into()),
            ("popular tweets".into(), "fired".into())
        ]
    );
    app.stop().await;
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
    let sql = "SELECT channel, reason, body FROM quarantine ORDER BY id";
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
    a_tweet_on_the_websocket_and_by_webhook_fires_once,
    fast_x_then_enriched_fires_each_rule_once,
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
    let text = "x".repeat(100);
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
    vendor
        .wait_for(
            "POST",
            crate::helpers::fake_vendor::SLACK_PATH,
            1,
            Duration::from_secs(20),
        )
        .await;
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

/// The shipped keyword-DM rule (`rules/outreach.yaml`, its delay shortened): a
/// tracked author's tweet seen on the WebSocket and by webhook is one DM into the
/// conversation found by handle; the same author again within 30 days is held by
/// the cooldown; an author with no conversation is skipped with the reason.
async fn the_keyword_dm_example_sends_one_dm_per_author(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/outreach.yaml"))
            .unwrap();
    assert!(shipped.contains("delay: 15m"));
    let rule = shipped
        .replace("delay: 15m", "delay: 1s")
        .replace("another_founder", "stranger");
    let ws = FakeWs::start(Auth::Header("x-api-key", KEY.into())).await;
    let toml = format!(
        "{}[webhooks.scrapest]\ntoken = \"hook-token\"\n",
        stream("main", "scrapest", &ws.url("/ws"), "")
    );
    let app = app(backend, &rule, &toml, &vendor).await;
    ws.wait_connections(1).await;
    let looking = source_event(
        "x",
        resolved(
            "800",
            "We're looking for an outreach tool, any recommendations?",
            3,
        ),
    );
    ws.send(looking.clone());
    assert_eq!(
        app.post("/webhooks/scrapest/hook-token", looking)
            .await
            .status(),
        200
    );
    let dms = vendor
        .wait_for("POST", "/api/v1/dm/send", 1, Duration::from_secs(20))
        .await;
    assert_eq!(dms[0].body["conversation_id"], "123456789-987654321");
    let message = dms[0].body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Hi Pro Spect!")
            && message.contains("https://x.com/prospect/status/800"),
        "{message}"
    );
    // The same author tweets again: the 30-day cooldown holds the rule back.
    ws.send(source_event(
        "x",
        resolved("801", "Still hiring, still looking for help", 3),
    ));
    // Someone tracked but with no conversation: skipped with the reason, not retried.
    let mut stranger = resolved("802", "hiring a growth lead", 3);
    stranger["author"]["screen_name"] = "stranger".into();
    ws.send(source_event("x", stranger));
    let status = |id: &'static str| {
        let sql = "SELECT a.status, a.last_error FROM actions a JOIN events e ON e.id = a.event_id WHERE e.dedupe_key = $1";
        let store = app.store.clone();
        async move {
            let row: Option<(String, Option<String>)> = crate::on_store!(&store, p => sqlx::query_as(sql).bind(format!("tweet:{id}")).fetch_optional(p).await.unwrap());
            row
        }
    };
    eventually("the stranger's DM skipped", async || {
        status("802").await.is_some_and(|s| s.0 == "skipped")
    })
    .await;
    let (_, reason) = status("802").await.unwrap();
    assert!(reason.unwrap_or_default().contains("stranger"));
    eventually("the second tweet decided", async || {
        fired(&app).await.len() == 3
    })
    .await;
    let sql = "SELECT e.dedupe_key, m.outcome FROM rule_matches m JOIN events e ON e.id = m.event_id ORDER BY e.dedupe_key";
    let outcomes: Vec<(String, String)> =
        crate::on_store!(&app.store, p => sqlx::query_as(sql).fetch_all(p).await.unwrap());
    let outcomes: Vec<(&str, &str)> = outcomes
        .iter()
        .map(|(k, o)| (k.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("tweet:800", "fired"),
            ("tweet:801", "cooldown"),
            ("tweet:802", "fired")
        ]
    );
    assert_eq!(status("800").await.unwrap().0, "succeeded");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(vendor.requests("POST", "/api/v1/dm/send").len(), 1);
    app.stop().await;
}

crate::on_both_backends!(the_keyword_dm_example_sends_one_dm_per_author);

/// On a tweet, Scrapely's fields (a DM's conversation, the account) are not in the
/// event: the rule must say them, and `rules check` says so.
#[test]
fn a_tweet_rule_must_name_what_scrapely_events_would_give() {
    let rule = "- name: dm\n  on: tweet\n  do:\n    - action: scrapely.send_dm\n      with: { message: hi }\n";
    let errors = starling::rules::load::load_sources(&[("r.yaml".into(), rule.into())])
        .err()
        .expect("refused")
        .to_string();
    assert!(
        errors.contains("missing required parameter `conversation_id`"),
        "{errors}"
    );
    assert!(
        errors.contains("missing required parameter `account`"),
        "{errors}"
    );
    assert!(errors.contains("give it for the other events"), "{errors}");
    let addressed = rule.replace(
        "{ message: hi }",
        "{ message: hi, to: \"{{ data.author.screen_name }}\", account_id: acc-1 }",
    );
    starling::rules::load::load_sources(&[("r.yaml".into(), addressed)])
        .expect("`to` and `account_id` are enough");
}

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
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        shown = cli(&["streams", "--format", "csv"]);
        if shown.contains("unauthorized") && shown.matches("connected").count() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
