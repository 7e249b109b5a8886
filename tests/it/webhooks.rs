//! Scrapely webhooks over real HTTP, on both backends. Pauses are
//! `account_pauses.rs`, the signature's test vectors `webhook_signatures.rs`,
//! refused bodies kept in quarantine `webhook_quarantine.rs`.

use crate::helpers::{Backend, TestApp, fixture, new_reply};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    seed_payloads_are_stored_with_their_kind_and_key,
    a_delivery_repeated_three_times_is_one_event,
    ten_concurrent_deliveries_are_one_event,
    a_wrong_or_missing_token_is_refused_and_nothing_is_stored,
    oversized_bodies_are_refused_with_413,
    an_unknown_event_type_is_stored,
    readiness_reports_the_database,
    a_reply_without_text_or_receiver_reaches_the_rules,
    replies_without_a_message_id_are_told_apart_by_their_body,
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
