//! Failures announce themselves: a dead action, an unknown outcome, a held DM, a
//! stream down (and up again) and a rule error each become one `starling.*`
//! event in the `events` table that rules match and act on; an alert about a
//! failure that itself fails raises nothing more; one INFO line per rule fire
//! and per action end, both naming the event.
//!
//! Past 400 lines because each failure kind is one whole scenario (a server, the
//! fake vendor, a rule on the `starling.*` event) sharing the readers of the
//! internal events written here.

use crate::helpers::fake_stream::{Auth, FakeWs};
use crate::helpers::fake_vendor::{FakeVendor, Reply, SLACK_PATH};
use crate::helpers::process::StarlingProcess;
use crate::helpers::{Backend, TestApp, TestDb, fixture, new_reply, poll_for};
use crate::on_both_backends;
use serde_json::{Value, json};
use sqlx::Row;
use starling::store::Store;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// (event id, source, data) of every event of `kind`, in order.
async fn internal(store: &Store, kind: &str) -> Vec<(i64, String, Value)> {
    let sql = "SELECT id, source, CAST(payload AS TEXT) FROM events WHERE kind = $1 ORDER BY id";
    let rows: Vec<(i64, String, String)> = crate::on_store!(store, p => sqlx::query(sql)
        .bind(kind).fetch_all(p).await.unwrap().iter()
        .map(|r| (r.get(0), r.get(1), r.get(2))).collect());
    rows.into_iter()
        .map(|(id, source, payload)| (id, source, serde_json::from_str(&payload).unwrap()))
        .collect()
}

/// Waits for the first event of `kind`.
async fn first(store: &Store, kind: &str) -> (i64, String, Value) {
    poll_for(WAIT, async || {
        internal(store, kind).await.into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("no {kind} event within {WAIT:?}"))
}

/// (id, kind, status, rule, event id) of every action, by id.
async fn actions(store: &Store) -> Vec<(i64, String, String, String, i64)> {
    let sql = "SELECT id, kind, status, rule, event_id FROM actions ORDER BY id";
    crate::on_store!(store, p => sqlx::query(sql).fetch_all(p).await.unwrap().iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect())
}

/// The id of the stored reply (the event the rules first fired on).
async fn reply_id(store: &Store) -> i64 {
    let sql = "SELECT id FROM events WHERE kind = 'scrapely.new_reply' ORDER BY id LIMIT 1";
    crate::on_store!(store, p => sqlx::query_scalar(sql).fetch_one(p).await.unwrap())
}

/// A reply posts to the configured Slack webhook (the fake's secret path); a
/// dead action is alerted to `{hook}/slack/alerts`.
fn dead_rules(hook: &str) -> String {
    format!(
        r#"
- name: post replies
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: {{ text: "A reply came" }}
- name: slack me when an action is dead
  on: starling.action_dead
  do:
    - action: slack.post
      with:
        webhook_url: "{hook}/slack/alerts"
        text: "dead: {{{{ data.action }}}} {{{{ data.action_id }}}} of {{{{ data.rule }}}} ({{{{ data.error }}}})"
"#
    )
}

async fn a_dead_action_raises_one_event_that_a_rule_alerts_on(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let hook = format!("http://{}", vendor.addr);
    vendor.script(
        SLACK_PATH,
        vec![Reply::Status(400, json!({"error": "invalid_payload"}))],
    );
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dead.yaml", dead_rules(&hook).as_str())])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("d1"))
            .await
            .status(),
        200
    );
    let alert = vendor.wait_for("POST", "/slack/alerts", 1, WAIT).await;
    app.settle().await;

    let dead = internal(&app.store, "starling.action_dead").await;
    assert_eq!(dead.len(), 1, "one event for one death: {dead:?}");
    let (event_id, source, data) = &dead[0];
    assert_eq!(source, "starling");
    let all = actions(&app.store).await;
    let (dead_id, ..) = all
        .iter()
        .find(|a| a.2 == "dead")
        .expect("a dead action")
        .clone();
    assert_eq!(data["action_id"], dead_id);
    assert_eq!(data["action"], "slack.post");
    assert_eq!(data["status"], "dead");
    assert_eq!(data["rule"], "post replies");
    assert_eq!(data["event_id"], reply_id(&app.store).await);
    assert_eq!(data["event_kind"], "scrapely.new_reply");
    assert_eq!(data["attempts"], 1);
    assert!(data["error"].as_str().unwrap().contains("400"), "{data}");
    // The Slack URL is the credential: it is in no internal event.
    assert!(!data.to_string().contains("slacksecret"), "{data}");
    // The alert is an action of the internal event, created like any other.
    let fired: Vec<_> = all.iter().filter(|a| a.4 == *event_id).collect();
    assert_eq!(fired.len(), 1, "{all:?}");
    assert_eq!(
        (fired[0].2.as_str(), fired[0].3.as_str()),
        ("succeeded", "slack me when an action is dead")
    );
    let text = alert[0].body["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("dead: slack.post {dead_id} of post replies (")),
        "{text}"
    );
    app.stop().await;
}

async fn an_alert_that_is_itself_dead_raises_no_second_event(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let hook = format!("http://{}", vendor.addr);
    vendor.script(
        SLACK_PATH,
        vec![Reply::Status(400, json!({"error": "invalid_payload"}))],
    );
    vendor.script(
        "/slack/alerts",
        vec![Reply::Status(404, json!({"error": "no_service"}))],
    );
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dead.yaml", dead_rules(&hook).as_str())])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("d2"))
            .await
            .status(),
        200
    );
    vendor.wait_for("POST", "/slack/alerts", 1, WAIT).await;
    let both_dead = crate::helpers::poll_until(WAIT, async || {
        let all = actions(&app.store).await;
        all.len() == 2 && all.iter().all(|a| a.2 == "dead")
    })
    .await;
    assert!(both_dead, "{:?}", actions(&app.store).await);
    app.settle().await;
    let dead = internal(&app.store, "starling.action_dead").await;
    assert_eq!(dead.len(), 1, "not a chain: {dead:?}");
    assert_eq!(dead[0].2["rule"], "post replies");
    assert_eq!(vendor.requests("POST", "/slack/alerts").len(), 1);
    assert_eq!(actions(&app.store).await.len(), 2);
    app.stop().await;
}

