//! The contact ledger end to end, against the fake Scrapely over real sockets: a
//! person is DM'd at most once per `outreach.contact_window` across rules and
//! replicas, a person marked do-not-contact (by `starling contacts block` or a
//! rule's `starling.do_not_contact`) is never DM'd again, and a DM skipped by
//! the ledger gives its rule's cooldown back.
//!
//! Past 400 lines: each case (replicas, rules, blocks, cooldowns) is one whole
//! scenario sharing this file's rules and ledger readers.

use crate::helpers::fake_vendor::FakeVendor;
use crate::helpers::{Backend, TestApp, new_reply, poll_until};
use crate::on_both_backends;
use starling::store::Store;
use std::time::Duration;

const DM: &str = "/api/v1/dm/send";

/// (id, rule, status, last_error) of every action, by id.
async fn rows(store: &Store) -> Vec<(i64, String, String, Option<String>)> {
    let sql = "SELECT id, rule, status, last_error FROM actions ORDER BY id";
    crate::on_store!(store, p => sqlx::query_as(sql).fetch_all(p).await.unwrap())
}

/// Waits until there are `n` actions, none of them queued or running.
async fn settled(store: &Store, n: usize) -> Vec<(i64, String, String, Option<String>)> {
    let mut all = Vec::new();
    let done = poll_until(Duration::from_secs(20), async || {
        all = rows(store).await;
        all.len() == n
            && all
                .iter()
                .all(|a| !matches!(a.2.as_str(), "pending" | "running" | "failed"))
    })
    .await;
    assert!(done, "actions did not settle: {all:?}");
    all
}

/// Waits until action `id` has `status`.
async fn wait_for_status(store: &Store, id: i64, status: &str) -> Option<String> {
    let mut all = Vec::new();
    let done = poll_until(Duration::from_secs(20), async || {
        all = rows(store).await;
        all.iter().any(|a| a.0 == id && a.2 == status)
    })
    .await;
    assert!(done, "action {id} did not become {status}: {all:?}");
    all.into_iter().find(|a| a.0 == id).unwrap().3
}

async fn reply(app: &TestApp, id: &str) {
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply(id)).await.status(),
        200
    );
}

/// Runs `starling ARGS` on the app's database; (success, stdout, stderr).
fn starling(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(args)
        .env_clear()
        .env("STARLING__DATABASE__URL", &app.db.url)
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const TWO_RULES: &str = r#"
- name: welcome repliers
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with: { message: "Welcome!" }
- name: pitch repliers
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with: { to: "@Prospect", account: yourhandle, message: "Our pitch" }
"#;

/// Two rules DM the same person (one by the event's conversation, one by the
/// handle, in another case): one DM is sent, the other is skipped naming the
/// rule and the action that contacted the person.
async fn two_rules_dming_one_person_send_one_dm_and_skip_the_other(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dm.yaml", TWO_RULES)])
        .start()
        .await;
    reply(&app, "first").await;
    let all = settled(&app.store, 2).await;
    let sent: Vec<_> = all.iter().filter(|a| a.2 == "succeeded").collect();
    let skipped: Vec<_> = all.iter().filter(|a| a.2 == "skipped").collect();
    assert_eq!((sent.len(), skipped.len()), (1, 1), "{all:?}");
    let why = skipped[0].3.as_deref().unwrap();
    let expected = format!("by rule `{}`, action {}", sent[0].1, sent[0].0);
    assert!(
        why.contains("contacted") && why.contains(&expected),
        "{why}"
    );
    assert_eq!(vendor.requests("POST", DM).len(), 1);
    let class: String = crate::on_store!(&app.store, p => sqlx::query_scalar(
        "SELECT error_class FROM action_attempts WHERE action_id = $1").bind(skipped[0].0).fetch_one(p).await.unwrap());
    assert_eq!(class, "contacted");
    app.stop().await;
}

const EVERY_REPLY: &str = r#"
- name: answer every reply
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with: { message: "Thanks for {{ data.message.id }}" }
"#;

/// With a short window, a second DM inside it is skipped and one after it is sent.
async fn a_dm_past_the_contact_window_is_sent_again(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let window = [("STARLING__OUTREACH__CONTACT_WINDOW", "2s")];
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dm.yaml", EVERY_REPLY)])
        .env(&window)
        .start()
        .await;
    reply(&app, "one").await;
    settled(&app.store, 1).await;
    reply(&app, "two").await;
    let all = settled(&app.store, 2).await;
    assert_eq!(all[1].2, "skipped", "{all:?}");
    // Wait (by polling the ledger) until the first DM's window is over.
    let passed = poll_until(Duration::from_secs(10), async || {
        let at: i64 = crate::on_store!(&app.store, p => sqlx::query_scalar(
            "SELECT max(claimed_at) FROM contact_claims").fetch_one(p).await.unwrap());
        starling::store::actions::now_ms() - at > 2_100
    })
    .await;
    assert!(passed);
    reply(&app, "three").await;
    let all = settled(&app.store, 3).await;
    assert_eq!(
        all.iter().map(|a| a.2.as_str()).collect::<Vec<_>>(),
        ["succeeded", "skipped", "succeeded"]
    );
    assert_eq!(vendor.requests("POST", DM).len(), 2);
    app.stop().await;
}

/// Two servers on one database each get replies from the same person at once:
/// exactly one DM goes out.
async fn two_replicas_racing_on_one_person_send_exactly_one_dm(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let a = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dm.yaml", EVERY_REPLY)])
        .start()
        .await;
    let b = TestApp::builder(backend)
        .db(a.db.shared())
        .rules_dir(&a.rules_dir)
        .vendor(&vendor)
        .start()
        .await;
    let posts = (0..8).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        server.post("/webhooks/scrapely", new_reply(&format!("race-{i}")))
    });
    for response in futures::future::join_all(posts).await {
        assert_eq!(response.status(), 200);
    }
    let all = settled(&a.store, 8).await;
    assert_eq!(
        all.iter().filter(|x| x.2 == "succeeded").count(),
        1,
        "{all:?}"
    );
    assert_eq!(
        all.iter().filter(|x| x.2 == "skipped").count(),
        7,
        "{all:?}"
    );
    assert_eq!(vendor.requests("POST", DM).len(), 1);
    assert_eq!(
        vendor
            .messages(crate::helpers::fake_vendor::CONVERSATION)
            .len(),
        1
    );
    b.stop().await;
    a.stop().await;
}

