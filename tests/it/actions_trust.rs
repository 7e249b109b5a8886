//! Actions you can trust, against a fake Scrapely that fails the way real
//! vendors and proxies do: a DM that may have gone out is reconciled before any
//! resend, a DM goes only through the rule's own account, and each kind keeps
//! its written crash semantics.
//!
//! Past 400 lines: each crash semantics case is one whole scenario against the
//! failing fake vendor, and they share the readers of settled actions and
//! their outcomes written here.

use crate::actions::{NO_CONTACT_WINDOW, actions};
use crate::helpers::fake_vendor::{
    ACCOUNT_ID, CONVERSATION, FakeVendor, OTHER_ACCOUNT_ID, OTHER_CONVERSATION, Reply,
};
use crate::helpers::{Backend, TestApp, new_reply, poll_until};
use crate::on_both_backends;
use starling::store::Store;
use std::time::Duration;

const DM: &str = "/api/v1/dm/send";

const DM_EVERY_REPLY: &str = r#"
- name: answer every reply
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with: { message: "Thanks for your reply to {{ data.message.id }}" }
"#;

/// Waits until every action is in a final status; returns (id, status) by id.
async fn settled(store: &Store, n: usize) -> Vec<(i64, String)> {
    let mut all = Vec::new();
    let done = poll_until(Duration::from_secs(20), async || {
        all = actions(store).await;
        all.len() == n
            && all
                .iter()
                .all(|a| !matches!(a.1.as_str(), "pending" | "running" | "failed"))
    })
    .await;
    assert!(done, "actions did not settle: {all:?}");
    all.into_iter().map(|a| (a.0, a.1)).collect()
}

async fn outcomes(store: &Store, action: i64) -> Vec<(Option<String>, Option<String>)> {
    let sql = "SELECT outcome, error_class FROM action_attempts WHERE action_id = $1 ORDER BY id";
    crate::on_store!(store, p => sqlx::query_as(sql).bind(action).fetch_all(p).await.unwrap())
}

/// Each way a call can end without an answer, and what Scrapely really did:
/// acted then 502, acted then dropped the connection, dropped without acting,
/// 503 without acting. The DM is in the conversation exactly once every time.
async fn a_dm_that_may_have_gone_out_is_reconciled_before_any_resend(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dm.yaml", DM_EVERY_REPLY)])
        .env(&[
            ("STARLING__ACTIONS__WORKERS", "1"),
            ("STARLING__ACTIONS__CONCURRENCY", "1"),
            NO_CONTACT_WINDOW,
        ])
        .start()
        .await;
    // One reply at a time, each meeting its own fault.
    let faults = ["acted-502", "acted-drop", "unsent-drop", "unsent-503"];
    let replies = [
        Reply::ActThenStatus(502),
        Reply::ActThenDrop,
        Reply::DropUnsent,
        Reply::Status(503, serde_json::json!({"error": "Service Unavailable"})),
    ];
    for (i, (id, reply)) in faults.iter().zip(replies).enumerate() {
        vendor.script(DM, vec![reply]);
        assert_eq!(
            app.post("/webhooks/scrapely", new_reply(id)).await.status(),
            200
        );
        settled(&app.store, i + 1).await;
    }
    let all = settled(&app.store, 4).await;
    assert!(all.iter().all(|a| a.1 == "succeeded"), "{all:?}");
    let messages = vendor.messages(CONVERSATION);
    for id in faults {
        let text = format!("Thanks for your reply to {id}");
        let copies = messages
            .iter()
            .filter(|m| m["text"] == text.as_str())
            .count();
        assert_eq!(copies, 1, "{id}: {copies} copies in the conversation");
    }
    // Where Scrapely acted, one POST and a reconciliation; where it did not, a resend.
    let posts = vendor.requests("POST", DM);
    let posted = |id: &str| {
        posts
            .iter()
            .filter(|r| r.body["message"].as_str().unwrap().ends_with(id))
            .count()
    };
    assert_eq!(faults.map(posted), [1, 1, 2, 2], "POST /dm/send per fault");
    let first = outcomes(&app.store, all[0].0).await;
    assert_eq!(
        first,
        [
            (Some("retry".into()), Some("server_error".into())),
            (Some("reconciled".into()), None)
        ]
    );
    let second = outcomes(&app.store, all[1].0).await;
    assert_eq!(
        second[0].1.as_deref(),
        Some("connection_lost"),
        "{second:?}"
    );
    let proof: String = crate::on_store!(&app.store, p => sqlx::query_scalar(
        "SELECT message_key FROM dm_deliveries WHERE action_id = $1").bind(all[0].0).fetch_one(p).await.unwrap());
    assert!(
        proof.starts_with("t:"),
        "the reconciled DM names its message: {proof}"
    );
    app.stop().await;
}

