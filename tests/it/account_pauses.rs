//! Scrapely's `account_paused` webhook over real HTTP, on both backends: a paused
//! account's DMs are held and released when it is resumed; a pause
//! that names only the account's id holds that account's DMs, and a pause naming
//! an id Starling does not know yet holds DMs until `GET /accounts` names it.

use crate::actions::{NO_CONTACT_WINDOW, wait_status};
use crate::helpers::fake_vendor::{ACCOUNT_ID, FakeVendor};
use crate::helpers::{Backend, TestApp, fixture, new_reply, poll_until};
use crate::on_both_backends;
use serde_json::Value;
use std::time::Duration;

on_both_backends!(
    a_paused_accounts_dms_are_held_and_released,
    an_account_paused_with_only_its_id_holds_that_accounts_dms,
    a_pause_naming_an_unknown_id_holds_dms_until_get_accounts_names_it,
);

const DM: &str = "/api/v1/dm/send";

/// Thanks every reply by DM, from the reply's account (`data.account_handle`).
const THANK_EVERY_REPLY: &str = r#"
- name: thank every reply
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with:
        message: "Thanks {{ data.receiver.name | default('there') }}!"
"#;

/// Quick retries, polls and heartbeats (not the quick timeout); the same
/// person is thanked for each reply on purpose.
const QUICK_RETRIES: [(&str, &str); 4] = [
    ("STARLING__ACTIONS__RETRY__BASE_MS", "200"),
    ("STARLING__ACTIONS__POLL_INTERVAL_MS", "100"),
    ("STARLING__ACTIONS__HEARTBEAT_SECS", "1"),
    NO_CONTACT_WINDOW,
];

/// `account_paused` as in seed `004`, without `account_handle`.
fn paused_by_id_only() -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&fixture("account_paused")).unwrap();
    v["data"].as_object_mut().unwrap().remove("account_handle");
    serde_json::to_vec(&v).unwrap()
}

/// (account, status) of every action, by id.
async fn action_statuses(app: &TestApp) -> Vec<(Option<String>, String)> {
    let sql = "SELECT account, status FROM actions ORDER BY id";
    crate::on_store!(&app.store, p => sqlx::query_as(sql).fetch_all(p).await.unwrap())
}

/// (account, account_id) of every paused account.
async fn paused(app: &TestApp) -> Vec<(String, Option<String>)> {
    starling::store::actions::paused_accounts(&app.store)
        .await
        .unwrap()
}

async fn wait_for_statuses(app: &TestApp, expected: &[(&str, &str)]) {
    let expected: Vec<(Option<String>, String)> = expected
        .iter()
        .map(|(a, s)| (Some(a.to_string()), s.to_string()))
        .collect();
    let reached = poll_until(Duration::from_secs(15), async || {
        action_statuses(app).await == expected
    })
    .await;
    assert!(
        reached,
        "expected actions {expected:?}, have {:?}",
        action_statuses(app).await
    );
}

async fn post_ok(app: &TestApp, body: Vec<u8>) {
    let response = app.post("/webhooks/scrapely", body).await;
    assert_eq!(response.status(), 200);
}

async fn an_account_paused_with_only_its_id_holds_that_accounts_dms(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .rules(&[("dm.yaml", THANK_EVERY_REPLY)])
        .env(&QUICK_RETRIES)
        .env(&[("STARLING__SCRAPELY__ACCOUNT_CHECK_SECS", "3600")])
        .start()
        .await;
    // A first reply is thanked; its DM looked @yourhandle up in GET /accounts.
    post_ok(&app, new_reply("m-1")).await;
    wait_for_statuses(&app, &[("yourhandle", "succeeded")]).await;
    assert_eq!(vendor.requests("POST", DM).len(), 1);

    // Scrapely pauses the account naming only its id: the pause is @yourhandle's.
    post_ok(&app, paused_by_id_only()).await;
    assert_eq!(
        paused(&app).await,
        [("yourhandle".to_string(), Some(ACCOUNT_ID.to_string()))]
    );
    post_ok(&app, new_reply("m-2")).await;
    wait_for_statuses(&app, &[("yourhandle", "succeeded"), ("yourhandle", "held")]).await;
    assert_eq!(vendor.requests("POST", DM).len(), 1, "held: nothing sent");

    // Resumed by its handle: the held DM goes out, once.
    starling::cli::accounts::resume(&app.store, "@yourhandle")
        .await
        .unwrap();
    wait_for_statuses(
        &app,
        &[("yourhandle", "succeeded"), ("yourhandle", "succeeded")],
    )
    .await;
    assert_eq!(vendor.requests("POST", DM).len(), 2);
    app.stop().await;
}

