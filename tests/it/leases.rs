//! A run that outlives its action's lease before it calls (it waited its turn on
//! the shared budget, on a busy machine) has lost the action to whichever run
//! took it over: it must not call. Found by the fault suite (three replicas under
//! load, DMs sent twice).

use crate::actions::{NO_CONTACT_WINDOW, actions};
use crate::helpers::fake_vendor::{CONVERSATION, FakeVendor};
use crate::helpers::{Backend, TestApp, poll_until};
use crate::on_both_backends;
use std::collections::HashMap;
use std::time::Duration;

const DM_EVERY_REPLY: &str = r#"
- name: thank every reply
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with: { message: "Thanks {{ data.message.id }}" }
"#;

const REPLIES: usize = 12;

/// Twelve DMs at once against a budget of one call per 0.7 s: each waits its
/// turn in memory (under a second at a time), the last ones ~8 s, past their 6 s
/// lease (2 × 0.5 s timeout + 5 s), and their jobs' fallbacks take them over.
/// Still every DM is in the conversation exactly once.
async fn a_dm_that_waited_past_its_lease_is_sent_once(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dm.yaml", DM_EVERY_REPLY)])
        .env(&[
            ("STARLING__ACTIONS__TIMEOUT_SECS", "0.5"),
            ("STARLING__SCRAPELY__RATE_LIMIT", "1"),
            ("STARLING__SCRAPELY__RATE_WINDOW_SECS", "0.7"),
            NO_CONTACT_WINDOW,
        ])
        .start()
        .await;
    let posts = (0..REPLIES).map(|i| {
        let app = &app;
        async move {
            let body = crate::helpers::new_reply(&format!("lease-{i}"));
            assert_eq!(app.post("/webhooks/scrapely", body).await.status(), 200);
        }
    });
    futures::future::join_all(posts).await;
    let settled = poll_until(Duration::from_secs(60), async || {
        let all = actions(&app.store).await;
        all.len() == REPLIES
            && all
                .iter()
                .all(|a| !matches!(a.1.as_str(), "pending" | "running" | "failed"))
    })
    .await;
    let all = actions(&app.store).await;
    assert!(settled, "the DMs did not settle: {all:?}");
    let mut sent: HashMap<String, usize> = HashMap::new();
    for m in vendor.messages(CONVERSATION) {
        *sent
            .entry(m["text"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let twice: Vec<(&String, &usize)> = sent.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "DMs sent twice: {twice:?}");
    assert_eq!(sent.len(), REPLIES, "every DM sent once: {all:?}");
    app.stop().await;
}

on_both_backends!(a_dm_that_waited_past_its_lease_is_sent_once);
