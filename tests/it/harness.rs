//! The harness itself: `settle()` waits for what is due and only that, and a
//! test that ends leaving an action `running` fails.

use crate::helpers::fake_vendor::{FakeVendor, Reply, SLACK_PATH};
use crate::helpers::{Backend, TestApp, new_reply, poll_until};
use std::time::Duration;

const NOW_AND_LATER: &str = r#"
- name: now and later
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "now" }
    - action: slack.post
      delay: 1h
      with: { text: "later" }
"#;

async fn statuses(app: &TestApp) -> Vec<String> {
    let sql = "SELECT status FROM actions ORDER BY id";
    crate::on_store!(&app.store, p => sqlx::query_scalar(sql).fetch_all(p).await.unwrap())
}

/// Settling waits for the action due now and not for the one due in an hour.
async fn settle_waits_for_what_is_due_and_not_for_what_is_delayed(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("slack.yaml", NOW_AND_LATER)])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("m-1"))
            .await
            .status(),
        200
    );
    app.settle_within(Duration::from_secs(10)).await;
    assert_eq!(statuses(&app).await, ["succeeded", "pending"]);
    assert_eq!(vendor.requests("POST", SLACK_PATH).len(), 1);
    app.stop().await;
}

crate::on_both_backends!(settle_waits_for_what_is_due_and_not_for_what_is_delayed);

/// A Slack call the vendor never answers, with a timeout longer than the test:
/// the action is still `running` when the test ends, and the test fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "the test left actions running")]
async fn a_test_that_ends_with_an_action_running_fails() {
    let vendor = FakeVendor::start().await;
    vendor.script(SLACK_PATH, vec![Reply::HoldUnsent]);
    let app = TestApp::builder(Backend::Sqlite)
        .vendor(&vendor)
        .quick_actions()
        .env(&[("STARLING__ACTIONS__TIMEOUT_SECS", "120")])
        .rules(&[("slack.yaml", NOW_AND_LATER)])
        .running_grace(Duration::from_millis(500))
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("m-1"))
            .await
            .status(),
        200
    );
    let running = poll_until(Duration::from_secs(10), async || {
        statuses(&app).await.first().map(String::as_str) == Some("running")
    })
    .await;
    assert!(running);
    // The end of the test drops `app`, whose check fails it.
}