const LATER_AND_NOW: &str = r#"
- name: follow up later
  on: scrapely.new_reply
  when: data.message.id == "later"
  do:
    - action: scrapely.send_dm
      delay: 1h
      with: { message: "Following up" }
- name: answer now
  on: scrapely.new_reply
  when: data.message.id != "later"
  do:
    - action: scrapely.send_dm
      with: { message: "Answer to {{ data.message.id }}" }
"#;

/// `starling contacts block` cancels the person's queued DM and skips the next
/// one; `list`, `show` and `unblock` say what happened; after `unblock` a DM goes out.
async fn contacts_block_cancels_pending_dms_and_unblock_lets_them_through(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let rules = [("dm.yaml", LATER_AND_NOW)];
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&rules)
        .start()
        .await;
    reply(&app, "later").await;
    let pending = settled_pending(&app.store).await;

    let (ok, out, err) = starling(
        &app,
        &[
            "contacts",
            "block",
            "@Prospect",
            "--reason",
            "asked us to stop",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("@prospect") && out.contains("1 queued DM(s) cancelled"),
        "{out}"
    );
    let why = wait_for_status(&app.store, pending, "cancelled")
        .await
        .unwrap();
    assert!(
        why.contains("do-not-contact") && why.contains("asked us to stop"),
        "{why}"
    );

    reply(&app, "now").await;
    let all = settled(&app.store, 2).await;
    assert_eq!(all[1].2, "skipped", "{all:?}");
    assert!(
        all[1].3.as_deref().unwrap().contains("do-not-contact"),
        "{all:?}"
    );
    assert!(vendor.requests("POST", DM).is_empty());

    let (ok, out, _) = starling(&app, &["contacts", "list", "--blocked"]);
    assert!(
        ok && out.contains("@prospect") && out.contains("asked us to stop"),
        "{out}"
    );
    let (ok, out, _) = starling(&app, &["contacts", "show", "prospect"]);
    assert!(
        ok && out.contains("blocked") && out.contains("starling contacts block"),
        "{out}"
    );
    let (ok, _, err) = starling(&app, &["contacts", "show", "nobody_known"]);
    assert!(
        !ok && err.contains("@nobody_known") && err.contains("contacts list"),
        "{err}"
    );
    let (ok, _, err) = starling(&app, &["contacts", "unblock", "nobody_known"]);
    assert!(!ok && err.contains("not blocked"), "{err}");
    let (ok, _, err) = starling(&app, &["contacts", "block", "not a handle"]);
    assert!(!ok && err.contains("handle"), "{err}");

    let (ok, out, err) = starling(&app, &["contacts", "unblock", "prospect"]);
    assert!(ok && out.contains("@prospect"), "{out}{err}");
    reply(&app, "again").await;
    let all = settled(&app.store, 3).await;
    assert_eq!(all[2].2, "succeeded", "{all:?}");
    assert_eq!(vendor.requests("POST", DM).len(), 1);
    let (ok, out, _) = starling(&app, &["contacts", "show", "@prospect"]);
    assert!(
        ok && out.contains("answer now") && out.contains(&all[2].0.to_string()),
        "{out}"
    );
    let (ok, out, _) = starling(&app, &["contacts", "list"]);
    assert!(
        ok && out.contains("contacted") && out.contains("@prospect"),
        "{out}"
    );
    app.stop().await;
}

/// The id of the only pending action, once there is one.
async fn settled_pending(store: &Store) -> i64 {
    let mut all = Vec::new();
    let done = poll_until(Duration::from_secs(20), async || {
        all = rows(store).await;
        all.len() == 1 && all[0].2 == "pending"
    })
    .await;
    assert!(done, "{all:?}");
    all[0].0
}

