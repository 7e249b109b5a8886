//! Scrapely webhooks over real HTTP, on both backends.

use crate::helpers::fake_vendor::{ACCOUNT_ID, FakeVendor};
use crate::helpers::{Backend, TestApp, fixture, new_reply, poll_until};
use crate::on_both_backends;
use serde_json::{Value, json};
use starling::clock::Clock;
use std::time::Duration;
use time::OffsetDateTime;

on_both_backends!(
    seed_payloads_are_stored_with_their_kind_and_key,
    a_delivery_repeated_three_times_is_one_event,
    ten_concurrent_deliveries_are_one_event,
    a_wrong_or_missing_token_is_refused_and_nothing_is_stored,
    oversized_bodies_are_refused_with_413,
    non_json_is_400_and_quarantined,
    a_malformed_envelope_is_422_naming_the_field_and_quarantined,
    an_unknown_event_type_is_stored,
    standard_webhooks_vectors_are_checked_with_an_injected_clock,
    readiness_reports_the_database,
    a_reply_without_text_or_receiver_reaches_the_rules,
    replies_without_a_message_id_are_told_apart_by_their_body,
    a_body_refused_three_times_is_one_quarantine_row_with_three_sightings,
    an_account_paused_with_only_its_id_holds_that_accounts_dms,
    a_pause_naming_an_unknown_id_holds_dms_until_get_accounts_names_it,
);

const TOKEN: &str = "tok_3f9a8b7c6d5e";

async fn seed_payloads_are_stored_with_their_kind_and_key(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let cases = [
        (
            "new_reply",
            "scrapely.new_reply",
            "scrapely:new_reply:1234567890123456789",
        ),
        (
            "account_paused",
            "scrapely.account_paused",
            "scrapely:account_paused:550e8400-e29b-41d4-a716-446655440000:2024-02-28T12:00:00.000Z",
        ),
        (
            "leads_exhausted",
            "scrapely.leads_exhausted",
            "scrapely:leads_exhausted:camp_abc123:2024-02-28T12:00:00.000Z",
        ),
    ];
    for (file, kind, key) in cases {
        let response = app.post("/webhooks/scrapely", fixture(file)).await;
        assert_eq!(response.status(), 200, "{file}");
        let ack: Value = response.json().await.unwrap();
        assert_eq!(ack["status"], "created");
        let (stored_kind, sightings, channels) = app.event(key).await.expect("event stored");
        assert_eq!(stored_kind, kind);
        assert_eq!(sightings, 1);
        assert_eq!(
            serde_json::from_str::<Value>(&channels).unwrap(),
            serde_json::json!(["webhook"])
        );
    }
    assert_eq!(app.count("events").await, 3);
    app.stop().await;
}

async fn a_delivery_repeated_three_times_is_one_event(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = app.post("/webhooks/scrapely", fixture("new_reply")).await;
        assert_eq!(response.status(), 200);
        let ack: Value = response.json().await.unwrap();
        statuses.push(ack["status"].as_str().unwrap().to_string());
    }
    assert_eq!(statuses, ["created", "duplicate", "duplicate"]);
    assert_eq!(app.count("events").await, 1);
    let (_, sightings, _) = app
        .event("scrapely:new_reply:1234567890123456789")
        .await
        .unwrap();
    assert_eq!(sightings, 3);
    app.stop().await;
}

async fn ten_concurrent_deliveries_are_one_event(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let requests = (0..10).map(|_| app.post("/webhooks/scrapely", new_reply("777")));
    let responses = futures::future::join_all(requests).await;
    let mut created = 0;
    for response in responses {
        assert_eq!(response.status(), 200);
        let ack: Value = response.json().await.unwrap();
        created += usize::from(ack["status"] == "created");
    }
    assert_eq!(created, 1, "exactly one delivery creates the event");
    assert_eq!(app.count("events").await, 1);
    let (_, sightings, _) = app.event("scrapely:new_reply:777").await.unwrap();
    assert_eq!(sightings, 10);
    app.stop().await;
}

