//! `starling quarantine list | show | replay`: a kept body replayed after a fix
//! becomes an event once and fires its rules once; one still wrong stays, with
//! its reason; the body is shown as it arrived, credentials masked.

use crate::helpers::fake_vendor::{FakeVendor, SLACK_PATH};
use crate::helpers::{Backend, TestApp, fixture, new_reply, settings};
use serde_json::Value;
use starling::cli::audit::Format;
use starling::cli::quarantine::{QuarantineCommand, run};

const RULES: &str = r#"
- name: first
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "first {{ data.message.id }}" }
"#;

/// A credential of the configuration the CLI runs with.
const TOKEN: &str = "tok-sekrit-123";

async fn quarantine(app: &TestApp, command: QuarantineCommand) -> (String, usize) {
    let dir = app.rules_dir.display().to_string();
    let env = [
        ("STARLING__RULES__DIR", dir.as_str()),
        ("STARLING__SECRETS__API_TOKEN", TOKEN),
    ];
    let outcome = run(&settings(&app.db, &env), &command)
        .await
        .expect("the command runs");
    (outcome.text, outcome.refused)
}

async fn replay_json(app: &TestApp, id: Option<i64>) -> (Vec<Value>, usize) {
    let command = QuarantineCommand::Replay {
        id,
        all: id.is_none(),
        format: Format::Json,
    };
    let (text, refused) = quarantine(app, command).await;
    let rows: Vec<Value> = serde_json::from_str(&text).expect("--format json is JSON");
    (rows, refused)
}

/// Keeps `body` as an older Starling would have (no body hash, a reason of its own).
async fn keep(app: &TestApp, source: &str, channel: &str, body: &[u8]) -> i64 {
    let now = match app.store {
        starling::store::Store::Sqlite(_) => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        starling::store::Store::Postgres(_) => "now()",
    };
    let sql = format!(
        "INSERT INTO quarantine (source, channel, received_at, last_seen_at, reason, content_type, body) \
         VALUES ($1, $2, {now}, {now}, 'refused by an older version', 'application/json', $3) RETURNING id"
    );
    crate::on_store!(&app.store, p => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).bind(source).bind(channel).bind(body).fetch_one(p).await.unwrap())
}

fn slack_texts(vendor: &FakeVendor) -> Vec<String> {
    let mut texts: Vec<String> = vendor
        .requests("POST", SLACK_PATH)
        .iter()
        .map(|r| r.body["text"].as_str().unwrap_or_default().to_string())
        .collect();
    texts.sort();
    texts
}

fn outcome_of(rows: &[Value], id: i64) -> (String, Value, Value) {
    let row = rows
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no row {id} in {rows:?}"));
    (
        row["outcome"].as_str().unwrap().to_string(),
        row["event_id"].clone(),
        row["reason"].clone(),
    )
}