/// Also DMs from an account Scrapely does not have.
const THANK_FROM_ANOTHER_ACCOUNT: &str = r#"
- name: thank from another account
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with:
        account: someoneelse
        message: "Thanks!"
"#;

async fn a_pause_naming_an_unknown_id_holds_dms_until_get_accounts_names_it(backend: Backend) {
    let vendor = FakeVendor::start().await;
    vendor.set_paused(true);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .rules(&[
            ("dm.yaml", THANK_EVERY_REPLY),
            ("other.yaml", THANK_FROM_ANOTHER_ACCOUNT),
        ])
        .env(&QUICK_RETRIES)
        .env(&[("STARLING__SCRAPELY__ACCOUNT_CHECK_SECS", "1")])
        .start()
        .await;
    // Nothing is known about the id yet: the pause is kept under it, and every DM
    // whose account cannot be told apart from it waits.
    post_ok(&app, paused_by_id_only()).await;
    post_ok(&app, new_reply("m-1")).await;
    let rules_in_order = action_statuses(&app).await;
    assert_eq!(rules_in_order.len(), 2, "{rules_in_order:?}");
    let (mine, other) = if rules_in_order[0].0.as_deref() == Some("yourhandle") {
        (0, 1)
    } else {
        (1, 0)
    };
    let with = |yours: &'static str, others: &'static str| {
        let mut v = [("", ""); 2];
        v[mine] = ("yourhandle", yours);
        v[other] = ("someoneelse", others);
        v
    };
    // The paused-accounts check (every second) reads GET /accounts, which names the
    // id's handle: the pause becomes @yourhandle's, and the other account's DM is
    // released (and dies: Scrapely has no such account).
    wait_for_statuses(&app, &with("held", "dead")).await;
    assert_eq!(
        paused(&app).await,
        [("yourhandle".to_string(), Some(ACCOUNT_ID.to_string()))]
    );
    assert!(vendor.requests("POST", DM).is_empty());

    // Scrapely shows the account active again: its DM goes out, once.
    vendor.set_paused(false);
    wait_for_statuses(&app, &with("succeeded", "dead")).await;
    assert_eq!(vendor.requests("POST", DM).len(), 1);
    app.stop().await;
}

const DM_RULE: &str = r#"
- name: thank interested prospects
  on: scrapely.new_reply
  keywords: [interested]
  do:
    - action: scrapely.send_dm
      with:
        message: "Thanks {{ data.receiver.name | default('there') }}! Here is the calendar link."
"#;

async fn a_paused_accounts_dms_are_held_and_released(backend: Backend) {
    let vendor = FakeVendor::start().await;
    vendor.set_paused(true);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dm.yaml", DM_RULE)])
        .env(&[
            ("STARLING__SCRAPELY__ACCOUNT_CHECK_SECS", "1"),
            NO_CONTACT_WINDOW,
        ])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("account_paused"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("m-1"))
            .await
            .status(),
        200
    );
    let (id, _, spent, _) = wait_status(&app.store, "held", Duration::from_secs(10)).await;
    assert_eq!(spent, 0, "holding spends no attempt");
    // Still paused at the vendor: the periodic check (every second) runs again
    // and keeps it held.
    let checks = vendor.requests("GET", "/api/v1/accounts").len();
    vendor
        .wait_for(
            "GET",
            "/api/v1/accounts",
            checks + 2,
            Duration::from_secs(10),
        )
        .await;
    app.settle().await;
    assert!(vendor.requests("POST", DM).is_empty());
    // A person resumes it.
    starling::cli::accounts::resume(&app.store, "@YourHandle")
        .await
        .unwrap();
    let sent = vendor
        .wait_for("POST", DM, 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        sent[0].body["account_id"],
        crate::helpers::fake_vendor::ACCOUNT_ID
    );
    assert_eq!(sent[0].body["conversation_id"], "123456789-987654321");
    assert_eq!(
        sent[0].body["message"],
        "Thanks John Doe! Here is the calendar link."
    );
    assert_eq!(
        wait_status(&app.store, "succeeded", Duration::from_secs(5))
            .await
            .0,
        id
    );

    // Paused again; this time Scrapely shows the account active and the check releases it.
    let mut paused: serde_json::Value = serde_json::from_slice(&fixture("account_paused")).unwrap();
    paused["timestamp"] = "2024-03-01T12:00:00.000Z".into();
    assert_eq!(
        app.post("/webhooks/scrapely", serde_json::to_vec(&paused).unwrap())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("m-2"))
            .await
            .status(),
        200
    );
    wait_status(&app.store, "held", Duration::from_secs(10)).await;
    vendor.set_paused(false);
    vendor
        .wait_for("POST", DM, 2, Duration::from_secs(10))
        .await;
    app.settle().await;
    assert_eq!(vendor.requests("POST", DM).len(), 2);
    app.stop().await;
}