async fn a_wrong_or_missing_token_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::builder(backend)
        .env(&[("STARLING__WEBHOOKS__SCRAPELY__TOKEN", TOKEN)])
        .start()
        .await;
    for path in [
        "/webhooks/scrapely/wrong",
        "/webhooks/scrapely",
        "/webhooks/scrapely/tok_3f9a8b7c6d5",
    ] {
        let response = app.post(path, fixture("new_reply")).await;
        assert_eq!(response.status(), 401, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert!(body["detail"].as_str().unwrap().contains("expected"));
    }
    assert_eq!(app.count("events").await, 0);
    assert_eq!(app.count("quarantine").await, 0);

    let response = app
        .post(&format!("/webhooks/scrapely/{TOKEN}"), fixture("new_reply"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.count("events").await, 1);
    app.stop().await;
}

async fn oversized_bodies_are_refused_with_413(backend: Backend) {
    let app = TestApp::builder(backend)
        .env(&[("STARLING__SERVER__MAX_BODY_BYTES", "1024")])
        .start()
        .await;
    let mut big: Value = serde_json::from_slice(&fixture("new_reply")).unwrap();
    big["data"]["message"]["text"] = "x".repeat(2000).into();
    let response = app
        .post("/webhooks/scrapely", serde_json::to_vec(&big).unwrap())
        .await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
    assert!(body["detail"].as_str().unwrap().contains("1024"));

    // Without a Content-Length (chunked), the limit still holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![b' '; 800]), Ok(vec![b' '; 800])];
    let response = app
        .client
        .post(app.url("/webhooks/scrapely"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(app.count("events").await, 0);

    let response = app.post("/webhooks/scrapely", fixture("new_reply")).await;
    assert_eq!(response.status(), 200, "a body under the limit is accepted");
    app.stop().await;
}

async fn non_json_is_400_and_quarantined(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let response = app.post("/webhooks/scrapely", "event=new_reply&x=1").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_json");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("expected a JSON object")
    );
    assert_eq!(app.count("events").await, 0);
    assert_eq!(app.count("quarantine").await, 1);
    app.stop().await;
}

async fn a_malformed_envelope_is_422_naming_the_field_and_quarantined(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let response = app
        .post(
            "/webhooks/scrapely",
            fixture("new_reply_missing_conversation_id"),
        )
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_payload");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("data.conversation_id: missing field"),
        "{body}"
    );

    let response = app
        .post(
            "/webhooks/scrapely",
            r#"{"event": "new_reply", "timestamp": 17, "data": {}}"#,
        )
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("timestamp: invalid type"),
        "{body}"
    );

    assert_eq!(app.count("events").await, 0);
    assert_eq!(app.count("quarantine").await, 2);
    let kept = app
        .count("quarantine WHERE reason LIKE 'data.conversation_id: missing field%'")
        .await;
    assert_eq!(kept, 1, "the reason is stored with the raw body");
    app.stop().await;
}

