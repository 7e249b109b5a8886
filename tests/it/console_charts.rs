//! The overview's charts: the numbers they show for events, attempts and replies
//! stored at known hours (read from each chart's JSON twin, the data its SVG is
//! drawn from), the three windows, a bad window, an empty database, the hourly
//! rollup counted once by two rollers, and an event arriving for an hour already
//! rolled.
//!
//! Past 400 lines because every chart test reads the same seed of known hours and
//! the same JSON-twin readers; split, each file would repeat them.

use crate::helpers::{Backend, TestApp, TestDb, poll_until};
use crate::on_both_backends;
use serde_json::Value;
use starling::clock::Clock;
use starling::console::charts::{self, ChartName, Window};
use starling::store::Store;
use starling::store::hourly;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::datetime;

/// The tests' "now": half past ten, so 10:00 is the live hour and 09:00 the last rolled.
const NOW: OffsetDateTime = datetime!(2026-12-01 10:30 UTC);

/// A migrated database of its own, and a pool on it (a replica).
async fn migrated(backend: Backend) -> (TestDb, Store) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    store.migrate().await.unwrap();
    (db, store)
}

/// Stores an event of `kind` received at `at` (with `intent`, for replies).
async fn event(
    store: &Store,
    key: &str,
    kind: &str,
    at: OffsetDateTime,
    intent: Option<&str>,
) -> i64 {
    let sql_sqlite = "INSERT INTO events (source, kind, dedupe_key, received_at, last_seen_at, payload, intent) \
                      VALUES ('scrapely', $1, $2, $3, $3, '{}', $4) RETURNING id";
    let sql_pg = "INSERT INTO events (source, kind, dedupe_key, received_at, last_seen_at, payload, intent) \
                  VALUES ('scrapely', $1, $2, $3, $3, '{}'::jsonb, $4) RETURNING id";
    match store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql_sqlite)
            .bind(kind)
            .bind(key)
            .bind(starling::clock::format_utc(at))
            .bind(intent)
            .fetch_one(pool)
            .await
            .unwrap(),
        Store::Postgres(pool) => sqlx::query_scalar(sql_pg)
            .bind(kind)
            .bind(key)
            .bind(at)
            .bind(intent)
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

/// An action of `event_id` with one attempt finished at `at` with `outcome`
/// after `latency_ms`.
async fn attempt(
    store: &Store,
    event_id: i64,
    index: i64,
    at: OffsetDateTime,
    outcome: &str,
    latency_ms: f64,
) {
    let ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    let action = "INSERT INTO actions (event_id, rule, action_index, kind, params, status, run_at, created_at, updated_at) \
                  VALUES ($1, 'r', $2, 'slack.post', '{}', 'succeeded', $3, $3, $3) RETURNING id";
    let attempt = "INSERT INTO action_attempts (action_id, series, attempt, worker, started_at, finished_at, outcome, latency_ms) \
                   VALUES ($1, 1, 1, 'w', $2, $2, $3, $4)";
    macro_rules! run {
        ($pool:expr) => {{
            let id: i64 = sqlx::query_scalar(action)
                .bind(event_id)
                .bind(index)
                .bind(ms)
                .fetch_one($pool)
                .await
                .unwrap();
            sqlx::query(attempt)
                .bind(id)
                .bind(ms)
                .bind(outcome)
                .bind(latency_ms)
                .execute($pool)
                .await
                .unwrap();
        }};
    }
    match store {
        Store::Sqlite(pool) => run!(pool),
        Store::Postgres(pool) => run!(pool),
    }
}