const DM_BY_HANDLE: &str = r#"
- name: dm by handle
  on: scrapely.leads_exhausted
  do:
    - action: scrapely.send_dm
      with: { to: "@prospect", account: yourhandle, message: "From yourhandle" }
    - action: scrapely.send_dm
      with: { to: prospect, account: otherhandle, message: "From otherhandle" }
    - action: scrapely.send_dm
      with: { to: otherprospect, account: yourhandle, message: "Never through another account" }
"#;

/// Two accounts each have a conversation with @prospect, and only the other
/// account has one with @otherprospect: each DM goes through its own account's
/// conversation, and with none it is skipped, never sent through another's.
async fn a_dm_by_handle_goes_only_through_its_own_accounts_conversation(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dm.yaml", DM_BY_HANDLE)])
        .env(&[NO_CONTACT_WINDOW])
        .start()
        .await;
    let body = crate::helpers::fixture("leads_exhausted");
    assert_eq!(app.post("/webhooks/scrapely", body).await.status(), 200);
    let all = settled(&app.store, 3).await;
    assert_eq!(
        all.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
        ["succeeded", "succeeded", "skipped"]
    );
    let mut sent: Vec<(String, String, String)> = vendor
        .requests("POST", DM)
        .iter()
        .map(|r| {
            (
                r.body["message"].as_str().unwrap().to_string(),
                r.body["conversation_id"].as_str().unwrap().to_string(),
                r.body["account_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            (
                "From otherhandle".into(),
                OTHER_CONVERSATION.into(),
                OTHER_ACCOUNT_ID.into()
            ),
            (
                "From yourhandle".into(),
                CONVERSATION.into(),
                ACCOUNT_ID.into()
            ),
        ]
    );
    let lookups = vendor.requests("GET", "/api/v1/conversations");
    assert!(
        lookups.iter().all(|r| r.query.contains("account_id=")),
        "every handle lookup filters by account: {:?}",
        lookups.iter().map(|r| &r.query).collect::<Vec<_>>()
    );
    let reason: String = crate::on_store!(&app.store, p => sqlx::query_scalar(
        "SELECT last_error FROM actions WHERE status = 'skipped'").fetch_one(p).await.unwrap());
    assert!(
        reason.contains("@yourhandle") && reason.contains("@otherprospect"),
        "{reason}"
    );
    app.stop().await;
}

on_both_backends!(
    a_dm_that_may_have_gone_out_is_reconciled_before_any_resend,
    a_dm_by_handle_goes_only_through_its_own_accounts_conversation,
);

const KINDS: &str = r#"
- name: each kind after a 502
  on: scrapely.new_reply
  do:
    - action: scrapely.schedule_tweet
      with: { account: yourhandle, tweet_text: "Scheduled once", scheduled_at: "in 2h" }
    - action: slack.post
      with: { text: "At least once" }
    - action: slack.post
      with: { text: "At most once", webhook_url: "{{ hook }}/slack/once", at_most_once: true }
    - action: http.request
      with: { url: "{{ hook }}/hook", json: { n: 1 } }
"#;

/// A 502 after the receiver acted, per kind: the tweet is found and not
/// scheduled again; Slack is posted again (at-least-once); `at_most_once` parks;
/// `http.request` sends the same `Idempotency-Key` both times.
async fn each_kind_keeps_its_crash_semantics_after_a_502_that_came_after_acting(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let hook = format!("http://{}", vendor.addr);
    let rule = KINDS.replace("{{ hook }}", &hook);
    for path in [
        "/api/v1/scheduled-tweets",
        crate::helpers::fake_vendor::SLACK_PATH,
        "/slack/once",
        "/hook",
    ] {
        vendor.script(path, vec![Reply::ActThenStatus(502)]);
    }
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("kinds.yaml", rule.as_str())])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("k1"))
            .await
            .status(),
        200
    );
    let all = settled(&app.store, 4).await;
    assert_eq!(
        all.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
        ["succeeded", "succeeded", "outcome_unknown", "succeeded"]
    );
    let tweets = vendor.scheduled_tweets();
    assert_eq!(tweets.len(), 1, "scheduled once: {tweets:?}");
    assert_eq!(vendor.requests("POST", "/api/v1/scheduled-tweets").len(), 1);
    let recorded: String = crate::on_store!(&app.store, p => sqlx::query_scalar(
        "SELECT tweet_id FROM scheduled_tweets WHERE action_id = $1").bind(all[0].0).fetch_one(p).await.unwrap());
    assert_eq!(recorded, tweets[0].0);
    let slack = crate::helpers::fake_vendor::SLACK_PATH;
    assert_eq!(vendor.requests("POST", slack).len(), 2, "at-least-once");
    assert_eq!(
        vendor.requests("POST", "/slack/once").len(),
        1,
        "at most once"
    );
    let hooks = vendor.requests("POST", "/hook");
    let keys: Vec<&str> = hooks
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap())
        .collect();
    let key = format!("starling-action-{}", all[3].0);
    assert_eq!(keys, [key.as_str(), key.as_str()]);
    app.stop().await;
}