async fn an_unknown_event_type_is_stored(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let response = app
        .post("/webhooks/scrapely", fixture("unknown_event"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.count("events WHERE kind = 'scrapely.campaign_finished'")
            .await,
        1
    );
    // Its retry is recognised by the content hash.
    let response = app
        .post("/webhooks/scrapely", fixture("unknown_event"))
        .await;
    let ack: Value = response.json().await.unwrap();
    assert_eq!(ack["status"], "duplicate");
    assert_eq!(app.count("events").await, 1);
    app.stop().await;
}

/// A rule on every reply whose Slack text shows the fields a reply may lack.
const EVERY_REPLY: &str = r#"
- name: every reply
  on: scrapely.new_reply
  do:
    - action: slack.post
      with:
        text: "{{ data.receiver.name | default('someone') }} in {{ data.conversation_id }}: {{ data.message.text | default('(no text)') }}"
"#;

/// (rule, outcome, rendered Slack text) of every rule match, in order.
async fn slack_texts(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    let sql = "SELECT rule, outcome, CAST(actions AS TEXT) FROM rule_matches ORDER BY id";
    let rows: Vec<(String, String, String)> =
        crate::on_store!(&app.store, p => sqlx::query_as(sql).fetch_all(p).await.unwrap());
    rows.into_iter()
        .map(|(rule, outcome, actions)| {
            let actions: Value = serde_json::from_str(&actions).unwrap();
            let text = actions[0]["params"]["text"].as_str().map(str::to_string);
            (rule, outcome, text)
        })
        .collect()
}

async fn a_reply_without_text_or_receiver_reaches_the_rules(backend: Backend) {
    let app = TestApp::builder(backend)
        .rules(&[("replies.yaml", EVERY_REPLY)])
        .start()
        .await;
    let mut no_receiver: Value = serde_json::from_slice(&new_reply("m-1")).unwrap();
    no_receiver["data"]
        .as_object_mut()
        .unwrap()
        .remove("receiver");
    let mut no_text: Value = serde_json::from_slice(&new_reply("m-2")).unwrap();
    no_text["data"]["message"]
        .as_object_mut()
        .unwrap()
        .remove("text");
    let bare = json!({"event": "new_reply", "timestamp": "2024-02-28T12:00:00.000Z",
        "data": {"conversation_id": "c-3"}});
    for body in [&no_receiver, &no_text, &bare] {
        let response = app
            .post("/webhooks/scrapely", serde_json::to_vec(body).unwrap())
            .await;
        assert_eq!(response.status(), 200, "{body}");
        let ack: Value = response.json().await.unwrap();
        assert_eq!(ack["status"], "created");
    }
    assert_eq!(app.count("quarantine").await, 0);
    assert_eq!(
        app.count("events WHERE kind = 'scrapely.new_reply'").await,
        3
    );
    // Stored as received: the missing fields are absent (NULL to SQL).
    let payload: String = crate::on_store!(&app.store, p => sqlx::query_scalar(
        "SELECT CAST(payload AS TEXT) FROM events WHERE dedupe_key LIKE 'scrapely:new_reply:sha256:%'"
    ).fetch_one(p).await.unwrap());
    assert_eq!(serde_json::from_str::<Value>(&payload).unwrap(), bare);
    // The rule fired on each; the fields that did not come are null to it.
    let fired = slack_texts(&app).await;
    let expected = [
        "someone in 123456789-987654321: Hey! I'm interested, let's chat.",
        "John Doe in 123456789-987654321: (no text)",
        "someone in c-3: (no text)",
    ];
    assert_eq!(fired.len(), 3, "{fired:?}");
    for ((rule, outcome, text), expected) in fired.iter().zip(expected) {
        assert_eq!((rule.as_str(), outcome.as_str()), ("every reply", "fired"));
        assert_eq!(text.as_deref(), Some(expected));
    }
    assert_eq!(app.count("actions").await, 3);
    app.stop().await;
}

async fn replies_without_a_message_id_are_told_apart_by_their_body(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let post = async |body: Vec<u8>| {
        let response = app.post("/webhooks/scrapely", body).await;
        assert_eq!(response.status(), 200);
        let ack: Value = response.json().await.unwrap();
        (
            ack["status"].as_str().unwrap().to_string(),
            ack["event_id"].as_i64().unwrap(),
        )
    };
    // The seed's shape without `message.id`, delivered three times: one event.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(post(fixture("new_reply_missing_message_id")).await.0);
    }
    assert_eq!(statuses, ["created", "duplicate", "duplicate"]);
    // Two different replies with an empty id are two events, each deduplicated.
    let empty_id = |text: &str| {
        let mut v: Value = serde_json::from_slice(&new_reply("")).unwrap();
        v["data"]["message"]["text"] = text.into();
        serde_json::to_vec(&v).unwrap()
    };
    let (yes, yes_id) = post(empty_id("Yes please")).await;
    let (no, no_id) = post(empty_id("No thanks")).await;
    let (again, again_id) = post(empty_id("Yes please")).await;
    assert_eq!(
        (yes.as_str(), no.as_str(), again.as_str()),
        ("created", "created", "duplicate")
    );
    assert_ne!(yes_id, no_id);
    assert_eq!(yes_id, again_id);
    assert_eq!(app.count("events").await, 3);
    assert_eq!(
        app.count("events WHERE dedupe_key LIKE 'scrapely:new_reply:sha256:%' AND sightings > 1")
            .await,
        2
    );
    assert_eq!(
        app.count("events WHERE dedupe_key = 'scrapely:new_reply:'")
            .await,
        0
    );
    app.stop().await;
}

