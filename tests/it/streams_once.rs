//! One event per tweet across channels: the WebSocket and its webhook backup,
//! fast-x then enriched, and the keyword-DM example end to end.

use crate::helpers::Backend;
use crate::helpers::fake_stream::{Auth, FakeWs};
use crate::helpers::fake_vendor::FakeVendor;
use crate::streams::{
    KEY, SLACK_RULE, app, eventually, fired, resolved, slack_posts, source_event, stream, tweet,
};
use serde_json::{Value, json};
use std::time::Duration;

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
    slack_posts(&vendor, 1).await;
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
    app.settle().await;
    assert_eq!(slack_posts(&vendor, 1).await.len(), 1);
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
    slack_posts(&vendor, 1).await;
    ws.send(source_event("x", resolved("400", "We launch now", 150)));
    slack_posts(&vendor, 2).await;
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
    let mut texts = slack_posts(&vendor, 2).await;
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

crate::on_both_backends!(
    a_tweet_on_the_websocket_and_by_webhook_fires_once,
    fast_x_then_enriched_fires_each_rule_once,
);

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
    stranger["author"]["id"] = "55500011".into();
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
    let reason = reason.unwrap_or_default();
    assert!(reason.contains("stranger"), "{reason}");
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
    app.settle().await;
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

/// The backup webhooks handle bad input like Scrapely's: a SourceEvent without a
/// tweet id is 422 and quarantined, a Discord message is stored as such, and on a
/// public listener a vendor with no token configured is refused (403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_webhooks_refuse_what_they_cannot_trust() {
    let app = crate::helpers::TestApp::builder(Backend::Sqlite)
        .env(&[
            (
                "STARLING__WEBHOOKS__SCRAPELY__TOKEN",
                "scrapely-token-0123456789abcdef",
            ),
            (
                "STARLING__WEBHOOKS__SCRAPEST__TOKEN",
                "scrapest-token-0123456789abcdef",
            ),
        ])
        .listen("0.0.0.0:0")
        .start()
        .await;
    let port = app.addr.port();
    let store = &app.store;
    let client = &app.client;
    let post = |path: &str, body: String| {
        client
            .post(format!("http://127.0.0.1:{port}{path}"))
            .body(body)
            .send()
    };
    let no_id = json!({"mid": "1", "sid": "2", "source": "x", "timestamp": 1, "payload": {"text": "no id"}});
    let refused = post(
        "/webhooks/scrapest/scrapest-token-0123456789abcdef",
        no_id.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 422);
    let detail: Value = refused.json().await.unwrap();
    assert!(
        detail["detail"]
            .as_str()
            .unwrap()
            .contains("expected a tweet id"),
        "{detail}"
    );
    let discord = json!({"mid": "d-1", "sid": "guild", "source": "discord", "timestamp": 1, "payload": {"text": "gm"}});
    let stored = post(
        "/webhooks/scrapest/scrapest-token-0123456789abcdef",
        discord.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(stored.status(), 200);
    // ScrapeBadger has no token configured, and this listener is not loopback-only.
    let detected = json!({"event": "tweet.detected", "tweet_id": "1", "author_username": "a", "tweet_text": "t"});
    let open = post("/webhooks/scrapebadger", detected.to_string())
        .await
        .unwrap();
    assert_eq!(open.status(), 403);
    assert!(
        open.text()
            .await
            .unwrap()
            .contains("webhooks.scrapebadger.token")
    );
    let sql = "SELECT kind FROM events ORDER BY id";
    let kinds: Vec<String> =
        crate::on_store!(store, p => sqlx::query_scalar(sql).fetch_all(p).await.unwrap());
    assert_eq!(kinds, ["discord.message"]);
    let quarantined: i64 = crate::on_store!(store, p => sqlx::query_scalar("SELECT COUNT(*) FROM quarantine").fetch_one(p).await.unwrap());
    assert_eq!(quarantined, 1);
    app.stop().await;
}
