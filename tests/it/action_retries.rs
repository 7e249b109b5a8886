//! Retries and backoff end to end, on both backends: a 429's `Retry-After`, 5xx
//! answers backed off within the jitter bounds, a 400 dead at once (and `jobs
//! retry` making one new attempt), and a spent `X-RateLimit-*` window stopping
//! every call until its reset.

use crate::actions::{CRM, attempts, wait_status};
use crate::helpers::fake_vendor::{FakeVendor, Reply};
use crate::helpers::{Backend, TestApp, fixture, new_reply};
use crate::on_both_backends;
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    a_429_with_retry_after_means_no_call_until_then,
    two_server_errors_then_success_back_off_within_the_jitter_bounds,
    a_400_is_dead_at_once_and_jobs_retry_makes_one_new_attempt,
    a_spent_window_stops_every_call_until_its_reset,
);

async fn a_429_with_retry_after_means_no_call_until_then(backend: Backend) {
    let vendor = FakeVendor::start().await;
    vendor.script(CRM, vec![Reply::Status(429, json!({"error": "Rate limited", "message": "Too many requests. Please try again later.", "retry_after": 2}))]);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .env(&[("STARLING__ACTIONS__WORKERS", "3")])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("new_reply"))
            .await
            .status(),
        200
    );
    let calls = vendor
        .wait_for("PATCH", CRM, 2, Duration::from_secs(15))
        .await;
    let gap = calls[1].at.duration_since(calls[0].at);
    assert!(gap >= Duration::from_secs(2), "called again after {gap:?}");
    assert!(gap < Duration::from_secs(5), "waited too long: {gap:?}");
    let (id, _, attempts_spent, _) =
        wait_status(&app.store, "succeeded", Duration::from_secs(10)).await;
    assert_eq!(attempts_spent, 2);
    let history = attempts(&app.store, id).await;
    assert_eq!(history[0].0.as_deref(), Some("retry"));
    assert!(history[0].1.unwrap() >= 2000, "{history:?}");
    app.stop().await;
}

async fn two_server_errors_then_success_back_off_within_the_jitter_bounds(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let error = Reply::Status(500, json!({"error": "Internal Server Error"}));
    vendor.script(CRM, vec![error.clone(), error]);
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
    let calls = vendor
        .wait_for("PATCH", CRM, 3, Duration::from_secs(15))
        .await;
    let (id, _, spent, _) = wait_status(&app.store, "succeeded", Duration::from_secs(10)).await;
    assert_eq!(spent, 3);
    let history = attempts(&app.store, id).await;
    let outcomes: Vec<_> = history.iter().map(|h| h.0.clone().unwrap()).collect();
    assert_eq!(outcomes, ["retry", "retry", "succeeded"]);
    // Full jitter under base 200 ms × 2^(n-1): the chosen delays, and the real gaps.
    for (n, ceiling_ms) in [(0, 200), (1, 400)] {
        let chosen = history[n].1.unwrap();
        assert!(
            (0..=ceiling_ms).contains(&chosen),
            "attempt {} chose {chosen} ms",
            n + 1
        );
        let gap = calls[n + 1].at.duration_since(calls[n].at).as_millis() as i64;
        assert!(
            gap >= chosen,
            "attempt {} came {gap} ms after, before its {chosen} ms",
            n + 2
        );
        assert!(
            gap <= chosen + 1500,
            "attempt {} came {gap} ms after, {chosen} ms chosen",
            n + 2
        );
    }
    app.stop().await;
}

async fn a_400_is_dead_at_once_and_jobs_retry_makes_one_new_attempt(backend: Backend) {
    let vendor = FakeVendor::start().await;
    vendor.script(
        CRM,
        vec![Reply::Status(
            400,
            json!({"error": "Bad Request", "message": "Invalid parameters"}),
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
    let (id, _, spent, _) = wait_status(&app.store, "dead", Duration::from_secs(10)).await;
    assert_eq!(spent, 1);
    app.settle().await;
    assert_eq!(
        vendor.requests("PATCH", CRM).len(),
        1,
        "a 400 is never retried by itself"
    );
    let listed = starling::cli::jobs::list(
        &app.db.url,
        Some(starling::cli::jobs::Status::Dead),
        None,
        10,
        starling::cli::audit::Format::Json,
    )
    .await
    .unwrap();
    assert!(
        listed.contains("Invalid parameters") && listed.contains(&format!("\"id\": {id}")),
        "{listed}"
    );
    starling::cli::jobs::retry(&app.store, id).await.unwrap();
    vendor
        .wait_for("PATCH", CRM, 2, Duration::from_secs(10))
        .await;
    let (_, _, spent, series) = wait_status(&app.store, "succeeded", Duration::from_secs(10)).await;
    assert_eq!((spent, series), (1, 2));
    // A succeeded action is never sent again.
    let refused = starling::cli::jobs::retry(&app.store, id)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("already succeeded"), "{refused}");
    app.settle().await;
    assert_eq!(vendor.requests("PATCH", CRM).len(), 2);
    app.stop().await;
}

async fn a_spent_window_stops_every_call_until_its_reset(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let reset = now.as_secs() + 3;
    vendor.script(
        CRM,
        vec![Reply::WithHeaders(
            200,
            json!({"success": true}),
            vec![
                ("x-ratelimit-limit", "60".into()),
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", reset.to_string()),
            ],
        )],
    );
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("w-1"))
            .await
            .status(),
        200
    );
    let first = vendor
        .wait_for("PATCH", CRM, 1, Duration::from_secs(10))
        .await;
    // The answer is read (and the spent window recorded) before the action completes.
    wait_status(&app.store, "succeeded", Duration::from_secs(10)).await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("w-2"))
            .await
            .status(),
        200
    );
    let both = vendor
        .wait_for("PATCH", CRM, 2, Duration::from_secs(15))
        .await;
    let waited = both[1].at.duration_since(first[0].at);
    let first_at = first[0].wall.duration_since(std::time::UNIX_EPOCH).unwrap();
    let until_reset = Duration::from_secs(reset).saturating_sub(first_at);
    assert!(
        waited + Duration::from_millis(50) >= until_reset,
        "called {waited:?} after the window was spent, reset in {until_reset:?}"
    );
    app.stop().await;
}