async fn a_body_refused_three_times_is_one_quarantine_row_with_three_sightings(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let refuse = async |body: Vec<u8>, status: u16| {
        let response = app.post("/webhooks/scrapely", body).await;
        assert_eq!(response.status(), status);
        let detail: Value = response.json().await.unwrap();
        detail["detail"].as_str().unwrap().to_string()
    };
    // Scrapely retries a refused delivery up to 3 times: one row, three sightings.
    let malformed = fixture("new_reply_missing_conversation_id");
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(refuse(malformed.clone(), 422).await);
    }
    assert!(
        answers[0].contains("(kept as quarantine #"),
        "{}",
        answers[0]
    );
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    // Another body is another row.
    refuse(b"event=new_reply".to_vec(), 400).await;
    refuse(b"event=new_reply".to_vec(), 400).await;
    assert_eq!(app.count("quarantine").await, 2);
    let rows: Vec<(i64, String, Vec<u8>)> = crate::on_store!(&app.store, p => sqlx::query_as(
        "SELECT CAST(sightings AS BIGINT), reason, body FROM quarantine ORDER BY id"
    ).fetch_all(p).await.unwrap());
    assert_eq!(rows[0].0, 3);
    assert!(
        rows[0].1.starts_with("data.conversation_id: missing field"),
        "{}",
        rows[0].1
    );
    assert_eq!(rows[0].2, malformed, "the body is kept byte for byte");
    assert_eq!(
        (rows[1].0, rows[1].2.as_slice()),
        (2, b"event=new_reply".as_slice())
    );
    assert_eq!(
        app.count("quarantine WHERE last_seen_at >= received_at AND body_sha256 IS NOT NULL")
            .await,
        2
    );
    app.stop().await;
}

const DM: &str = "/api/v1/dm/send";

/// Thanks every reply by DM, from the reply's account (`data.account_handle`).
const THANK_EVERY_REPLY: &str = r#"
- name: thank every reply
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with:
        message: "Thanks {{ data.receiver.name | default('there') }}!"
"#;

/// Quick retries, polls and heartbeats (not the quick timeout); the same
/// person is thanked for each reply on purpose.
const QUICK_RETRIES: [(&str, &str); 4] = [
    ("STARLING__ACTIONS__RETRY__BASE_MS", "200"),
    ("STARLING__ACTIONS__POLL_INTERVAL_MS", "100"),
    ("STARLING__ACTIONS__HEARTBEAT_SECS", "1"),
    crate::actions::NO_CONTACT_WINDOW,
];

/// `account_paused` as in seed `004`, without `account_handle`.
fn paused_by_id_only() -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&fixture("account_paused")).unwrap();
    v["data"].as_object_mut().unwrap().remove("account_handle");
    serde_json::to_vec(&v).unwrap()
}

/// (account, status) of every action, by id.
async fn action_statuses(app: &TestApp) -> Vec<(Option<String>, String)> {
    let sql = "SELECT account, status FROM actions ORDER BY id";
    crate::on_store!(&app.store, p => sqlx::query_as(sql).fetch_all(p).await.unwrap())
}

/// (account, account_id) of every paused account.
async fn paused(app: &TestApp) -> Vec<(String, Option<String>)> {
    starling::store::actions::paused_accounts(&app.store)
        .await
        .unwrap()
}

async fn wait_for_statuses(app: &TestApp, expected: &[(&str, &str)]) {
    let expected: Vec<(Option<String>, String)> = expected
        .iter()
        .map(|(a, s)| (Some(a.to_string()), s.to_string()))
        .collect();
    let reached = poll_until(Duration::from_secs(15), async || {
        action_statuses(app).await == expected
    })
    .await;
    assert!(
        reached,
        "expected actions {expected:?}, have {:?}",
        action_statuses(app).await
    );
}

