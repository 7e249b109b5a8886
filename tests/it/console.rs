//! The web console over real HTTP as a browser speaks it (cookies, forms,
//! Origin): pages render what happened, Retry does what `jobs retry` does, a
//! forged cross-site POST changes nothing, a public listener needs a login,
//! and the live tail streams new events.

use crate::actions::wait_status;
use crate::helpers::browser::Browser;
use crate::helpers::fake_vendor::{FakeVendor, Reply};
use crate::helpers::{Backend, CONSOLE_TOKEN, TestApp, fixture, poll_until};
use crate::on_both_backends;
use reqwest::header::LOCATION;
use std::time::Duration;

const CRM: &str = "/api/v1/crm/update";

/// Make the vendor fail an action until it is dead, see it on every page,
/// press Retry once the vendor recovers: it succeeds, with one more call.
async fn a_dead_action_is_seen_and_retried_once_from_the_console(backend: Backend) {
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
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("new_reply"))
            .await
            .status(),
        200
    );
    let (id, _, _, _) = wait_status(&app.store, "dead", Duration::from_secs(20)).await;
    assert_eq!(vendor.requests("PATCH", CRM).len(), 3);

    let mut browser = Browser::new(&app);
    let (status, overview, headers) = browser.get("/").await;
    assert_eq!(status, 200);
    assert!(
        overview
            .contains("/actions?status=dead\"><span class=\"status dead\">dead</span> <b>1</b>"),
        "{overview}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    let (_, events, _) = browser.get("/events").await;
    let event_id: i64 = crate::on_store!(&app.store, p => sqlx::query_scalar("SELECT event_id FROM actions WHERE id = $1").bind(id).fetch_one(p).await.unwrap());
    assert!(
        events.contains(&format!("href=\"/events/{event_id}\"")),
        "{events}"
    );
    let (_, event, _) = browser.get(&format!("/events/{event_id}")).await;
    assert!(
        event.contains("tag interested replies")
            && event.contains(&format!("href=\"/actions/{id}\"")),
        "{event}"
    );
    assert!(
        event.contains("I&#x27;m interested"),
        "the payload, escaped: {event}"
    );

    let (_, action, _) = browser.get(&format!("/actions/{id}")).await;
    assert!(action.contains("id=\"action-status\">dead"), "{action}");
    assert_eq!(
        action.matches("<td>500</td>").count(),
        3,
        "every attempt: {action}"
    );
    assert!(action.contains("PATCH"), "{action}");
    assert!(action.contains("id=\"retry\""), "{action}");

    vendor.clear_scripts();
    let origin = browser.base.clone();
    let (status, location) = browser
        .post(
            &format!("/actions/{id}/retry"),
            &[("csrf", &browser.csrf())],
            &origin,
        )
        .await;
    assert_eq!(status, 303, "{location}");
    assert!(
        location.starts_with(&format!("/actions/{id}?notice=")),
        "{location}"
    );
    wait_status(&app.store, "succeeded", Duration::from_secs(20)).await;
    app.settle().await;
    assert_eq!(
        vendor.requests("PATCH", CRM).len(),
        4,
        "one more call, once"
    );
    let (_, action, _) = browser.get(&format!("/actions/{id}")).await;
    assert!(
        action.contains("id=\"action-status\">succeeded"),
        "{action}"
    );
    assert!(
        !action.contains("id=\"retry\""),
        "a success is not retried: {action}"
    );
    app.stop().await;
}

/// A cross-site POST (another Origin, or no CSRF cookie as a cross-site form
/// would send none) is refused and changes nothing.
async fn a_forged_cross_site_post_is_refused(backend: Backend) {
    let vendor = FakeVendor::start().await;
    vendor.script(
        CRM,
        vec![Reply::Status(
            400,
            serde_json::json!({"error": "Bad Request"}),
        )],
    );
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("new_reply"))
            .await
            .status(),
        200
    );
    let (id, _, _, _) = wait_status(&app.store, "dead", Duration::from_secs(20)).await;
    app.settle().await;
    let mut browser = Browser::new(&app);
    browser.get(&format!("/actions/{id}")).await;
    let token = browser.csrf();
    let path = format!("/actions/{id}/retry");
    let (status, _) = browser
        .post(&path, &[("csrf", &token)], "http://evil.example")
        .await;
    assert_eq!(status, 403);
    let mut stranger = Browser::new(&app);
    let origin = stranger.base.clone();
    let (status, _) = stranger.post(&path, &[("csrf", &token)], &origin).await;
    assert_eq!(status, 403, "no cookie, no POST");
    let (status, _) = browser.post(&path, &[("csrf", "0")], &origin).await;
    assert_eq!(status, 403, "a wrong token");
    app.settle().await;
    let status: String = crate::on_store!(&app.store, p => sqlx::query_scalar("SELECT status FROM actions WHERE id = $1").bind(id).fetch_one(p).await.unwrap());
    assert_eq!(status, "dead");
    assert_eq!(vendor.requests("PATCH", CRM).len(), 1);
    app.stop().await;
}