const STOP_RULE: &str = r#"
- name: follow up later
  on: scrapely.new_reply
  when: data.message.id == "hello"
  do:
    - action: scrapely.send_dm
      delay: 1h
      with: { message: "Following up" }
- name: answer at once
  on: scrapely.new_reply
  when: data.message.id == "another"
  do:
    - action: scrapely.send_dm
      with: { message: "Answer" }
- name: stop means stop
  on: scrapely.new_reply
  when: data.message.text is matches_regex("(?i)\\bstop\\b")
  do:
    - action: starling.do_not_contact
      with: { user_id: "987654321", reason: "said stop" }
"#;

/// A reply saying stop runs `starling.do_not_contact`: the queued DM is
/// cancelled, no vendor is called, and the person (known by id and handle) is
/// never DM'd again.
async fn a_stop_rule_marks_the_person_do_not_contact(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("stop.yaml", STOP_RULE)])
        .start()
        .await;
    reply(&app, "hello").await;
    let pending = settled_pending(&app.store).await;
    let mut stop: serde_json::Value = serde_json::from_slice(&new_reply("stop")).unwrap();
    stop["data"]["message"]["text"] = "Please STOP messaging me".into();
    let body = serde_json::to_vec(&stop).unwrap();
    assert_eq!(app.post("/webhooks/scrapely", body).await.status(), 200);
    let why = wait_for_status(&app.store, pending, "cancelled")
        .await
        .unwrap();
    assert!(
        why.contains("stop means stop") && why.contains("said stop"),
        "{why}"
    );
    let all = settled(&app.store, 2).await;
    assert_eq!(all[1].2, "succeeded", "{all:?}");
    let calls = vendor.all_requests();
    assert!(calls.iter().all(|r| r.path != DM), "no DM was sent");

    let (ok, out, _) = starling(&app, &["contacts", "show", "id:987654321"]);
    assert!(
        ok && out.contains("@prospect") && out.contains("stop means stop"),
        "{out}"
    );
    reply(&app, "another").await;
    let all = settled(&app.store, 3).await;
    assert_eq!(all[2].2, "skipped", "{all:?}");
    let why = all[2].3.as_deref().unwrap();
    assert!(
        why.contains("do-not-contact") && why.contains("stop means stop"),
        "{why}"
    );
    assert!(vendor.requests("POST", DM).is_empty());
    app.stop().await;
}

const COOLDOWN_RULES: &str = r#"
- name: welcome repliers
  on: scrapely.new_reply
  when: data.message.id == "first"
  do:
    - action: scrapely.send_dm
      with: { message: "Welcome!" }
- name: pitch once a month
  on: scrapely.new_reply
  cooldown: { key: "{{ data.receiver.screen_name }}", for: 30d }
  do:
    - action: scrapely.send_dm
      delay: 1s
      with: { message: "Our pitch" }
- name: dm a stranger once a month
  on: scrapely.new_reply
  cooldown: { key: "ghost", for: 30d }
  do:
    - action: scrapely.send_dm
      with: { to: ghost, account: yourhandle, message: "Hello ghost" }
"#;

/// A DM skipped by the ledger or for want of a conversation does not spend its
/// rule's cooldown: the next event for the same key fires the rule again.
async fn a_skipped_dm_gives_its_rule_cooldown_back(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dm.yaml", COOLDOWN_RULES)])
        .start()
        .await;
    reply(&app, "first").await;
    let all = settled(&app.store, 3).await;
    let status = |rule: &str, all: &[(i64, String, String, Option<String>)]| {
        all.iter()
            .filter(|a| a.1 == rule)
            .map(|a| a.2.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(status("welcome repliers", &all), ["succeeded"], "{all:?}");
    assert_eq!(status("pitch once a month", &all), ["skipped"]);
    assert_eq!(status("dm a stranger once a month", &all), ["skipped"]);
    reply(&app, "second").await;
    let all = settled(&app.store, 5).await;
    assert_eq!(status("pitch once a month", &all), ["skipped", "skipped"]);
    assert_eq!(
        status("dm a stranger once a month", &all),
        ["skipped", "skipped"]
    );
    let held: i64 = crate::on_store!(&app.store, p => sqlx::query_scalar(
        "SELECT count(*) FROM rule_matches WHERE outcome = 'cooldown'").fetch_one(p).await.unwrap());
    assert_eq!(held, 0, "no cooldown was spent by a skipped DM");
    assert_eq!(vendor.requests("POST", DM).len(), 1);
    app.stop().await;
}

on_both_backends!(
    two_rules_dming_one_person_send_one_dm_and_skip_the_other,
    a_dm_past_the_contact_window_is_sent_again,
    two_replicas_racing_on_one_person_send_exactly_one_dm,
    contacts_block_cancels_pending_dms_and_unblock_lets_them_through,
    a_stop_rule_marks_the_person_do_not_contact,
    a_skipped_dm_gives_its_rule_cooldown_back,
);