/// Replayed after the fix: a valid body becomes an event and fires its rule
/// once, a body of an event stored already is a sighting, a stream message goes
/// through its stream's reader, a still-malformed one stays with its reason;
/// replaying again duplicates nothing.
async fn quarantined_payloads_are_taken_in_once_after_a_fix(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("rules.yaml", RULES)])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("m-1"))
            .await
            .status(),
        200
    );
    let malformed = fixture("new_reply_missing_conversation_id");
    let answer = app.post("/webhooks/scrapely", malformed).await;
    assert_eq!(answer.status(), 422);
    let refused: i64 = crate::on_store!(&app.store, p => sqlx::query_scalar("SELECT MAX(id) FROM quarantine").fetch_one(p).await.unwrap());
    let valid = keep(&app, "scrapely", "webhook", &new_reply("q-1")).await;
    let stored = keep(&app, "scrapely", "webhook", &new_reply("m-1")).await;
    let tweet =
        br#"{"event":"tweet.detected","tweet_id":"77","author_username":"a","tweet_text":"hi"}"#;
    let stream = keep(&app, "scrapebadger", "scrapebadger.ws", tweet).await;
    let events = app.count("events").await;

    let (rows, still) = replay_json(&app, None).await;
    assert_eq!((rows.len(), still), (4, 1), "{rows:?}");
    let (outcome, event, reason) = outcome_of(&rows, refused);
    assert_eq!((outcome.as_str(), &event), ("still_refused", &Value::Null));
    assert!(
        reason.as_str().unwrap().contains("conversation_id"),
        "{reason}"
    );
    let (outcome, created, _) = outcome_of(&rows, valid);
    assert_eq!(outcome, "event_created");
    let (outcome, sighting, _) = outcome_of(&rows, stored);
    assert_eq!(outcome, "sighting_of_stored_event");
    assert_eq!(outcome_of(&rows, stream).0, "event_created");
    assert_eq!(app.count("events").await, events + 2);
    assert!(app.event("tweet:77").await.is_some());
    let m1: i64 = crate::on_store!(&app.store, p => sqlx::query_scalar("SELECT MIN(id) FROM events").fetch_one(p).await.unwrap());
    assert_eq!(sighting, m1);

    app.settle().await;
    assert_eq!(slack_texts(&vendor), ["first m-1", "first q-1"]);

    // Again: only the refused one is taken (and refused again); by id, a
    // replayed one is left as it is.
    let (rows, still) = replay_json(&app, None).await;
    assert_eq!((rows.len(), still), (1, 1), "{rows:?}");
    let (rows, still) = replay_json(&app, Some(valid)).await;
    assert_eq!(still, 0);
    assert_eq!(
        outcome_of(&rows, valid),
        ("already_replayed".into(), created.clone(), Value::Null)
    );
    assert_eq!(app.count("events").await, events + 2);
    app.settle().await;
    assert_eq!(slack_texts(&vendor), ["first m-1", "first q-1"]);

    // The rows stay, saying what became of them.
    let (text, _) = quarantine(
        &app,
        QuarantineCommand::List {
            unresolved: false,
            format: Format::Json,
        },
    )
    .await;
    let listed: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(listed.len(), 4);
    let state = |id: i64| {
        listed.iter().find(|r| r["id"] == id).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        state(valid).contains(&format!("as event {created}")),
        "{}",
        state(valid)
    );
    assert!(
        state(refused).starts_with("still refused at"),
        "{}",
        state(refused)
    );
    let (text, _) = quarantine(
        &app,
        QuarantineCommand::List {
            unresolved: true,
            format: Format::Json,
        },
    )
    .await;
    let unresolved: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(unresolved.len(), 1);
    assert_eq!(unresolved[0]["id"], refused);
    app.stop().await;
}

/// `show` prints the source, channel, received_at, reason and the body as it
/// arrived; a configured credential in a body is masked.
async fn show_prints_the_authentic_body_with_credentials_masked(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let body = format!(r#"{{"event":"new_reply","echo":"{TOKEN}"}}"#);
    let id = keep(&app, "scrapely", "webhook", body.as_bytes()).await;
    let show = |format| QuarantineCommand::Show { id, format };
    let (text, _) = quarantine(&app, show(Format::Table)).await;
    for expected in [
        "scrapely",
        "webhook",
        "received_at",
        "refused by an older version",
        r#"{"event":"new_reply","echo":"#,
    ] {
        assert!(text.contains(expected), "{expected} not in {text}");
    }
    assert!(!text.contains(TOKEN), "{text}");
    let (text, _) = quarantine(&app, show(Format::Json)).await;
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(shown["source"], "scrapely");
    assert_eq!(shown["reason"], "refused by an older version");
    assert!(
        shown["body"]
            .as_str()
            .unwrap()
            .starts_with(r#"{"event":"new_reply","echo":""#)
    );
    assert!(!text.contains(TOKEN), "{text}");
    let missing = run(
        &settings(&app.db, &[]),
        &QuarantineCommand::Show {
            id: id + 100,
            format: Format::Table,
        },
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        missing.contains(&format!("no quarantine row #{}", id + 100)),
        "{missing}"
    );
    app.stop().await;
}

crate::on_both_backends!(
    quarantined_payloads_are_taken_in_once_after_a_fix,
    show_prints_the_authentic_body_with_credentials_masked,
);