async fn post_ok(app: &TestApp, body: Vec<u8>) {
    let response = app.post("/webhooks/scrapely", body).await;
    assert_eq!(response.status(), 200);
}

async fn an_account_paused_with_only_its_id_holds_that_accounts_dms(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .rules(&[("dm.yaml", THANK_EVERY_REPLY)])
        .env(&QUICK_RETRIES)
        .env(&[("STARLING__SCRAPELY__ACCOUNT_CHECK_SECS", "3600")])
        .start()
        .await;
    // A first reply is thanked; its DM looked @yourhandle up in GET /accounts.
    post_ok(&app, new_reply("m-1")).await;
    wait_for_statuses(&app, &[("yourhandle", "succeeded")]).await;
    assert_eq!(vendor.requests("POST", DM).len(), 1);

    // Scrapely pauses the account naming only its id: the pause is @yourhandle's.
    post_ok(&app, paused_by_id_only()).await;
    assert_eq!(
        paused(&app).await,
        [("yourhandle".to_string(), Some(ACCOUNT_ID.to_string()))]
    );
    post_ok(&app, new_reply("m-2")).await;
    wait_for_statuses(&app, &[("yourhandle", "succeeded"), ("yourhandle", "held")]).await;
    assert_eq!(vendor.requests("POST", DM).len(), 1, "held: nothing sent");

    // Resumed by its handle: the held DM goes out, once.
    starling::cli::accounts::resume(&app.store, "@yourhandle")
        .await
        .unwrap();
    wait_for_statuses(
        &app,
        &[("yourhandle", "succeeded"), ("yourhandle", "succeeded")],
    )
    .await;
    assert_eq!(vendor.requests("POST", DM).len(), 2);
    app.stop().await;
}

/// Also DMs from an account Scrapely does not have.
const THANK_FROM_ANOTHER_ACCOUNT: &str = r#"
- name: thank from another account
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with:
        account: someoneelse
        message: "Thanks!"
"#;

async fn a_pause_naming_an_unknown_id_holds_dms_until_get_accounts_names_it(backend: Backend) {
    let vendor = FakeVendor::start().await;
    vendor.set_paused(true);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .rules(&[
            ("dm.yaml", THANK_EVERY_REPLY),
            ("other.yaml", THANK_FROM_ANOTHER_ACCOUNT),
        ])
        .env(&QUICK_RETRIES)
        .env(&[("STARLING__SCRAPELY__ACCOUNT_CHECK_SECS", "1")])
        .start()
        .await;
    // Nothing is known about the id yet: the pause is kept under it, and every DM
    // whose account cannot be told apart from it waits.
    post_ok(&app, paused_by_id_only()).await;
    post_ok(&app, new_reply("m-1")).await;
    let rules_in_order = action_statuses(&app).await;
    assert_eq!(rules_in_order.len(), 2, "{rules_in_order:?}");
    let (mine, other) = if rules_in_order[0].0.as_deref() == Some("yourhandle") {
        (0, 1)
    } else {
        (1, 0)
    };
    let with = |yours: &'static str, others: &'static str| {
        let mut v = [("", ""); 2];
        v[mine] = ("yourhandle", yours);
        v[other] = ("someoneelse", others);
        v
    };
    // The paused-accounts check (every second) reads GET /accounts, which names the
    // id's handle: the pause becomes @yourhandle's, and the other account's DM is
    // released (and dies: Scrapely has no such account).
    wait_for_statuses(&app, &with("held", "dead")).await;
    assert_eq!(
        paused(&app).await,
        [("yourhandle".to_string(), Some(ACCOUNT_ID.to_string()))]
    );
    assert!(vendor.requests("POST", DM).is_empty());

    // Scrapely shows the account active again: its DM goes out, once.
    vendor.set_paused(false);
    wait_for_statuses(&app, &with("succeeded", "dead")).await;
    assert_eq!(vendor.requests("POST", DM).len(), 1);
    app.stop().await;
}