async fn an_unknown_outcome_raises_an_event(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let hook = format!("http://{}", vendor.addr);
    vendor.script("/slack/once", vec![Reply::ActThenStatus(502)]);
    let rules = format!(
        r#"
- name: post once
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: {{ text: "Once", webhook_url: "{hook}/slack/once", at_most_once: true }}
- name: slack me when an outcome is unknown
  on: starling.action_outcome_unknown
  do:
    - action: slack.post
      with: {{ text: "unknown: {{{{ data.action_id }}}} {{{{ data.status }}}}" }}
"#
    );
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("once.yaml", rules.as_str())])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("u1"))
            .await
            .status(),
        200
    );
    let alert = vendor.wait_for("POST", SLACK_PATH, 1, WAIT).await;
    app.settle().await;
    let unknown = internal(&app.store, "starling.action_outcome_unknown").await;
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    let data = &unknown[0].2;
    assert_eq!(data["status"], "outcome_unknown");
    assert_eq!(data["rule"], "post once");
    assert!(
        data["error"].as_str().unwrap().contains("at_most_once"),
        "{data}"
    );
    let id = data["action_id"].as_i64().unwrap();
    assert_eq!(
        alert[0].body["text"],
        format!("unknown: {id} outcome_unknown")
    );
    assert_eq!(
        vendor.requests("POST", "/slack/once").len(),
        1,
        "never sent twice"
    );
    app.stop().await;
}

async fn a_dm_held_for_a_paused_account_raises_an_event(backend: Backend) {
    let vendor = FakeVendor::start().await;
    vendor.set_paused(true);
    let rules = r#"
- name: thank interested prospects
  on: scrapely.new_reply
  keywords: [interested]
  do:
    - action: scrapely.send_dm
      with: { message: "Thanks! Here is the calendar link." }
- name: slack me when a dm is held
  on: starling.action_held
  do:
    - action: slack.post
      with: { text: "held: {{ data.action }} for @{{ data.account }}" }
"#;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("held.yaml", rules)])
        .env(&[crate::actions::NO_CONTACT_WINDOW])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("account_paused"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("h1"))
            .await
            .status(),
        200
    );
    let alert = vendor.wait_for("POST", SLACK_PATH, 1, WAIT).await;
    assert_eq!(
        alert[0].body["text"],
        "held: scrapely.send_dm for @yourhandle"
    );
    app.settle().await;
    let held = internal(&app.store, "starling.action_held").await;
    assert_eq!(held.len(), 1, "{held:?}");
    let data = &held[0].2;
    assert_eq!(
        (data["status"].as_str(), data["rule"].as_str()),
        (Some("held"), Some("thank interested prospects"))
    );
    assert!(vendor.requests("POST", "/api/v1/dm/send").is_empty());
    app.stop().await;
}

