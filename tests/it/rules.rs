//! Rules at work inside a running server: matching in the event's transaction,
//! hot reload, broken edits, cooldowns across servers, evaluation errors.

use crate::helpers::{Backend, TestApp, new_reply};
use crate::on_both_backends;
use serde_json::Value;
use starling::store::Store;
use std::time::Duration;

on_both_backends!(
    a_rule_fires_on_a_stored_reply_and_not_on_a_near_miss,
    an_evaluation_error_in_one_rule_leaves_the_others_firing,
    a_repeated_delivery_never_fires_again,
);

const TAG_INTERESTED: &str = r#"
- name: tag interested
  on: scrapely.new_reply
  keywords: [interested, "let's chat"]
  when: data.message.text | length < 200
  do:
    - action: scrapely.update_crm
      with:
        tag: interested_reply
        notes: "{{ data.receiver.screen_name }}: {{ data.message.text | truncate(20) }}"
"#;

fn reply(id: &str, text: &str, handle: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&new_reply(id)).unwrap();
    v["data"]["message"]["text"] = text.into();
    v["data"]["receiver"]["screen_name"] = handle.into();
    serde_json::to_vec(&v).unwrap()
}

/// (rule, outcome, error, actions) of every match, in id order.
async fn matches(app: &TestApp) -> Vec<(String, String, Option<String>, Value)> {
    let sql = "SELECT rule, outcome, error, CAST(actions AS TEXT) FROM rule_matches ORDER BY id";
    let rows: Vec<(String, String, Option<String>, String)> = match &app.store {
        Store::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
    };
    rows.into_iter()
        .map(|(r, o, e, a)| (r, o, e, serde_json::from_str(&a).unwrap()))
        .collect()
}

async fn post(app: &TestApp, body: Vec<u8>) {
    let response = app.post("/webhooks/scrapely", body).await;
    assert_eq!(response.status(), 200);
}

async fn a_rule_fires_on_a_stored_reply_and_not_on_a_near_miss(backend: Backend) {
    let app = TestApp::builder(backend)
        .rules(&[("crm.yaml", TAG_INTERESTED)])
        .start()
        .await;
    post(
        &app,
        reply("1", "Hey, I'm interested — let's chat!", "alice"),
    )
    .await;
    post(&app, reply("2", "We are uninterested, thanks.", "bob")).await;
    post(
        &app,
        reply("3", &format!("interested {}", "x".repeat(300)), "carol"),
    )
    .await;

    let found = matches(&app).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let (rule, outcome, error, actions) = &found[0];
    assert_eq!(
        (rule.as_str(), outcome.as_str(), error),
        ("tag interested", "fired", &None)
    );
    assert_eq!(actions[0]["action"], "scrapely.update_crm");
    assert_eq!(actions[0]["params"]["tag"], "interested_reply");
    assert_eq!(actions[0]["params"]["notes"], "alice: Hey, I'm interest...");
    assert_eq!(
        actions[0]["params"]["conversation_id"], "123456789-987654321",
        "filled from the event"
    );
    app.stop().await;
}

async fn an_evaluation_error_in_one_rule_leaves_the_others_firing(backend: Backend) {
    let broken = r#"
- name: uses a missing field
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "{{ data.receiver.id }}" }  # documented, absent from this reply
- name: always alerts
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "reply from {{ data.receiver.screen_name }} (event {{ event.id }}, {{ event.kind }})" }
"#;
    let app = TestApp::builder(backend)
        .rules(&[("r.yaml", broken)])
        .start()
        .await;
    post(&app, reply("1", "hello", "dave")).await;
    let found = matches(&app).await;
    assert_eq!(found.len(), 2, "{found:?}");
    let failed = found
        .iter()
        .find(|m| m.0 == "uses a missing field")
        .unwrap();
    assert_eq!(failed.1, "error");
    assert!(
        failed.2.as_deref().unwrap().contains("undefined"),
        "{failed:?}"
    );
    let fired = found.iter().find(|m| m.0 == "always alerts").unwrap();
    assert_eq!(fired.1, "fired");
    assert_eq!(
        fired.3[0]["params"]["text"],
        "reply from dave (event 1, scrapely.new_reply)"
    );
    // The event itself is stored regardless, and the failure is announced as
    // one internal event (`tests/it/internal_events.rs`).
    assert_eq!(app.count("events WHERE source <> 'starling'").await, 1);
    assert_eq!(
        app.count("events WHERE kind = 'starling.rule_error'").await,
        1
    );
    app.stop().await;
}

async fn a_repeated_delivery_never_fires_again(backend: Backend) {
    let app = TestApp::builder(backend)
        .rules(&[("crm.yaml", TAG_INTERESTED)])
        .start()
        .await;
    for _ in 0..3 {
        post(&app, reply("1", "interested", "erin")).await;
    }
    assert_eq!(matches(&app).await.len(), 1);
    app.stop().await;
}

