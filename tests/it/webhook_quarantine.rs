//! Refused Scrapely webhooks over real HTTP, on both backends: a body that is
//! not JSON is a 400 and a malformed envelope a 422 naming the field, each kept
//! byte for byte in quarantine, one row per body however often it is retried.

use crate::helpers::{Backend, TestApp, fixture};
use crate::on_both_backends;
use serde_json::Value;

on_both_backends!(
    non_json_is_400_and_quarantined,
    a_malformed_envelope_is_422_naming_the_field_and_quarantined,
    a_body_refused_three_times_is_one_quarantine_row_with_three_sightings,
);

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
