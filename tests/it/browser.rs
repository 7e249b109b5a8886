//! The console in a real headless Chromium, clicked as a person would: the
//! overview and its plots, the live tail (server-sent events and
//! `static/console.js`), an event followed to its action and attempts, and a
//! dead action retried once. Each page visited is written to
//! `target/screenshots/<test>-<page>.png`. The login and the forged cross-site
//! POST are `browser_login`'s.

use crate::actions::wait_status;
use crate::helpers::fake_stream::{Auth, FakeWs};
use crate::helpers::fake_vendor::{CONVERSATION, FakeVendor, Reply};
use crate::helpers::webdriver::{Browser, PAGE_WAIT};
use crate::helpers::{Backend, TestApp, fixture, poll_until};
use crate::on_both_backends;
use crate::streams::{KEY, STREAMING, resolved, stream};

pub const CRM: &str = "/api/v1/crm/update";

/// A browser on `app`'s console; screenshots are named `<test>-<backend>-<page>`.
pub async fn browser(app: &TestApp, test: &str, backend: Backend) -> Browser {
    let name = format!("{test}-{backend:?}").to_lowercase();
    Browser::start(&name, &format!("http://127.0.0.1:{}", app.addr.port())).await
}

/// The id of the event action `action` was fired for.
pub async fn event_of(app: &TestApp, action: i64) -> i64 {
    let sql = "SELECT event_id FROM actions WHERE id = $1";
    crate::on_store!(&app.store, p => sqlx::query_scalar(sql).bind(action).fetch_one(p).await.unwrap())
}

/// The vendor calls to `path` that were answered 2xx.
pub fn successes(vendor: &FakeVendor, path: &str) -> usize {
    vendor
        .requests("PATCH", path)
        .iter()
        .filter(|r| r.answered.is_some_and(|s| (200..300).contains(&s)))
        .count()
}

/// Streams, rules and actions by status as they are, and the four plots
/// (each `<figure class="chart">` holding a drawn `<svg>` or a loaded `.svg` image).
async fn the_overview_shows_streams_rules_actions_and_the_plots(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let ws = FakeWs::start(Auth::Header("x-api-key", KEY.into())).await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .config_toml(&format!(
            "{STREAMING}{}",
            stream("main", "scrapest", &ws.url("/ws"), "")
        ))
        .start()
        .await;
    ws.wait_connections(1).await;
    ws.send(resolved("100", "We launch today", 42).to_string());
    let post = app.post("/webhooks/scrapely", fixture("new_reply")).await;
    assert_eq!(post.status(), 200);
    wait_status(&app.store, "succeeded", PAGE_WAIT).await;
    let sql = "SELECT COUNT(*) FROM streams WHERE name = 'main' AND state = 'connected' AND messages >= 1";
    let counted = poll_until(PAGE_WAIT, async || {
        let n: i64 =
            crate::on_store!(&app.store, p => sqlx::query_scalar(sql).fetch_one(p).await.unwrap());
        n == 1
    })
    .await;
    assert!(counted, "the stream's state and message were never written");
    app.settle().await;

    let browser = browser(&app, "overview", backend).await;
    browser.open("/").await;
    let succeeded = browser
        .wait_text(
            "#action-counts a[href=\"/actions?status=succeeded\"]",
            "succeeded",
        )
        .await;
    let sql = "SELECT COUNT(*) FROM actions WHERE status = 'succeeded'";
    let n: i64 =
        crate::on_store!(&app.store, p => sqlx::query_scalar(sql).fetch_one(p).await.unwrap());
    assert!(
        // Finished statuses are counted over the last 24 h ("succeeded 2 in 24 h").
        n >= 1 && succeeded.starts_with(&format!("succeeded {n}")),
        "{succeeded:?} for {n}"
    );
    let page = browser.body().await;
    assert!(
        page.contains("rule(s) loaded from") && page.contains(crate::helpers::SHIPPED_RULES),
        "{page}"
    );
    let row = browser.wait_text("main table tbody tr", "main").await;
    assert!(
        row.contains("scrapest") && row.contains("connected"),
        "{row}"
    );
    browser.screenshot("overview").await;
    browser
        .click("main a[href=\"/actions?status=succeeded\"]")
        .await;
    browser.wait_text("#actions tbody", "succeeded").await;
    assert_eq!(browser.path().await, "/actions?status=succeeded");

    browser.open("/").await;
    let drawn = poll_until(PAGE_WAIT, async || {
        browser.script(CHARTS_DRAWN).await == serde_json::json!(4)
    })
    .await;
    let charts = browser.script(CHARTS_SEEN).await;
    assert!(
        drawn,
        "four drawn charts (chart-events, chart-actions, chart-latency, chart-intents): {charts}"
    );
    browser.screenshot("overview-charts").await;
    browser.close().await;
    app.stop().await;
}