/// Events, replies and attempts at known hours around [`NOW`].
async fn seed(store: &Store) {
    let reply = "scrapely.new_reply";
    let first = event(
        store,
        "r1",
        reply,
        datetime!(2026-12-01 08:15 UTC),
        Some("interested"),
    )
    .await;
    event(
        store,
        "r2",
        reply,
        datetime!(2026-12-01 08:16 UTC),
        Some("interested"),
    )
    .await;
    event(
        store,
        "r3",
        reply,
        datetime!(2026-12-01 08:59:59.999 UTC),
        Some("question"),
    )
    .await;
    event(
        store,
        "t1",
        "scrapest.tweet",
        datetime!(2026-12-01 08:40 UTC),
        None,
    )
    .await;
    event(
        store,
        "t2",
        "scrapest.tweet",
        datetime!(2026-12-01 08:00 UTC),
        None,
    )
    .await;
    // The live hour.
    event(
        store,
        "r4",
        reply,
        datetime!(2026-12-01 10:05 UTC),
        Some("not_now"),
    )
    .await;
    // Before the 24 hours, within 7 days; within 30 days; just before the 30 days.
    event(store, "old7", reply, datetime!(2026-11-29 12:00 UTC), None).await;
    event(store, "old30", reply, datetime!(2026-11-02 00:00 UTC), None).await;
    event(store, "gone", reply, datetime!(2026-11-01 10:59 UTC), None).await;
    // Three vendor calls in the 09:00 hour, all in the (75, 100] ms bucket.
    attempt(
        store,
        first,
        0,
        datetime!(2026-12-01 09:10 UTC),
        "succeeded",
        80.0,
    )
    .await;
    attempt(
        store,
        first,
        1,
        datetime!(2026-12-01 09:20 UTC),
        "retry",
        90.0,
    )
    .await;
    attempt(
        store,
        first,
        2,
        datetime!(2026-12-01 09:30 UTC),
        "dead",
        95.0,
    )
    .await;
}

async fn json(app: &TestApp, path: &str) -> Value {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The values of `chart`'s series `name`.
fn values(chart: &Value, name: &str) -> Vec<Value> {
    chart["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no series {name} in {chart}"))["values"]
        .as_array()
        .unwrap()
        .clone()
}

