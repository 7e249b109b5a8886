//! Scrapely's rate-limit headers, followed across every worker sharing the
//! database: the budget takes the vendor's `X-RateLimit-Limit` (even when it is
//! lower than configured), and a low `X-RateLimit-Remaining` spaces the calls
//! until `X-RateLimit-Reset` instead of bursting into 429s.

use crate::actions::actions;
use crate::helpers::fake_vendor::FakeVendor;
use crate::helpers::{Backend, TestApp, new_reply, poll_until};
use crate::on_both_backends;
use starling::store::Store;
use std::time::Duration;

const DELETE: &str = "/api/v1/scheduled-tweets";

/// One Scrapely call per reply and no lookups: a cancel by id (a 404 is success).
const ONE_CALL_PER_REPLY: &str = r#"
- name: one call
  on: scrapely.new_reply
  do:
    - action: scrapely.cancel_scheduled_tweet
      with: { tweet_id: "tweet-{{ data.message.id }}" }
"#;

async fn all_succeeded(store: &Store, n: usize, within: Duration) {
    let mut all = Vec::new();
    let done = poll_until(within, async || {
        all = actions(store).await;
        all.len() == n && all.iter().all(|a| a.1 == "succeeded")
    })
    .await;
    assert!(done, "expected {n} succeeded actions: {all:?}");
}

async fn learned_limit(store: &Store) -> Option<i64> {
    let sql = "SELECT vendor_limit FROM rate_limit_vendor";
    crate::on_store!(store, p => sqlx::query_scalar(sql).fetch_optional(p).await.unwrap()).flatten()
}

/// Configured for 60 calls per 2 s, Scrapely says (and enforces) 4: after the
/// first answer the shared budget is 4, recorded for every replica, and a burst
/// of 12 actions meets no 429.
async fn the_budget_follows_a_lower_vendor_limit_without_a_429(backend: Backend) {
    let vendor = FakeVendor::start().await;
    vendor.limit(4, Duration::from_secs(2));
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("one.yaml", ONE_CALL_PER_REPLY)])
        .env(&[("STARLING__SCRAPELY__RATE_WINDOW_SECS", "2")])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("warm"))
            .await
            .status(),
        200
    );
    all_succeeded(&app.store, 1, Duration::from_secs(10)).await;
    // The first answer's limit is recorded off the action's path (`Note::Background`).
    poll_until(Duration::from_secs(5), async || {
        learned_limit(&app.store).await.is_some()
    })
    .await;
    assert_eq!(learned_limit(&app.store).await, Some(4));
    for i in 0..12 {
        let id = format!("burst-{i}");
        assert_eq!(
            app.post("/webhooks/scrapely", new_reply(&id))
                .await
                .status(),
            200
        );
    }
    all_succeeded(&app.store, 13, Duration::from_secs(30)).await;
    assert_eq!(vendor.rate_limited(), 0, "no 429 once the limit is known");
    assert_eq!(vendor.requests("DELETE", DELETE).len(), 13);
    app.stop().await;
}

/// Another client of the key spent 7 of 10: Starling's first call learns that
/// 2 remain until the reset, and the next calls are spaced over the time left
/// rather than sent at once — no 429, and no two of them close together before
/// the reset.
async fn a_low_remaining_spaces_calls_until_the_reset(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let window = Duration::from_secs(4);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("one.yaml", ONE_CALL_PER_REPLY)])
        .env(&[("STARLING__SCRAPELY__RATE_WINDOW_SECS", "4")])
        .start()
        .await;
    vendor.limit(10, window);
    let reset = vendor.external_calls(7) + window;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("first"))
            .await
            .status(),
        200
    );
    all_succeeded(&app.store, 1, Duration::from_secs(10)).await;
    for i in 0..5 {
        let id = format!("more-{i}");
        assert_eq!(
            app.post("/webhooks/scrapely", new_reply(&id))
                .await
                .status(),
            200
        );
    }
    all_succeeded(&app.store, 6, Duration::from_secs(30)).await;
    let sql = "SELECT action_id, started_at, status_code FROM action_attempts ORDER BY started_at";
    let attempts: Vec<(i64, i64, Option<i32>)> =
        crate::on_store!(&app.store, p => sqlx::query_as(sql).fetch_all(p).await.unwrap());
    assert_eq!(
        vendor.rate_limited(),
        0,
        "spaced, never refused: {attempts:?}"
    );
    let calls: Vec<_> = vendor
        .requests("DELETE", DELETE)
        .iter()
        .map(|r| r.at)
        .collect();
    // The vendor's window resets when the external calls are 4 s old.
    let before_reset: Vec<_> = calls.iter().filter(|at| **at < reset).collect();
    assert!(
        before_reset.len() <= 3,
        "{} calls before the reset",
        before_reset.len()
    );
    for pair in before_reset.windows(2) {
        let gap = pair[1].duration_since(*pair[0]);
        assert!(
            gap >= Duration::from_millis(900),
            "calls {gap:?} apart before the reset"
        );
    }
    app.stop().await;
}

on_both_backends!(
    the_budget_follows_a_lower_vendor_limit_without_a_429,
    a_low_remaining_spaces_calls_until_the_reset,
);