/// A DM queued for later is held by the pause that arrives meanwhile: the hold
/// is made in the pause's group commit, and announced there.
async fn a_queued_dm_held_by_a_later_pause_raises_an_event(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let rules = r#"
- name: dm in an hour
  on: scrapely.new_reply
  keywords: [interested]
  do:
    - action: scrapely.send_dm
      delay: 1h
      with: { message: "Thanks! Here is the calendar link." }
"#;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .rules(&[("later.yaml", rules)])
        .env(&[crate::actions::NO_CONTACT_WINDOW])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("q1"))
            .await
            .status(),
        200
    );
    let queued = actions(&app.store).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].2, "pending");
    assert!(
        internal(&app.store, "starling.action_held")
            .await
            .is_empty()
    );
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("account_paused"))
            .await
            .status(),
        200
    );
    let held = internal(&app.store, "starling.action_held").await;
    assert_eq!(held.len(), 1, "announced in the pause's commit: {held:?}");
    assert_eq!(held[0].2["action_id"], queued[0].0);
    assert_eq!(held[0].2["status"], "held");
    assert_eq!(actions(&app.store).await[0].2, "held");
    app.stop().await;
}

async fn a_stream_down_past_the_threshold_raises_down_then_up(backend: Backend) {
    let vendor = FakeVendor::start().await;
    // A port where nothing listens yet: the stream cannot connect.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let toml = format!(
        "{}[alerts]\nstream_down_after = \"1s\"\n{}",
        crate::streams::STREAMING,
        crate::streams::stream("mentions", "scrapest", &format!("ws://{addr}/ws"), "")
    );
    let rules = r#"
- name: slack me when a stream is down
  on: starling.stream_down
  do:
    - action: slack.post
      with: { text: "down: {{ data.stream }} ({{ data.vendor }})" }
- name: slack me when it is back
  on: starling.stream_up
  do:
    - action: slack.post
      with: { text: "up: {{ data.stream }}" }
"#;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .rules(&[("streams.yaml", rules)])
        .config_toml(&toml)
        .start()
        .await;
    let (_, _, down) = first(&app.store, "starling.stream_down").await;
    assert_eq!(
        (down["stream"].as_str(), down["vendor"].as_str()),
        (Some("mentions"), Some("scrapest"))
    );
    assert!(down["down_secs"].as_i64().unwrap() >= 1, "{down}");
    assert!(
        down["last_error"].is_string(),
        "the connection error is said: {down}"
    );
    let alert = vendor.wait_for("POST", SLACK_PATH, 1, WAIT).await;
    assert_eq!(alert[0].body["text"], "down: mentions (scrapest)");
    assert!(internal(&app.store, "starling.stream_up").await.is_empty());

    let ws = FakeWs::start_on(
        &addr.to_string(),
        Auth::Header("x-api-key", crate::streams::KEY.into()),
    )
    .await;
    ws.wait_connections(1).await;
    let (_, _, up) = first(&app.store, "starling.stream_up").await;
    assert_eq!(up["stream"], "mentions");
    assert_eq!(up["down_since"], down["down_since"]);
    let posts = vendor.wait_for("POST", SLACK_PATH, 2, WAIT).await;
    assert_eq!(posts[1].body["text"], "up: mentions");
    app.settle().await;
    assert_eq!(
        internal(&app.store, "starling.stream_down").await.len(),
        1,
        "down once"
    );
    assert_eq!(
        internal(&app.store, "starling.stream_up").await.len(),
        1,
        "up once"
    );
    app.stop().await;
}

async fn a_rule_that_fails_and_a_broken_reload_raise_rule_errors(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let rules = r#"
- name: greet by name
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "Reply from {{ data.receiver.name }}" }
- name: slack me when a rule fails
  on: starling.rule_error
  do:
    - action: slack.post
      with: { text: "rule error ({{ data.during }}): {{ data.rule or 'reload' }}" }