async fn charts_show_what_was_stored_at_each_hour(backend: Backend) {
    let (db, store) = migrated(backend).await;
    seed(&store).await;
    store.close().await;
    let app = TestApp::builder(backend)
        .db(db)
        .clock(Clock::Fixed(NOW))
        .start()
        .await;

    let events = json(&app, "/charts/events.json?window=24h").await;
    let buckets = events["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 24);
    assert_eq!(buckets[0], "2026-11-30T11:00:00.000Z");
    assert_eq!(buckets[21], "2026-12-01T08:00:00.000Z");
    let replies = values(&events, "scrapely.new_reply");
    assert_eq!(
        (
            replies[21].clone(),
            replies[22].clone(),
            replies[23].clone()
        ),
        (3.0.into(), 0.0.into(), 1.0.into())
    );
    assert_eq!(values(&events, "scrapest.tweet")[21], 2.0);
    assert_eq!(events["total"], 6);

    let actions = json(&app, "/charts/actions.json").await;
    for outcome in ["succeeded", "retry", "dead"] {
        let v = values(&actions, outcome);
        assert_eq!(v[22], 1.0, "{outcome} at 09:00");
        assert_eq!(v.iter().filter_map(Value::as_f64).sum::<f64>(), 1.0);
    }
    let latency = json(&app, "/charts/latency.json?window=24h").await;
    assert_eq!(latency["total"], 3);
    // 3 calls in (75, 100]: the median is halfway, p99 99% of the way, through it.
    assert_eq!(values(&latency, "p50")[22], 87.5);
    assert_eq!(values(&latency, "p99")[22], 99.75);
    assert_eq!(
        values(&latency, "p50")[21],
        Value::Null,
        "no calls, no point"
    );

    let intents = json(&app, "/charts/intents.json?window=24h").await;
    assert_eq!(intents["unit"], "day");
    assert_eq!(
        intents["buckets"],
        serde_json::json!(["2026-11-30T00:00:00.000Z", "2026-12-01T00:00:00.000Z"])
    );
    assert_eq!(values(&intents, "interested"), [0.0, 2.0]);
    assert_eq!(values(&intents, "question"), [0.0, 1.0]);
    assert_eq!(values(&intents, "not_now"), [0.0, 1.0]);
    assert_eq!(intents["total"], 4);

    // The windows: 7 days take the event of 11-29, 30 days the one of 11-02 too.
    let week = json(&app, "/charts/events.json?window=7d").await;
    assert_eq!(
        (
            week["buckets"].as_array().unwrap().len(),
            week["total"].clone()
        ),
        (168, 7.into())
    );
    let month = json(&app, "/charts/events.json?window=30d").await;
    assert_eq!(
        (
            month["buckets"].as_array().unwrap().len(),
            month["total"].clone()
        ),
        (720, 8.into())
    );
    assert_eq!(
        json(&app, "/charts/intents.json?window=30d").await["buckets"]
            .as_array()
            .unwrap()
            .len(),
        31
    );

    // Rolled or counted live, the same numbers: wait for the roller, read again.
    let rolled = poll_until(Duration::from_secs(90), async || {
        app.count("console_hours").await == hourly::KEEP_HOURS - 1
    })
    .await;
    assert!(
        rolled,
        "every ended hour but the one in its grace is rolled"
    );
    assert_eq!(json(&app, "/charts/events.json?window=30d").await, month);
    assert_eq!(json(&app, "/charts/latency.json").await, latency);

    // The page: four figures, each an inline SVG with its caption, the window marked.
    let page = app.client.get(app.url("/?window=7d")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for id in [
        "chart-events",
        "chart-actions",
        "chart-latency",
        "chart-intents",
    ] {
        let at = html
            .find(&format!("<figure class=\"chart\" id=\"{id}\">"))
            .unwrap_or_else(|| panic!("{id}"));
        let figure = &html[at..at + html[at..].find("</figure>").unwrap()];
        assert!(
            figure.contains("<svg") && figure.contains("<figcaption>"),
            "{figure}"
        );
    }
    assert!(
        html.contains("scrapely.new_reply"),
        "the legend names the kinds"
    );
    assert!(html.contains("the last 7 days: 7 events"), "{html}");
    assert!(
        html.contains("aria-current=\"page\">7d</a>"),
        "the window shown is marked"
    );
    let svg = app
        .client
        .get(app.url("/charts/events.svg?window=30d"))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().starts_with("<svg"));
    app.stop().await;
}

async fn a_bad_window_or_chart_is_refused_by_name(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for path in [
        "/?window=1y",
        "/?window=",
        "/charts/events.json?window=24",
        "/charts/latency.svg?window=7D",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body = response.text().await.unwrap();
        assert!(body.contains("24h, 7d, 30d"), "{path}: {body}");
    }
    for path in ["/charts/nope.json", "/charts/events.png", "/charts/events"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    app.stop().await;
}

async fn an_empty_database_shows_axes_and_says_there_is_nothing(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for window in ["24h", "7d", "30d"] {
        let html = app
            .client
            .get(app.url(&format!("/?window={window}")))
            .send()
            .await
            .unwrap();
        assert_eq!(html.status(), 200);
        let html = html.text().await.unwrap();
        // Each says what it counts is missing.
        for nothing in ["events", "finished attempts", "vendor calls", "replies"] {
            let said = format!("no {nothing} in this window");
            assert_eq!(html.matches(&said).count(), 1, "{window}: {said}");
        }
        assert_eq!(html.matches("<figure class=\"chart\"").count(), 4);
        for chart in ["events", "actions", "latency", "intents"] {
            let data = json(&app, &format!("/charts/{chart}.json?window={window}")).await;
            assert_eq!(data["total"], 0, "{chart} {window}");
        }
    }
    app.stop().await;
}

async fn a_kind_with_markup_is_shown_as_text(backend: Backend) {
    let (db, store) = migrated(backend).await;
    event(
        &store,
        "x",
        "<script>alert(1)</script>",
        NOW - time::Duration::minutes(5),
        None,
    )
    .await;
    store.close().await;
    let app = TestApp::builder(backend)
        .db(db)
        .clock(Clock::Fixed(NOW))
        .start()
        .await;
    let html = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    app.stop().await;
}

/// The (series, key) → n rows the rollup holds, summed over hours.
async fn rolled_sum(store: &Store, series: &str) -> i64 {
    let sql = "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM console_hourly WHERE series = $1";
    match store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql)
            .bind(series)
            .fetch_one(pool)
            .await
            .unwrap(),
        Store::Postgres(pool) => sqlx::query_scalar(sql)
            .bind(series)
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

async fn two_rollers_count_each_hour_once(backend: Backend) {
    let (db, store) = migrated(backend).await;
    seed(&store).await;
    let other = Store::connect(&db.url, 4).await.unwrap();
    // At 10:03, 09:00 is in its grace: the 718 hours before it are due.
    let early = datetime!(2026-12-01 10:03 UTC);
    let (a, b) = tokio::join!(hourly::roll(&store, early), hourly::roll(&other, early));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a + b,
        hourly::KEEP_HOURS as usize - 2,
        "each hour rolled by one of them ({a} + {b})"
    );
    // The rolled events: all but the live hour's and the one before the 30 days.
    assert_eq!(rolled_sum(&store, "events").await, 7);
    assert_eq!(
        rolled_sum(&store, "outcomes").await,
        0,
        "09:00 is not rolled yet"
    );
    assert_eq!(
        hourly::roll(&other, early).await.unwrap(),
        0,
        "nothing is rolled twice"
    );
    // Past the grace, 09:00 is rolled, once.
    let (a, b) = tokio::join!(hourly::roll(&store, NOW), hourly::roll(&other, NOW));
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(rolled_sum(&store, "outcomes").await, 3);
    assert_eq!(rolled_sum(&store, "latency").await, 3);
    assert_eq!(rolled_sum(&store, "intents").await, 3);
    other.close().await;
    store.close().await;
}

async fn an_event_late_for_a_rolled_hour_is_not_counted(backend: Backend) {
    let (_db, store) = migrated(backend).await;
    seed(&store).await;
    hourly::roll(&store, NOW).await.unwrap();
    // One cache for both reads, as one console process has.
    let cache = hourly::Cache::default();
    let before = charts::read_one(&store, &cache, ChartName::Events, Window::Day, NOW)
        .await
        .unwrap();
    // Stamped 08:20 (rolled) and 10:20 (the live hour), both stored now.
    event(
        &store,
        "late",
        "scrapely.new_reply",
        datetime!(2026-12-01 08:20 UTC),
        None,
    )
    .await;
    event(
        &store,
        "live",
        "scrapely.new_reply",
        datetime!(2026-12-01 10:20 UTC),
        None,
    )
    .await;
    let after = charts::read_one(&store, &cache, ChartName::Events, Window::Day, NOW)
        .await
        .unwrap();
    let replies = |c: &charts::Chart| {
        c.series
            .iter()
            .find(|s| s.name == "scrapely.new_reply")
            .unwrap()
            .values
            .clone()
    };
    assert_eq!(
        replies(&after)[21],
        replies(&before)[21],
        "rolled hours are final"
    );
    assert_eq!(
        replies(&after)[23],
        Some(2.0),
        "the live hour counts what arrives"
    );
    assert_eq!(after.total, before.total + 1);
    store.close().await;
}

on_both_backends!(
    charts_show_what_was_stored_at_each_hour,
    a_bad_window_or_chart_is_refused_by_name,
    an_empty_database_shows_axes_and_says_there_is_nothing,
    a_kind_with_markup_is_shown_as_text,
    two_rollers_count_each_hour_once,
    an_event_late_for_a_rolled_hour_is_not_counted,
);