on_both_backends!(each_kind_keeps_its_crash_semantics_after_a_502_that_came_after_acting);

const CRM_RULES: &str = r#"
- name: tag and note
  on: scrapely.new_reply
  when: data.message.id == "plain"
  do:
    - action: scrapely.update_crm
      with: { tag: Hot Lead, notes: "Replied {{ data.message.id }}" }
- name: clear
  on: scrapely.new_reply
  when: data.message.id in ["clear", "clear-again"]
  do:
    - action: scrapely.update_crm
      with: { tag: null, deal_value: ~ }
- name: forced
  on: scrapely.new_reply
  when: data.message.id == "forced"
  do:
    - action: scrapely.update_crm
      with: { tag: interested_reply, force: true, notes_mode: replace, notes: "Replaced" }
"#;

/// A person's CRM work survives: a protected tag is not overwritten (skipped,
/// naming the tag) unless `force: true`; notes are appended as dated lines, not
/// replaced; a custom tag given by its display name is sent by its key; YAML
/// null removes a tag.
async fn crm_updates_never_overwrite_a_persons_work(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("crm.yaml", CRM_RULES)])
        .start()
        .await;
    vendor.set_crm(
        CONVERSATION,
        serde_json::json!({"tag": null, "notes": "Met at SaaStr"}),
    );
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("plain"))
            .await
            .status(),
        200
    );
    settled(&app.store, 1).await;
    let crm = vendor.crm(CONVERSATION);
    assert_eq!(crm["tag"], "custom_uuid", "sent by its key: {crm}");
    let today = time::OffsetDateTime::now_utc().date();
    assert_eq!(
        crm["notes"],
        format!("Met at SaaStr\n{today}: Replied plain")
    );

    vendor.set_crm(
        CONVERSATION,
        serde_json::json!({"tag": "booked", "notes": "Call on Tuesday"}),
    );
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("clear"))
            .await
            .status(),
        200
    );
    let all = settled(&app.store, 2).await;
    assert_eq!(all[1].1, "skipped");
    let reason: String = crate::on_store!(&app.store, p => sqlx::query_scalar(
        "SELECT last_error FROM actions WHERE id = $1").bind(all[1].0).fetch_one(p).await.unwrap());
    assert!(
        reason.contains("`booked`") && reason.contains("force: true"),
        "{reason}"
    );
    assert_eq!(vendor.requests("PATCH", "/api/v1/crm/update").len(), 1);

    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("forced"))
            .await
            .status(),
        200
    );
    settled(&app.store, 3).await;
    let crm = vendor.crm(CONVERSATION);
    assert_eq!(
        (crm["tag"].as_str(), crm["notes"].as_str()),
        (Some("interested_reply"), Some("Replaced"))
    );

    // With nothing protected any more, null removes the tag.
    vendor.set_crm(
        CONVERSATION,
        serde_json::json!({"tag": "interested_reply", "notes": null}),
    );
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("clear-again"))
            .await
            .status(),
        200
    );
    let patches = vendor
        .wait_for("PATCH", "/api/v1/crm/update", 3, Duration::from_secs(10))
        .await;
    assert!(
        patches[2].body["tag"].is_null() && patches[2].body.get("tag").is_some(),
        "{}",
        patches[2].body
    );
    assert!(patches[2].body["deal_value"].is_null() && patches[2].body.get("deal_value").is_some());
    app.stop().await;
}