/// How many of the four chart figures hold a drawn plot: an `<svg>` with an
/// area, or an `<img>` of an `.svg` that loaded.
const CHARTS_DRAWN: &str = r#"
return ["chart-events", "chart-actions", "chart-latency", "chart-intents"].filter(function (id) {
  var figure = document.querySelector("figure.chart#" + id);
  if (!figure) return false;
  var svg = figure.querySelector("svg");
  if (svg) { var box = svg.getBoundingClientRect(); return box.width > 0 && box.height > 0; }
  var img = figure.querySelector("img");
  return !!img && img.getAttribute("src").indexOf(".svg") >= 0 && img.complete && img.naturalWidth > 0;
}).length;
"#;

/// What the page holds in place of the charts (for the failure message).
const CHARTS_SEEN: &str = r#"
return Array.prototype.map.call(document.querySelectorAll("figure"), function (f) {
  return (f.id || "(no id)") + "." + f.className + ": " + f.innerHTML.slice(0, 80);
});
"#;

/// A signed Scrapely webhook, posted while the events page is open, shows up
/// on top of its table without a reload.
async fn a_signed_webhook_appears_in_the_live_tail_without_a_reload(backend: Backend) {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let token = "tail-url-token-0123456789abcdef";
    let app = TestApp::builder(backend)
        .env(&[
            ("STARLING__WEBHOOKS__SCRAPELY__TOKEN", token),
            ("STARLING__WEBHOOKS__SCRAPELY__SIGNING_SECRET", secret),
        ])
        .start()
        .await;
    let browser = browser(&app, "live-tail", backend).await;
    browser.open("/events").await;
    browser
        .find("tbody[data-live-tail][data-tail-state=\"open\"]")
        .await;
    browser.wait_text("#events tbody", "No events.").await;
    // A reload would lose this.
    browser.script("window.starlingSamePage = true;").await;

    let body = fixture("new_reply");
    let key = starling::webhooks::signature::SigningKey::parse(secret).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let posted = app
        .client
        .post(app.url(&format!("/webhooks/scrapely/{token}")))
        .header("content-type", "application/json")
        .header("webhook-id", "msg_tail_1")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", key.sign("msg_tail_1", now, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);

    let row = browser
        .wait_text("#events tbody tr.fresh", "scrapely.new_reply")
        .await;
    let id: i64 = crate::on_store!(&app.store, p => sqlx::query_scalar("SELECT id FROM events").fetch_one(p).await.unwrap());
    assert!(row.starts_with(&format!("{id} ")), "{row}");
    assert_eq!(
        browser
            .script("return window.starlingSamePage === true;")
            .await,
        serde_json::json!(true),
        "the page was not reloaded"
    );
    assert!(browser.find_all("#events tr.empty").await.is_empty());
    let link = browser.find("#events tbody tr.fresh a").await;
    assert_eq!(
        link.attr("href").await.unwrap().as_deref(),
        Some(format!("/events/{id}").as_str())
    );
    browser.screenshot("events").await;
    browser.close().await;
    app.stop().await;
}

