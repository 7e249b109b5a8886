//! The console's login and its CSRF defence in a real headless Chromium: on a
//! public listener a wrong token is refused and the right one lets you in; a
//! page of another origin (a second server on another port: same site, so the
//! browser sends the console's SameSite=Strict cookies along) that submits a
//! form to the Retry button's URL by itself is refused, whether it guesses the
//! CSRF token or knows it, and the action stays as it was.

use crate::actions::wait_status;
use crate::browser::{CRM, browser};
use crate::helpers::fake_vendor::{FakeVendor, Reply};
use crate::helpers::webdriver::{Browser, PAGE_WAIT};
use crate::helpers::{Backend, CONSOLE_TOKEN, TestApp, fixture};
use crate::on_sqlite;

const WEBHOOK_TOKEN: &str = "login-url-token-0123456789abcdef";

/// Another site: serves one page whose form posts itself to `target` with the
/// field `csrf`, as soon as it loads (its own inline script; it is the
/// attacker's server, not the console). Returns the page's URL.
async fn attacker_page(target: &str, csrf: &str) -> String {
    let page = format!(
        "<!doctype html><title>You won</title><h1>You won a prize</h1>\
         <form id=\"f\" method=\"post\" action=\"{target}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"></form>\
         <script>document.getElementById(\"f\").submit();</script>"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://127.0.0.1:{port}/")
}

/// The HTTP status of the page the window shows (Navigation Timing).
async fn page_status(browser: &Browser) -> serde_json::Value {
    browser
        .script("return performance.getEntriesByType('navigation')[0].responseStatus;")
        .await
}

/// (status, attempts, series) of action `id`.
async fn action_state(app: &TestApp, id: i64) -> (String, i32, i32) {
    let sql = "SELECT status, attempts, series FROM actions WHERE id = $1";
    crate::on_store!(&app.store, p => sqlx::query_as(sql).bind(id).fetch_one(p).await.unwrap())
}

async fn log_in(browser: &Browser, token: &str) {
    let field = browser.find("form.login input[name=\"token\"]").await;
    field.send_keys(token).await.unwrap();
    browser.click("form.login button").await;
}

/// A public listener asks for `console.admin_token`: a wrong one is refused
/// (401, no session), the right one opens the console with an HttpOnly,
/// SameSite=Strict session cookie.
async fn logging_in_on_a_public_listener(backend: Backend, app: &TestApp) -> Browser {
    let browser = browser(app, "login", backend).await;
    browser.open("/").await;
    browser.wait_text("h1", "Log in").await;
    assert_eq!(
        browser.path().await,
        "/login",
        "every page asks for the login"
    );
    browser.screenshot("login").await;

    log_in(&browser, "not-the-token").await;
    browser
        .wait_text("p.error", "That is not console.admin_token.")
        .await;
    assert_eq!(page_status(&browser).await, 401);
    let cookies = browser.client.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().all(|c| c.name() != "starling_session"),
        "no session for a wrong token: {cookies:?}"
    );
    browser.screenshot("login-refused").await;

    log_in(&browser, CONSOLE_TOKEN).await;
    browser.wait_text("h1", "Overview").await;
    assert_eq!(browser.path().await, "/");
    let session = browser
        .client
        .get_named_cookie("starling_session")
        .await
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        format!("{:?}", session.same_site()),
        "Some(Strict)",
        "{session:?}"
    );
    assert!(!browser.body().await.contains(CONSOLE_TOKEN));
    browser.screenshot("overview").await;
    browser
}

/// Opens the attacker's page and waits for its form to land on the console:
/// refused (403) with `why`.
async fn forged_post_is_refused(browser: &Browser, page: &str, retry: &str, why: &str) {
    browser.open(page).await;
    browser.wait_text("h1", "Refused").await;
    assert_eq!(browser.path().await, retry);
    assert_eq!(page_status(browser).await, 403);
    let body = browser.body().await;
    assert!(body.contains(why), "{body}");
}

async fn a_login_is_needed_and_a_forged_cross_site_post_is_refused(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let refused = Reply::Status(400, serde_json::json!({"error": "Bad Request"}));
    vendor.script(CRM, vec![refused]);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .env(&[("STARLING__WEBHOOKS__SCRAPELY__TOKEN", WEBHOOK_TOKEN)])
        .listen("0.0.0.0:0")
        .start()
        .await;
    let hook = format!("/webhooks/scrapely/{WEBHOOK_TOKEN}");
    assert_eq!(app.post(&hook, fixture("new_reply")).await.status(), 200);
    let (id, _, _, _) = wait_status(&app.store, "dead", PAGE_WAIT).await;
    app.settle().await;
    let before = action_state(&app, id).await;

    let browser = logging_in_on_a_public_listener(backend, &app).await;
    browser.open(&format!("/actions/{id}")).await;
    browser.wait_text("#action-status", "dead").await;
    browser.find("#retry").await;

    let retry = format!("/actions/{id}/retry");
    let target = format!("{}{retry}", browser.base);
    let guess = attacker_page(&target, "0123456789abcdef").await;
    forged_post_is_refused(&browser, &guess, &retry, "CSRF token does not match").await;
    browser.screenshot("forged-post").await;
    // Even a page that learned this browser's token is refused: its Origin.
    let leaked = browser
        .client
        .get_named_cookie("starling_csrf")
        .await
        .expect("the CSRF cookie");
    let knowing = attacker_page(&target, leaked.value()).await;
    forged_post_is_refused(&browser, &knowing, &retry, "Origin is not this console").await;

    app.settle().await;
    assert_eq!(
        action_state(&app, id).await,
        before,
        "the action is unchanged"
    );
    assert_eq!(before.0, "dead");
    assert_eq!(vendor.requests("PATCH", CRM).len(), 1, "no call was made");
    browser.close().await;
    app.stop().await;
}

// The login and the CSRF checks live in the server's memory and headers, not in
// the store: SQLite alone (see `on_sqlite!`).
on_sqlite!(a_login_is_needed_and_a_forged_cross_site_post_is_refused);
