//! The console's quarantine over real HTTP: a page of kept payloads (keyset by
//! id), a payload's page with its reason and its body (indented, escaped,
//! credentials masked), and "Ingest again" doing what `starling quarantine
//! replay ID` does: the event is stored once, a second press stores nothing, a
//! forged cross-site press is refused.

use crate::console_rules::TOKEN;
use crate::helpers::browser::Browser;
use crate::helpers::{Backend, TestApp, fixture, new_reply};
use crate::on_both_backends;
use serde_json::Value;

/// Keeps `body` as an older Starling would have refused it (no body hash).
async fn keep(app: &TestApp, body: &[u8]) -> i64 {
    let now = match app.store {
        starling::store::Store::Sqlite(_) => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        starling::store::Store::Postgres(_) => "now()",
    };
    let sql = format!(
        "INSERT INTO quarantine (source, channel, received_at, last_seen_at, reason, content_type, body) \
         VALUES ('scrapely', 'webhook', {now}, {now}, 'refused by an <older> version', 'application/json', $1) RETURNING id"
    );
    crate::on_store!(&app.store, p => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).bind(body).fetch_one(p).await.unwrap())
}

async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .env(&[("STARLING__SECRETS__API_TOKEN", TOKEN)])
        .start()
        .await
}

async fn quarantined_payloads_are_listed_shown_and_ingested_again_once(backend: Backend) {
    let app = app(backend).await;
    let malformed = fixture("new_reply_missing_conversation_id");
    assert_eq!(
        app.post("/webhooks/scrapely", malformed).await.status(),
        422
    );
    let mut reply: Value = serde_json::from_slice(&new_reply("q-1")).unwrap();
    reply["data"]["message"]["text"] = format!("<b>hi</b> my key is {TOKEN}").into();
    let valid = keep(&app, &serde_json::to_vec(&reply).unwrap()).await;

    let mut browser = Browser::new(&app);
    let (status, list, _) = browser.get("/quarantine").await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains(&format!("href=\"/quarantine/{valid}\"")),
        "{list}"
    );
    assert!(
        list.contains("conversation_id"),
        "the webhook's reason: {list}"
    );
    assert!(
        list.contains("refused by an &lt;older&gt; version"),
        "{list}"
    );

    let (status, shown, _) = browser.get(&format!("/quarantine/{valid}")).await;
    assert_eq!(status, 200, "{shown}");
    assert!(
        shown.contains("\n  &quot;data&quot;: {"),
        "indented JSON: {shown}"
    );
    assert!(shown.contains("&lt;b&gt;hi&lt;"), "escaped: {shown}");
    assert!(
        !shown.contains(TOKEN) && shown.contains("«literal:"),
        "masked: {shown}"
    );
    assert!(shown.contains("id=\"state\">kept"), "{shown}");

    let events = app.count("events").await;
    let csrf = browser.csrf();
    let ingest = format!("/quarantine/{valid}/ingest");
    let (status, _) = browser
        .post(&ingest, &[("csrf", &csrf)], "http://evil.example")
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        app.count("events").await,
        events,
        "a forged press does nothing"
    );

    let (status, location) = browser
        .post(&ingest, &[("csrf", &csrf)], &browser.origin())
        .await;
    assert_eq!(status, 303, "{location}");
    let (_, shown, _) = browser.get(&location).await;
    assert!(shown.contains("Ingested again: stored as event"), "{shown}");
    assert!(shown.contains("replayed"), "its state: {shown}");
    assert_eq!(app.count("events").await, events + 1);

    let (_, location) = browser
        .post(&ingest, &[("csrf", &csrf)], &browser.origin())
        .await;
    let (_, shown, _) = browser.get(&location).await;
    assert!(shown.contains("Replayed before"), "{shown}");
    assert_eq!(app.count("events").await, events + 1, "stored once");

    let (status, missing, _) = browser.get("/quarantine/999999").await;
    assert_eq!(status, 404);
    assert!(missing.contains("no quarantine row #999999"));
}

/// Fifty rows a page, newest first; the next page starts below the last id.
async fn the_quarantine_list_is_paged_by_id(backend: Backend) {
    let app = app(backend).await;
    let mut ids = Vec::new();
    for i in 0..53 {
        ids.push(keep(&app, format!("{{\"n\": {i}}}").as_bytes()).await);
    }
    let mut browser = Browser::new(&app);
    let (_, first, _) = browser.get("/quarantine").await;
    assert_eq!(first.matches("href=\"/quarantine/").count(), 50);
    let next = format!("/quarantine?before={}", ids[3]);
    let escaped = next.replace('/', "&#x2f;");
    assert!(first.contains(&format!("href=\"{escaped}\"")), "{first}");
    let (_, second, _) = browser.get(&next).await;
    for id in &ids[..3] {
        assert!(second.contains(&format!("href=\"/quarantine/{id}\"")));
    }
    assert_eq!(second.matches("href=\"/quarantine/").count(), 3);
    assert!(!second.contains("rel=\"next\""));
}

on_both_backends!(
    quarantined_payloads_are_listed_shown_and_ingested_again_once,
    the_quarantine_list_is_paged_by_id,
);