/// The two published Standard Webhooks test vectors: (secret, id, timestamp, body, signature),
/// from `tests/fixtures/standard_webhooks_vectors.json`.
fn vectors() -> Vec<(String, String, i64, String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/standard_webhooks_vectors.json"
    );
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all.iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (
                s("secret"),
                s("id"),
                v["timestamp"].as_i64().unwrap(),
                s("body"),
                s("signature"),
            )
        })
        .collect()
}

async fn standard_webhooks_vectors_are_checked_with_an_injected_clock(backend: Backend) {
    for (secret, id, ts, body, signature) in vectors() {
        let (secret, id, body, signature) = (
            secret.as_str(),
            id.as_str(),
            body.as_str(),
            signature.as_str(),
        );
        let clock = Clock::Fixed(OffsetDateTime::from_unix_timestamp(ts).unwrap());
        let app = TestApp::builder(backend)
            .env(&[("STARLING__WEBHOOKS__SCRAPELY__SIGNING_SECRET", secret)])
            .clock(clock)
            .start()
            .await;
        let send = |id: &str, ts: i64, sig: &str, body: &str| {
            app.client
                .post(app.url("/webhooks/scrapely"))
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(body.to_string())
                .send()
        };

        // Authentic: the signature passes. The vector bodies are not Scrapely envelopes,
        // so they are kept in quarantine (422), which only authentic bodies reach.
        let response = send(id, ts, signature, body).await.unwrap();
        assert_eq!(
            response.status(),
            422,
            "vector {id} is accepted by the signature check"
        );
        assert_eq!(app.count("quarantine").await, 1);

        // One character changed in the body, in the signature, or in the id: refused.
        let altered_body = body.replacen('t', "T", 1);
        let mut altered_sig = signature.to_string();
        altered_sig.replace_range(5..6, if &signature[5..6] == "A" { "B" } else { "A" });
        for (i, s, b) in [
            (id, signature, altered_body.as_str()),
            (id, altered_sig.as_str(), body),
            ("msg_x", signature, body),
        ] {
            let response = send(i, ts, s, b).await.unwrap();
            assert_eq!(response.status(), 401);
        }
        // A timestamp 301 s off (either way) is refused even with a correct signature for it.
        let key = starling::webhooks::signature::SigningKey::parse(secret).unwrap();
        for off in [ts - 301, ts + 301] {
            let response = send(id, off, &key.sign(id, off, body.as_bytes()), body)
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
            let detail: Value = response.json().await.unwrap();
            assert!(
                detail["detail"].as_str().unwrap().contains("301 s"),
                "{detail}"
            );
        }
        assert_eq!(
            app.count("quarantine").await,
            1,
            "refused deliveries store nothing"
        );

        // A signed Scrapely event is stored.
        let reply = String::from_utf8(fixture("new_reply")).unwrap();
        let response = send(
            "msg_reply",
            ts,
            &key.sign("msg_reply", ts, reply.as_bytes()),
            &reply,
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(app.count("events").await, 1);
        app.stop().await;
    }
}

async fn readiness_reports_the_database(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");

    if backend == Backend::Postgres {
        app.db.drop_now().await;
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert!(
            body["checks"]["database"]
                .as_str()
                .unwrap()
                .starts_with("database"),
            "{body}"
        );
        // A webhook that cannot be stored is answered 503 so that the vendor retries.
        let response = app.post("/webhooks/scrapely", fixture("new_reply")).await;
        assert_eq!(response.status(), 503);
        drop(app);
    } else {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_answers_and_group_commits_in_prometheus_text() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("m-1"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/webhooks/scrapely", "not json").await.status(),
        400
    );
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"starling_webhook_requests_total{source="scrapely",outcome="created"}"#,
        r#"starling_webhook_requests_total{source="scrapely",outcome="invalid_json"}"#,
        "starling_group_commits_total",
        "starling_group_commit_seconds",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    app.stop().await;
}
