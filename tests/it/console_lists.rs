//! The console's lists stay bounded with many stored rows: a text search looks
//! at one window of events per page, says which, and links to the next window,
//! so a match older than the window is found by following the link.

use crate::helpers::{Backend, TestApp, fixture, poll_until};
use crate::on_both_backends;
use starling::console::queries;
use starling::store::Store;
use std::time::Duration;

/// `count` tweets stored after everything else, straight into the table (as
/// many as a search window holds: posting them one by one would take minutes).
async fn store_filler(store: &Store, count: i64) {
    let columns = "source, kind, dedupe_key, payload, received_at, last_seen_at";
    match store {
        Store::Sqlite(pool) => {
            let sql = format!(
                "INSERT INTO events ({columns}) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL \
                 SELECT i + 1 FROM n WHERE i < {count}) SELECT 'scrapest', 'tweet', 'filler:' || i, \
                 '{{\"text\":\"filler\"}}', '2026-12-02T00:00:00.000Z', '2026-12-02T00:00:00.000Z' FROM n"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .unwrap();
        }
        Store::Postgres(pool) => {
            let sql = format!(
                "INSERT INTO events ({columns}) SELECT 'scrapest', 'tweet', 'filler:' || i, \
                 '{{\"text\":\"filler\"}}', now(), now() FROM generate_series(1, {count}) i"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

/// The `href` of the page's "next" link.
fn next_link(page: &str) -> Option<String> {
    let (_, rest) = page.split_once("rel=\"next\" href=\"")?;
    // As the browser reads it: minijinja escapes `/` and `&` in attributes.
    Some(
        rest.split('"')
            .next()?
            .replace("&#x2f;", "/")
            .replace("&amp;", "&"),
    )
}

async fn newest_id(store: &Store) -> i64 {
    let sql = "SELECT max(id) FROM events";
    match store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

/// An app whose one stored event is a Scrapely reply.
async fn app_with_one_reply(backend: Backend) -> TestApp {
    let app = TestApp::builder(backend).start().await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("new_reply"))
            .await
            .status(),
        200
    );
    assert!(
        poll_until(Duration::from_secs(10), async || app.count("events").await
            == 1)
        .await
    );
    app
}

async fn get(app: &TestApp, path: &str) -> String {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

async fn a_text_search_pages_window_by_window(backend: Backend) {
    let app = app_with_one_reply(backend).await;
    let reply = newest_id(&app.store).await;
    let window = queries::window(&app.store);
    store_filler(&app.store, window + 10).await;
    let newest = newest_id(&app.store).await;
    let link = format!("href=\"/events/{reply}\"");

    let first = get(&app, "/events?q=interested").await;
    assert!(!first.contains(&link), "{first}");
    assert!(
        first.contains(&format!("Searched events {}–{newest}", newest - window + 1)),
        "{first}"
    );
    assert!(first.contains("Search older events"), "{first}");
    let older = next_link(&first).expect("a link to the older window");
    assert_eq!(
        older,
        format!(
            "/events?kind=&source=&intent=&q=interested&before={}",
            newest - window + 1
        )
    );

    let second = get(&app, &older).await;
    assert!(second.contains(&link), "{second}");
    assert!(
        second.contains(&format!("Searched events 1–{}", newest - window)),
        "{second}"
    );
    assert!(
        next_link(&second).is_none(),
        "nothing older than id 1: {second}"
    );

    // Hostile text is a literal (no LIKE wildcards, quoted): no match, no error.
    let odd = get(&app, "/events?q=%25_%27%3B%20DROP%20TABLE%20events").await;
    assert!(odd.contains("No events match"), "{odd}");
    assert_eq!(app.count("events").await, window + 11, "no table dropped");
    app.stop().await;
}

/// A lone indexed filter is not windowed: the reply is found on the first page
/// beneath a window's worth of newer tweets, by kind and by intent.
async fn a_kind_or_intent_filter_reaches_past_the_window(backend: Backend) {
    let app = app_with_one_reply(backend).await;
    let link = format!("href=\"/events/{}\"", newest_id(&app.store).await);
    store_filler(&app.store, queries::window(&app.store) + 10).await;
    for path in [
        "/events?kind=scrapely.new_reply",
        "/events?intent=interested",
    ] {
        let page = get(&app, path).await;
        assert!(page.contains(&link), "{path}: {page}");
        assert!(!page.contains("Searched events"), "{path}: {page}");
    }
    app.stop().await;
}

/// A webhook delivered twice is one event seen twice: its page says so (the
/// list's `sightings` column), not "received once".
async fn an_event_page_counts_webhook_deliveries_as_the_list_does(backend: Backend) {
    let app = app_with_one_reply(backend).await;
    let again = app.post("/webhooks/scrapely", fixture("new_reply")).await;
    assert_eq!(again.status(), 200);
    let seen_twice = async || app.count("events WHERE sightings = 2").await == 1;
    assert!(poll_until(Duration::from_secs(10), seen_twice).await);
    let id = newest_id(&app.store).await;
    let page = get(&app, &format!("/events/{id}")).await;
    assert!(
        page.contains("Received 2 times over webhook, the last at"),
        "{page}"
    );
    assert!(!page.contains("Received once"), "{page}");
}

/// `/events/abc` is the console's own 400 page saying what an id is, not the
/// router's plain-text parse error.
async fn a_path_without_a_number_gets_the_consoles_own_400(backend: Backend) {
    let app = app_with_one_reply(backend).await;
    for path in ["/events/abc", "/actions/1x", "/quarantine/-"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("</html>") && page.contains("names no id"),
            "{path}: {page}"
        );
        assert!(!page.contains("Cannot parse"), "{path}: {page}");
    }
}

on_both_backends!(
    a_path_without_a_number_gets_the_consoles_own_400,
    a_text_search_pages_window_by_window,
    a_kind_or_intent_filter_reaches_past_the_window,
    an_event_page_counts_webhook_deliveries_as_the_list_does,
);