"#;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("errors.yaml", rules)])
        .start()
        .await;
    let mut reply: Value = serde_json::from_slice(&new_reply("e1")).unwrap();
    reply["data"].as_object_mut().unwrap().remove("receiver");
    assert_eq!(
        app.post("/webhooks/scrapely", serde_json::to_vec(&reply).unwrap())
            .await
            .status(),
        200
    );
    let alert = vendor.wait_for("POST", SLACK_PATH, 1, WAIT).await;
    assert_eq!(
        alert[0].body["text"],
        "rule error (evaluation): greet by name"
    );
    let errors = internal(&app.store, "starling.rule_error").await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let data = &errors[0].2;
    assert_eq!(data["event_id"], reply_id(&app.store).await);
    assert_eq!(data["event_kind"], "scrapely.new_reply");
    assert!(
        data["error"].as_str().unwrap().contains("receiver"),
        "{data}"
    );

    // A broken edit: the last good rules keep running, and the failure is an event.
    std::fs::write(
        app.rules_dir.join("broken.yaml"),
        "- name: broken\n  onn: tweet\n",
    )
    .unwrap();
    let (_, _, reload) = poll_for(WAIT, async || {
        internal(&app.store, "starling.rule_error")
            .await
            .into_iter()
            .find(|e| e.2["during"] == "reload")
    })
    .await
    .expect("a reload failure event");
    assert!(
        reload["error"].as_str().unwrap().contains("broken.yaml"),
        "{reload}"
    );
    let posts = vendor.wait_for("POST", SLACK_PATH, 2, WAIT).await;
    assert_eq!(posts[1].body["text"], "rule error (reload): reload");
    app.settle().await;
    assert_eq!(internal(&app.store, "starling.rule_error").await.len(), 2);
    app.stop().await;
}

on_both_backends!(
    a_dead_action_raises_one_event_that_a_rule_alerts_on,
    an_alert_that_is_itself_dead_raises_no_second_event,
    an_unknown_outcome_raises_an_event,
    a_dm_held_for_a_paused_account_raises_an_event,
    a_queued_dm_held_by_a_later_pause_raises_an_event,
    a_stream_down_past_the_threshold_raises_down_then_up,
    a_rule_that_fails_and_a_broken_reload_raise_rule_errors,
);

/// The real binary's log: one INFO line when the rule fires and one when its
/// action ends, both with `event=ID`, so grep follows the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_info_line_per_rule_fire_and_per_action_end_name_the_event() {
    let vendor = FakeVendor::start().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("r.yaml"),
        "- name: post replies\n  on: scrapely.new_reply\n  do:\n    - action: slack.post\n      with: { text: \"A reply\" }\n",
    )
    .unwrap();
    let dir = rules.path().display().to_string();
    let mut env: Vec<(&str, String)> = vendor.env();
    env.push(("STARLING__DATABASE__URL", db.url.clone()));
    env.push(("STARLING__RULES__DIR", dir));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = StarlingProcess::start(&env);
    let response = crate::helpers::http()
        .post(server.url("/webhooks/scrapely"))
        .header("content-type", "application/json")
        .body(new_reply("log1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    vendor.wait_for("POST", SLACK_PATH, 1, WAIT).await;
    let store = Store::connect(&db.url, 2).await.unwrap();
    let ended = crate::helpers::poll_until(WAIT, async || {
        actions(&store)
            .await
            .first()
            .is_some_and(|a| a.2 == "succeeded")
    })
    .await;
    assert!(ended);
    let event = reply_id(&store).await;
    let (_, logs) = server.terminate();
    let mentions: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(&format!("event={event} ")))
        .collect();
    let fired: Vec<&&str> = mentions
        .iter()
        .filter(|l| l.contains("Rule fired"))
        .collect();
    let ended: Vec<&&str> = mentions
        .iter()
        .filter(|l| l.contains("Action ended"))
        .collect();
    assert_eq!(fired.len(), 1, "{logs}");
    assert_eq!(ended.len(), 1, "{logs}");
    assert!(
        fired[0].contains("INFO")
            && fired[0].contains("rule=post replies")
            && fired[0].contains("actions=slack.post"),
        "{}",
        fired[0]
    );
    assert!(
        ended[0].contains("INFO")
            && ended[0].contains("action=1 ")
            && ended[0].contains("kind=slack.post")
            && ended[0].contains("outcome=succeeded")
            && ended[0].contains("latency_ms="),
        "{}",
        ended[0]
    );
    assert!(!logs.contains("slacksecret"), "no secret in the log");
    assert!(!logs.contains("SELECT "), "no SQL in the log:\n{logs}");
}