async fn readyz_rules(app: &TestApp) -> Value {
    let body: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["checks"]["rules"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_is_picked_up_within_two_seconds_and_a_broken_one_keeps_the_old_rules() {
    let app = TestApp::builder(Backend::Sqlite)
        .rules(&[("crm.yaml", TAG_INTERESTED)])
        .start()
        .await;
    let first = readyz_rules(&app).await;
    assert_eq!(first["rules"], 1);

    // A new rule file appears.
    let alert = "- name: alert on every reply\n  on: scrapely.new_reply\n  do:\n    - action: slack.post\n      with: { text: new reply }\n";
    std::fs::write(app.rules_dir.join("alerts.yaml"), alert).unwrap();
    assert!(
        crate::helpers::poll_until(
            Duration::from_secs(2),
            async || readyz_rules(&app).await["rules"] == 2
        )
        .await,
        "the new rule is loaded within 2 s"
    );
    post(&app, reply("1", "interested", "fay")).await;
    assert_eq!(matches(&app).await.len(), 2);

    // A broken edit: reported, and the previous rules keep firing.
    std::fs::write(
        app.rules_dir.join("alerts.yaml"),
        "- name: alert on every reply\n  on: [scrapely.new_reply\n",
    )
    .unwrap();
    assert!(
        crate::helpers::poll_until(Duration::from_secs(2), async || {
            !readyz_rules(&app).await["last_error"].is_null()
        })
        .await,
        "the broken edit is reported"
    );
    let status = readyz_rules(&app).await;
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("alerts.yaml:3:1: YAML syntax error"),
        "{status}"
    );
    assert_eq!(status["rules"], 2);
    post(&app, reply("2", "interested", "gus")).await;
    assert_eq!(
        matches(&app).await.len(),
        4,
        "both old rules fired on the new event"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cooldown_lets_one_match_through_across_two_servers_on_one_postgres() {
    let rules = r#"
- name: dm each account once
  on: scrapely.new_reply
  cooldown: { key: "{{ data.account_handle }}", for: 30d }
  do:
    - action: scrapely.send_dm
      with: { message: "Thanks for the reply!" }
"#;
    let a = TestApp::builder(Backend::Postgres)
        .rules(&[("dm.yaml", rules)])
        .start()
        .await;
    let b = TestApp::builder(Backend::Postgres)
        .db(a.db.shared())
        .rules_dir(&a.rules_dir)
        .start()
        .await;
    // 20 distinct replies to the same account, split across both servers, all at once.
    let posts = (0..20).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        server.post("/webhooks/scrapely", new_reply(&format!("race-{i}")))
    });
    for response in futures::future::join_all(posts).await {
        assert_eq!(response.status(), 200);
    }
    let found = matches(&a).await;
    assert_eq!(found.len(), 20);
    assert_eq!(
        found.iter().filter(|m| m.1 == "fired").count(),
        1,
        "{found:?}"
    );
    assert_eq!(found.iter().filter(|m| m.1 == "cooldown").count(), 19);
    b.stop().await;
    a.stop().await;
}

#[test]
fn rules_test_runs_the_example_rules_tests() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args([
            "rules",
            "test",
            "--dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
        ])
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("0 failed"), "{stdout}");
    assert!(
        !stdout.contains(" 0 tests"),
        "the examples carry tests: {stdout}"
    );
}

#[test]
fn rules_test_fails_on_a_wrong_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let rule = r#"
- name: alert
  on: scrapely.account_paused
  do:
    - action: slack.post
      with: { text: "paused: {{ data.account_handle }}" }
  tests:
    - name: wrong text
      event: { kind: scrapely.account_paused, data: { account_handle: me } }
      expect:
        match: true
        actions: [{ with: { text: "paused: you" } }]
"#;
    std::fs::write(dir.path().join("a.yaml"), rule).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(["rules", "test", "--dir", dir.path().to_str().unwrap()])
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains(r#"expected "paused: you", got "paused: me""#),
        "{stdout}"
    );
    assert!(
        stdout.contains("a.yaml:8:7"),
        "the failing test is located: {stdout}"
    );
}

on_both_backends!(a_backtest_replays_stored_events_through_a_disabled_rule_without_writing);

async fn a_backtest_replays_stored_events_through_a_disabled_rule_without_writing(
    backend: Backend,
) {
    let app = TestApp::builder(backend).start().await;
    for (id, handle) in [("1", "ann"), ("2", "ann"), ("3", "ben")] {
        post(&app, reply(id, "I'm interested", handle)).await;
    }
    let yaml = r#"
- name: dm once per person
  enabled: false
  on: scrapely.new_reply
  keywords: [interested]
  cooldown: { key: "{{ data.receiver.screen_name }}", for: 30d }
  do:
    - action: scrapely.send_dm
      with: { message: "Hi {{ data.receiver.screen_name }}" }
"#;
    let set = starling::rules::load::load_sources(&[("r.yaml".into(), yaml.into())]).unwrap();
    let options = starling::cli::backtest::Options {
        rule: None,
        since: None,
        until: None,
        limit: 100,
    };
    let out = starling::cli::backtest::run(
        starling::cli::backtest::Reader::Url(&app.db.url),
        &set,
        options,
        starling::cli::audit::Format::Json,
    )
    .await
    .unwrap();
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["events"], 3);
    let totals = &report["rules"][0]["totals"];
    assert_eq!(totals["would_fire"], 2, "{report}");
    assert_eq!(totals["held_by_cooldown"], 1);
    assert_eq!(
        totals["examples"][0]["action"]["params"]["message"],
        "Hi ann"
    );
    assert_eq!(app.count("rule_matches").await, 0, "nothing was written");
    assert_eq!(app.count("rule_cooldowns").await, 0);
    app.stop().await;
}