/// A hand-edited keyset value gets the console's own 400 page, saying what a
/// `before` takes, on the events and the actions lists alike.
async fn a_bad_keyset_value_gets_the_consoles_own_400_page(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let mut browser = Browser::new(&app);
    for path in [
        "/events?before=abc",
        "/events?kind=tweet&before=1.5",
        "/events?before=99999999999999999999",
        "/actions?before=abc",
        "/actions?status=dead&before=",
    ] {
        let (status, page, headers) = browser.get(path).await;
        assert_eq!(status, 400, "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            page.contains("<nav") && page.contains("`before` takes an id, a whole number"),
            "{path}: {page}"
        );
    }
    let (status, _, _) = browser.get("/events?before=5").await;
    assert_eq!(status, 200);
    app.stop().await;
}

on_both_backends!(
    a_dead_action_is_seen_and_retried_once_from_the_console,
    a_forged_cross_site_post_is_refused,
    a_bad_keyset_value_gets_the_consoles_own_400_page,
);

/// On a public listener every page needs the login; a wrong token gets none.
#[tokio::test]
async fn a_public_listener_asks_for_the_admin_token() {
    let app = TestApp::builder(Backend::Sqlite)
        .env(&[(
            "STARLING__WEBHOOKS__SCRAPELY__TOKEN",
            "scrapely-token-0123456789abcdef",
        )])
        .listen("0.0.0.0:0")
        .start()
        .await;
    let mut browser = Browser::new(&app);
    for path in ["/", "/events", "/actions", "/accounts", "/events/1"] {
        let (status, _, headers) = browser.get(path).await;
        assert_eq!(status, 303, "{path}");
        assert_eq!(headers[LOCATION.as_str()], "/login", "{path}");
    }
    let (status, form, _) = browser.get("/login").await;
    assert_eq!(status, 200);
    assert!(form.contains("type=\"password\""), "{form}");
    let origin = browser.base.clone();
    let (status, _) = browser
        .post(
            "/login",
            &[("csrf", &browser.csrf()), ("token", "not-the-token")],
            &origin,
        )
        .await;
    assert_eq!(status, 401);
    assert!(!browser.cookies.contains_key("starling_session"));
    let (status, location) = browser
        .post(
            "/login",
            &[("csrf", &browser.csrf()), ("token", CONSOLE_TOKEN)],
            &origin,
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/"));
    let (status, overview, _) = browser.get("/").await;
    assert_eq!(status, 200);
    assert!(overview.contains("Actions by status") && !overview.contains(CONSOLE_TOKEN));
    let (status, _) = browser
        .post("/logout", &[("csrf", &browser.csrf())], &origin)
        .await;
    assert_eq!(status, 303);
    let (status, _, _) = browser.get("/").await;
    assert_eq!(status, 303, "logged out");
    app.stop().await;
}

/// A public listener without `console.admin_token` does not start, unless the
/// console is off.
#[tokio::test]
async fn a_public_console_without_a_token_does_not_start() {
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    let strong = (
        "STARLING__WEBHOOKS__SCRAPELY__TOKEN",
        "scrapely-token-0123456789abcdef",
    );
    let public = || async { tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap() };
    let mut settings = crate::helpers::settings(&db, &[strong]);
    settings.console.admin_token = None;
    let refused = starling::app::Application::build_with(
        settings.clone(),
        starling::clock::Clock::System,
        Some(public().await),
    )
    .await;
    let err = refused.err().expect("refused").to_string();
    assert!(
        err.contains("console.admin_token") && err.contains("console.enabled = false"),
        "{err}"
    );
    settings.console.enabled = false;
    let app = starling::app::Application::build_with(
        settings,
        starling::clock::Clock::System,
        Some(public().await),
    )
    .await;
    assert!(app.is_ok());
}

/// The events list's live tail: an event posted after the tail opened arrives on it.
#[tokio::test]
async fn the_live_tail_streams_new_events() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let mut tail = app
        .client
        .get(app.url("/events/tail"))
        .send()
        .await
        .unwrap();
    assert_eq!(tail.headers()["content-type"], "text/event-stream");
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("new_reply"))
            .await
            .status(),
        200
    );
    let mut seen = String::new();
    let arrived = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = tail.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: event") && seen.contains("scrapely.new_reply") {
                return;
            }
        }
    })
    .await;
    assert!(arrived.is_ok(), "{seen}");
    drop(tail);
    assert!(
        poll_until(Duration::from_secs(5), async || app.count("events").await
            == 1)
        .await
    );
    app.stop().await;
}