on_both_backends!(crm_updates_never_overwrite_a_persons_work);

const TWIN_DMS: &str = r#"
- name: twins
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with: { message: "Same words twice" }
    - action: scrapely.send_dm
      with: { message: "Same words twice" }
"#;

/// Two identical DMs into one conversation, both answered 502, only one of
/// them really delivered. Whichever reconciles first (the first check is held
/// until it times out, so the other goes first half of the time), the one
/// delivered message proves the older action; the newer is sent again. Each
/// message proves exactly one action.
async fn one_delivered_twin_proves_the_older_action(backend: Backend) {
    let vendor = FakeVendor::start().await;
    vendor.script(
        DM,
        vec![
            Reply::ActThenStatus(502),
            Reply::Status(502, serde_json::json!({"error": "Bad Gateway"})),
        ],
    );
    vendor.script("/api/v1/conversations", vec![Reply::HoldUnsent]);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("twins.yaml", TWIN_DMS)])
        .env(&[
            ("STARLING__ACTIONS__CONCURRENCY", "2"),
            ("STARLING__ACTIONS__TIMEOUT_SECS", "1"),
            NO_CONTACT_WINDOW,
        ])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("twin"))
            .await
            .status(),
        200
    );
    let all = settled(&app.store, 2).await;
    assert!(all.iter().all(|a| a.1 == "succeeded"), "{all:?}");
    let (older, newer) = (all[0].0, all[1].0);
    let last = |o: Vec<(Option<String>, Option<String>)>| o.last().cloned().unwrap().0;
    assert_eq!(
        last(outcomes(&app.store, older).await).as_deref(),
        Some("reconciled")
    );
    assert_eq!(
        last(outcomes(&app.store, newer).await).as_deref(),
        Some("succeeded")
    );
    let copies = vendor
        .messages(CONVERSATION)
        .iter()
        .filter(|m| m["text"] == "Same words twice")
        .count();
    assert_eq!(copies, 2, "one delivered at first, one resent");
    let proofs: Vec<(i64, String)> = crate::on_store!(&app.store, p => sqlx::query_as(
        "SELECT action_id, proved_by FROM dm_deliveries ORDER BY action_id").fetch_all(p).await.unwrap());
    assert_eq!(
        proofs,
        [
            (older, "reconciled".to_string()),
            (newer, "answer".to_string())
        ]
    );
    app.stop().await;
}

on_both_backends!(one_delivered_twin_proves_the_older_action);