/// From the events list to the event, to its action, to that action's
/// attempts (one failed, one that succeeded), by clicking links; then the
/// accounts page from the nav.
async fn an_event_is_followed_by_clicks_to_its_action_and_attempts(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let broken = Reply::Status(500, serde_json::json!({"error": "Internal Server Error"}));
    vendor.script(CRM, vec![broken]);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .start()
        .await;
    let post = app.post("/webhooks/scrapely", fixture("new_reply")).await;
    assert_eq!(post.status(), 200);
    let (action, _, _, _) = wait_status(&app.store, "succeeded", PAGE_WAIT).await;
    app.settle().await;
    let event = event_of(&app, action).await;

    let browser = browser(&app, "follow", backend).await;
    browser.open("/events").await;
    browser
        .click(&format!("#events a[href=\"/events/{event}\"]"))
        .await;
    browser.wait_text("h1", &format!("Event {event}")).await;
    assert_eq!(browser.path().await, format!("/events/{event}"));
    let payload = browser.find("pre.payload").await.text().await.unwrap();
    assert!(payload.contains("I'm interested"), "{payload}");
    let page = browser.body().await;
    assert!(page.contains("tag interested replies"), "{page}");
    browser.screenshot("event").await;

    browser
        .click(&format!("#event-actions a[href=\"/actions/{action}\"]"))
        .await;
    browser.wait_text("#action-status", "succeeded").await;
    assert_eq!(browser.path().await, format!("/actions/{action}"));
    let attempts = attempt_rows(&browser).await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts[0].contains("500") && attempts[0].contains("PATCH"),
        "{attempts:?}"
    );
    assert!(
        attempts[1].contains("200") && attempts[1].contains("succeeded"),
        "{attempts:?}"
    );
    browser.screenshot("action").await;

    browser.click("header nav a[href=\"/accounts\"]").await;
    browser
        .wait_text("#accounts", "No account is paused.")
        .await;
    browser.screenshot("accounts").await;
    browser.close().await;
    app.stop().await;
}

/// The text of each attempt row of the action page (not the detail rows).
pub async fn attempt_rows(browser: &Browser) -> Vec<String> {
    let mut rows = Vec::new();
    for row in browser.find_all("#attempts tbody tr:not(.detail)").await {
        rows.push(row.text().await.unwrap());
    }
    rows
}

/// Fail an action until it is dead; once the vendor recovers, press Retry:
/// it succeeds, with exactly one successful vendor call.
async fn a_dead_action_is_retried_from_the_browser_and_succeeds_once(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let broken = Reply::Status(500, serde_json::json!({"error": "Internal Server Error"}));
    vendor.script(CRM, vec![broken.clone(), broken.clone(), broken]);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .env(&[("STARLING__ACTIONS__RETRY__MAX_ATTEMPTS", "3")])
        .shipped_rules()
        .start()
        .await;
    let post = app.post("/webhooks/scrapely", fixture("new_reply")).await;
    assert_eq!(post.status(), 200);
    let (action, _, _, _) = wait_status(&app.store, "dead", PAGE_WAIT).await;
    app.settle().await;
    assert_eq!(vendor.requests("PATCH", CRM).len(), 3);
    assert_eq!(successes(&vendor, CRM), 0);

    let browser = browser(&app, "retry", backend).await;
    browser.open("/actions?status=dead").await;
    browser
        .click(&format!("#actions a[href=\"/actions/{action}\"]"))
        .await;
    browser.wait_text("#action-status", "dead").await;
    assert_eq!(attempt_rows(&browser).await.len(), 3);
    browser.screenshot("action-dead").await;

    vendor.clear_scripts();
    browser.click("#retry").await;
    browser.wait_text(".notice", "Queued again").await;
    wait_status(&app.store, "succeeded", PAGE_WAIT).await;
    // The page does not update itself: a person reloads it.
    browser.reload_until("#action-status", "succeeded").await;
    app.settle().await;
    assert_eq!(successes(&vendor, CRM), 1, "exactly one successful call");
    assert_eq!(vendor.requests("PATCH", CRM).len(), 4, "and no other call");
    assert_eq!(vendor.crm(CONVERSATION)["tag"], "interested_reply");
    let attempts = attempt_rows(&browser).await;
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    assert!(
        browser.find_all("#retry").await.is_empty(),
        "a success is not retried"
    );
    browser.screenshot("action").await;
    browser.close().await;
    app.stop().await;
}

/// Generates `mod NAME { sqlite() }`: a browser flow whose backend does not
/// matter to what it proves runs on SQLite alone (the same pages on PostgreSQL
/// are `console.rs`'s, over HTTP). PostgreSQL twins of every flow cost ~45 s
/// more on the 2-core machine (19 s against 66 s for
/// `cargo test --test it browser -- --skip overview`).
#[macro_export]
macro_rules! on_sqlite {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
        }
    )*};
}

on_sqlite!(
    the_overview_shows_streams_rules_actions_and_the_plots,
    a_signed_webhook_appears_in_the_live_tail_without_a_reload,
    an_event_is_followed_by_clicks_to_its_action_and_attempts,
);

// What a button changes goes through the store: both backends.
on_both_backends!(a_dead_action_is_retried_from_the_browser_and_succeeds_once);
