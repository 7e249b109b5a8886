//! A reply's intent is stored with it: `events.intent*` columns that audit can
//! `GROUP BY`, `audit_log.event_intent`, a backfill for replies stored before,
//! and `rules backtest` counting replies by intent.

use crate::helpers::{Backend, TestApp, new_reply, poll_until};
use crate::on_both_backends;
use serde_json::Value;
use starling::store::audit;
use std::time::Duration;

const TAGGING: &str = r#"
- name: tag interest
  on: scrapely.new_reply
  intent: [interested]
  do:
    - action: scrapely.update_crm
      with: { tag: interested_reply }
"#;

fn reply(id: &str, text: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&new_reply(id)).unwrap();
    v["data"]["message"]["text"] = text.into();
    serde_json::to_vec(&v).unwrap()
}

const REPLIES: [(&str, &str); 4] = [
    ("1", "Sounds great, send me a calendar link"),
    ("2", "No thanks, not interested."),
    ("3", "Please remove me from your list"),
    ("4", "tuesday 3pm works"),
];

async fn post_replies(app: &TestApp) {
    for (id, text) in REPLIES {
        let response = app.post("/webhooks/scrapely", reply(id, text)).await;
        assert_eq!(response.status(), 200);
    }
}

/// `(intent, count)` of the stored replies, through the read-only audit path.
async fn by_intent(app: &TestApp) -> Vec<(Value, Value)> {
    let sql = "SELECT intent, COUNT(*) AS n FROM events WHERE kind = 'scrapely.new_reply' \
               GROUP BY intent ORDER BY intent";
    let table = audit::query(&app.db.url, sql).await.unwrap();
    table
        .rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

on_both_backends!(a_reply_is_stored_with_its_intent_and_audit_groups_by_it);

async fn a_reply_is_stored_with_its_intent_and_audit_groups_by_it(backend: Backend) {
    let app = TestApp::builder(backend)
        .rules(&[("crm.yaml", TAGGING)])
        .start()
        .await;
    post_replies(&app).await;
    let expected = [("interested", 2), ("not_interested", 1), ("unsubscribe", 1)];
    let grouped: Vec<(String, i64)> = by_intent(&app)
        .await
        .into_iter()
        .map(|(l, n)| (l.as_str().unwrap().to_string(), n.as_i64().unwrap()))
        .collect();
    let expected: Vec<(String, i64)> = expected.map(|(l, n)| (l.to_string(), n)).to_vec();
    assert_eq!(grouped, expected);

    // Confidence and evidence are kept next to the label.
    let sql = "SELECT intent_confidence, intent_evidence FROM events WHERE dedupe_key = 'scrapely:new_reply:2'";
    let row = audit::query(&app.db.url, sql).await.unwrap().rows.remove(0);
    let confidence = row[0].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&confidence), "{row:?}");
    let evidence: Vec<String> = serde_json::from_str(row[1].as_str().unwrap()).unwrap();
    assert!(
        evidence.iter().any(|e| e.contains("interested")),
        "{evidence:?}"
    );

    // audit_log shows the intent of the reply behind each action.
    let fired = poll_until(Duration::from_secs(10), async || {
        let sql = "SELECT DISTINCT event, event_intent FROM audit_log WHERE rule = 'tag interest' ORDER BY event";
        audit::query(&app.db.url, sql).await.unwrap().rows.len() == 2
    })
    .await;
    assert!(fired, "two interested replies fired the rule");
    let sql = "SELECT DISTINCT event_intent FROM audit_log WHERE rule = 'tag interest'";
    let rows = audit::query(&app.db.url, sql).await.unwrap().rows;
    assert_eq!(rows, vec![vec![Value::from("interested")]]);
    app.stop().await;
}

on_both_backends!(replies_stored_before_classification_are_filled_in_and_backtested);

async fn replies_stored_before_classification_are_filled_in_and_backtested(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    post_replies(&app).await;
    let before = by_intent(&app).await;
    // As a database migrated from a version that did not classify replies.
    let forget =
        "UPDATE events SET intent = NULL, intent_confidence = NULL, intent_evidence = NULL";
    let forgotten = match &app.store {
        starling::store::Store::Sqlite(pool) => sqlx::query(forget)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
        starling::store::Store::Postgres(pool) => sqlx::query(forget)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
    };
    assert_eq!(forgotten, 4);
    assert_eq!(by_intent(&app).await, vec![(Value::Null, Value::from(4))]);
    // Backtest counts replies by intent even before they are filled in.
    let set = starling::rules::load::load_sources(&[("crm.yaml".into(), TAGGING.into())]).unwrap();
    let options = || starling::cli::backtest::Options {
        rule: None,
        since: None,
        until: None,
        limit: 100,
    };
    let backtest = |format| {
        starling::cli::backtest::run(
            starling::cli::backtest::Reader::Url(&app.db.url),
            &set,
            options(),
            format,
        )
    };
    let report: Value =
        serde_json::from_str(&backtest(starling::cli::audit::Format::Json).await.unwrap()).unwrap();
    assert_eq!(
        report["reply_intents"],
        serde_json::json!({"interested": 2, "not_interested": 1, "unsubscribe": 1})
    );
    assert_eq!(report["rules"][0]["totals"]["would_fire"], 2);

    let filled = starling::store::event_intent::backfill(&app.store)
        .await
        .unwrap();
    assert_eq!(filled, 4);
    assert_eq!(by_intent(&app).await, before);
    assert_eq!(
        starling::store::event_intent::backfill(&app.store)
            .await
            .unwrap(),
        0,
        "a second run has nothing to do"
    );
    let csv = backtest(starling::cli::audit::Format::Csv).await.unwrap();
    assert!(
        csv.starts_with(
            "rule,would_fire,held_by_cooldown,errors,first_example\ntag interest,2,0,0,"
        ),
        "{csv}"
    );
    app.stop().await;
}
