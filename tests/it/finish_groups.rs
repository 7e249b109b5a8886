//! One group commit can hold every kind of finish at once: plain ones (written
//! together by `store::finishes`) beside retries and dead ones (one by one).
//! Thirty actions finishing together each end with their own story recorded.

use crate::helpers::fake_vendor::{FakeVendor, Reply};
use crate::helpers::{Backend, TestApp, new_reply, poll_until};
use crate::on_both_backends;
use sqlx::Row;
use std::time::Duration;

const CRM: &str = "/api/v1/crm/update";
const RULE: &str = r#"
- name: tag every reply
  on: scrapely.new_reply
  do:
    - action: scrapely.update_crm
      with: { tag: interested_reply, notes: "reply {{ data.message.id }}" }
"#;

async fn mixed_finishes_in_one_group_each_record_their_own_outcome(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let refused = Reply::Status(400, serde_json::json!({"error": "Bad Request"}));
    let broken = Reply::Status(500, serde_json::json!({"error": "Internal Server Error"}));
    let mut script = vec![refused; 10];
    script.extend(vec![broken; 10]);
    vendor.script(CRM, script);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        // Not the budget under test: 30 actions, each a read and an update, plus retries.
        .env(&[("STARLING__SCRAPELY__RATE_LIMIT", "100000")])
        .rules(&[("crm.yaml", RULE)])
        .start()
        .await;
    let posts = (0..30).map(|n| {
        let app = &app;
        async move {
            let body = new_reply(&format!("mixed-{n}"));
            assert_eq!(app.post("/webhooks/scrapely", body).await.status(), 200);
        }
    });
    futures::future::join_all(posts).await;
    let done = poll_until(Duration::from_secs(30), async || {
        let n: i64 = crate::on_store!(&app.store, p => sqlx::query_scalar(
            "SELECT count(*) FROM actions WHERE status IN ('succeeded', 'dead')").fetch_one(p).await.unwrap());
        n == 30
    })
    .await;
    let statuses: Vec<String> = crate::on_store!(&app.store, p => sqlx::query_scalar(
        "SELECT status || ' ' || attempts || ' ' || coalesce(last_error, '') FROM actions").fetch_all(p).await.unwrap());
    assert!(done, "every action ends: {statuses:?}");
    app.settle().await;

    type Row = (i64, String, i64, i64, i64, String);
    let rows: Vec<Row> = crate::on_store!(&app.store, p => sqlx::query(
        "SELECT a.id, a.status, CAST(a.attempts AS BIGINT), \
           (SELECT count(*) FROM action_attempts t WHERE t.action_id = a.id AND t.series = a.series), \
           (SELECT count(*) FROM action_attempts t WHERE t.action_id = a.id AND t.outcome IS NULL), \
           (SELECT t.outcome FROM action_attempts t WHERE t.action_id = a.id ORDER BY t.id DESC LIMIT 1) \
         FROM actions a ORDER BY a.id")
        .fetch_all(p).await.unwrap().iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect());
    assert_eq!(rows.len(), 30);
    let mut dead = 0;
    for (id, status, attempts, recorded, open, last) in &rows {
        assert_eq!(*open, 0, "action {id}: an attempt left open");
        assert_eq!(
            attempts, recorded,
            "action {id}: attempts counted = recorded"
        );
        assert_eq!(
            last, status,
            "action {id}: its status is its last attempt's outcome"
        );
        dead += usize::from(status == "dead");
    }
    // Every call reached the vendor once per recorded attempt; 10 were refused for good.
    let total: i64 = crate::on_store!(&app.store, p => sqlx::query_scalar(
        "SELECT count(*) FROM action_attempts").fetch_one(p).await.unwrap());
    assert_eq!(vendor.requests("PATCH", CRM).len() as i64, total);
    let codes: Vec<Option<i64>> = crate::on_store!(&app.store, p => sqlx::query_scalar(
        "SELECT CAST(status_code AS BIGINT) FROM action_attempts").fetch_all(p).await.unwrap());
    assert_eq!(codes.iter().filter(|c| **c == Some(400)).count(), 10);
    assert_eq!(codes.iter().filter(|c| **c == Some(500)).count(), 10);
    assert_eq!(dead, 10, "the ten 400s are dead, each after one call");
    app.stop().await;
}

on_both_backends!(mixed_finishes_in_one_group_each_record_their_own_outcome);
