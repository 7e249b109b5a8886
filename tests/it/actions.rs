//! Actions end to end: a webhook in, the rules fire, the apalis workers call a fake
//! Scrapely / Slack over real HTTP, and every attempt is in the database.
//! Retries and backoff are `action_retries.rs`; a paused account's held DMs
//! `account_pauses.rs`.
//!
//! Past 400 lines because the waits other files import (`wait_status`,
//! `actions`, `attempts`) live here beside the tests that use them most.

use crate::helpers::fake_vendor::{FakeVendor, SLACK_PATH};
use crate::helpers::{Backend, TestApp, fixture, poll_for, poll_until};
use crate::on_both_backends;
use serde_json::json;
use sqlx::Row;
use starling::store::Store;
use std::time::Duration;

/// Long enough for a crashed run's lease to expire and its job to be taken over.
pub const TERMINAL_WAIT: Duration = Duration::from_secs(40);

pub const CRM: &str = "/api/v1/crm/update";
const DM: &str = "/api/v1/dm/send";

/// For tests that DM one person many times on purpose (crash semantics, holds):
/// the contact window is off, or the ledger would skip all but the first DM
/// (`tests/it/contacts.rs` tests the ledger).
pub const NO_CONTACT_WINDOW: (&str, &str) = ("STARLING__OUTREACH__CONTACT_WINDOW", "0");

/// (status, attempts, series) of every action, by id.
pub async fn actions(store: &Store) -> Vec<(i64, String, i32, i32)> {
    let sql = "SELECT id, status, attempts, series FROM actions ORDER BY id";
    crate::on_store!(store, p => sqlx::query(sql).fetch_all(p).await.unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
}

/// [`actions`] but Slack's. (The shipped interested rule also posts a Slack
/// "hot lead" alert: another action, which the tests of Scrapely calls leave out.)
pub async fn scrapely_actions(store: &Store) -> Vec<(i64, String, i32, i32)> {
    let sql =
        "SELECT id, status, attempts, series FROM actions WHERE kind <> 'slack.post' ORDER BY id";
    crate::on_store!(store, p => sqlx::query(sql).fetch_all(p).await.unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
}

/// (outcome, retry_in_ms) of an action's attempts, in order.
pub async fn attempts(store: &Store, action: i64) -> Vec<(Option<String>, Option<i64>)> {
    let sql = "SELECT outcome, retry_in_ms FROM action_attempts WHERE action_id = $1 ORDER BY id";
    crate::on_store!(store, p => sqlx::query(sql).bind(action).fetch_all(p).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Polls until the only action (Slack's aside) reaches `status`.
pub async fn wait_status(
    store: &Store,
    status: &str,
    timeout: Duration,
) -> (i64, String, i32, i32) {
    let mut all = Vec::new();
    let found = poll_for(timeout, async || {
        all = scrapely_actions(store).await;
        all.iter().find(|a| a.1 == status).cloned()
    })
    .await;
    if found.is_none()
        && let Store::Sqlite(p) = store
    {
        // What the queue holds, to diagnose a job that never ran.
        let jobs: Vec<String> = sqlx::query_scalar(
            "SELECT id || ' ' || status || ' run_at=' || run_at || ' lock_by=' || COALESCE(lock_by, '-') FROM Jobs",
        )
        .fetch_all(p)
        .await
        .unwrap();
        eprintln!("apalis jobs: {jobs:?}");
    }
    found.unwrap_or_else(|| panic!("no action became {status} within {timeout:?}: {all:?}"))
}

async fn an_interested_reply_delivered_three_times_tags_the_conversation_once(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .start()
        .await;
    for _ in 0..3 {
        assert_eq!(
            app.post("/webhooks/scrapely", fixture("new_reply"))
                .await
                .status(),
            200
        );
    }
    let calls = vendor
        .wait_for("PATCH", CRM, 1, Duration::from_secs(10))
        .await;
    let (id, ..) = wait_status(&app.store, "succeeded", Duration::from_secs(10)).await;
    assert_eq!(calls[0].body["tag"], "interested_reply");
    assert_eq!(calls[0].body["conversation_id"], "123456789-987654321");
    assert_eq!(calls[0].body["account_handle"], "yourhandle");
    assert_eq!(
        calls[0].api_key.as_deref(),
        Some(crate::helpers::fake_vendor::API_KEY)
    );
    // The audit log answers what was done, to whom and why, in one SELECT.
    let sql = "SELECT action, target, rule, outcome, status_code, request_id FROM audit_log WHERE action_id = $1";
    let (action, target, rule, outcome, status, request_id): (
        String,
        String,
        String,
        String,
        i32,
        String,
    ) = crate::on_store!(&app.store, p => sqlx::query_as(sql).bind(id).fetch_one(p).await.unwrap());
    assert_eq!(
        (action.as_str(), target.as_str(), rule.as_str()),
        (
            "scrapely.update_crm",
            "123456789-987654321",
            "tag interested replies"
        )
    );
    assert_eq!((outcome.as_str(), status), ("succeeded", 200));
    assert!(request_id.starts_with("req_"), "{request_id}");
    // Settle, then make sure nothing else was sent.
    app.settle().await;
    assert_eq!(vendor.requests("PATCH", CRM).len(), 1);
    assert_eq!(scrapely_actions(&app.store).await.len(), 1);
    // The fast path ran it; its fallback job is gone, so nothing is left queued.
    let queued: i64 = match &app.store {
        Store::Sqlite(p) => {
            sqlx::query_scalar("SELECT count(*) FROM Jobs WHERE status = 'Pending'")
                .fetch_one(p)
                .await
                .unwrap()
        }
        Store::Postgres(p) => {
            sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE status = 'Pending'")
                .fetch_one(p)
                .await
                .unwrap()
        }
    };
    assert_eq!(queued, 0);
    app.stop().await;
}

async fn a_paused_account_and_exhausted_leads_post_to_slack_once_each(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("account_paused"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("leads_exhausted"))
            .await
            .status(),
        200
    );
    let posts = vendor
        .wait_for("POST", SLACK_PATH, 2, Duration::from_secs(10))
        .await;
    let mut texts: Vec<String> = posts
        .iter()
        .map(|p| p.body["text"].as_str().unwrap().to_string())
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            ":warning: @yourhandle was paused: Session expired or account disconnected",
            "Campaign SaaS Founders Outreach ran out of leads after 500 DMs.",
        ]
    );
    app.settle().await;
    assert_eq!(vendor.requests("POST", SLACK_PATH).len(), 2);
    // The Slack URL is a credential: the audit keeps only its host.
    let urls: Vec<String> = crate::on_store!(&app.store, p => sqlx::query_scalar("SELECT url FROM action_attempts").fetch_all(p).await.unwrap());
    assert!(urls.iter().all(|u| !u.contains("slacksecret")), "{urls:?}");
    app.stop().await;
}

on_both_backends!(
    an_interested_reply_delivered_three_times_tags_the_conversation_once,
    a_paused_account_and_exhausted_leads_post_to_slack_once_each,
);

const KINDS_RULE: &str = r#"
- name: every kind
  on: scrapely.new_reply
  do:
    - action: scrapely.schedule_tweet
      with: { account: yourhandle, tweet_text: "We just helped {{ data.receiver.name }}!", scheduled_at: "in 2h" }
    - action: scrapely.schedule_tweet
      with: { account: yourhandle, tweet_text: "{{ 'x' * 281 }}", scheduled_at: "in 2h" }
    - action: scrapely.cancel_scheduled_tweet
      with: { tweet_id: "7f3a1b2c-4d5e-6f7a-8b9c-0d1e2f3a4b5c" }
    - action: scrapely.update_crm
      with: { tag: "no_such_tag" }
    - action: http.request
      with:
        url: "{{ env_url }}"
        json: { conversation: "{{ data.conversation_id }}" }
        success_statuses: [200]
"#;

/// Every kind's request shape; limits and unknown tags are validation errors, never sent.
async fn each_kind_sends_its_documented_request_and_invalid_ones_are_dead(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let hook = format!("http://{}/hook?token=abc", vendor.addr);
    let rule = KINDS_RULE.replace("{{ env_url }}", &hook);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("kinds.yaml", rule.as_str())])
        .start()
        .await;
    let before = time::OffsetDateTime::now_utc();
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("new_reply"))
            .await
            .status(),
        200
    );
    let mut all = Vec::new();
    let finished = poll_until(Duration::from_secs(15), async || {
        all = actions(&app.store).await;
        all.len() == 5 && all.iter().all(|a| a.1 == "succeeded" || a.1 == "dead")
    })
    .await;
    assert!(finished, "actions did not finish: {all:?}");
    let statuses: Vec<&str> = all.iter().map(|a| a.1.as_str()).collect();
    assert_eq!(
        statuses,
        ["succeeded", "dead", "succeeded", "dead", "succeeded"]
    );
    let tweets = vendor.requests("POST", "/api/v1/scheduled-tweets");
    assert_eq!(tweets.len(), 1, "the 281-character tweet is never sent");
    assert_eq!(
        tweets[0].body["account_id"],
        crate::helpers::fake_vendor::ACCOUNT_ID
    );
    let at = time::OffsetDateTime::parse(
        tweets[0].body["scheduled_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ahead = at - before;
    assert!(
        ahead >= time::Duration::minutes(119) && ahead <= time::Duration::minutes(121),
        "scheduled {ahead} ahead"
    );
    let cancels = vendor.requests("DELETE", "/api/v1/scheduled-tweets");
    assert_eq!(
        cancels[0].body,
        json!({"tweet_id": "7f3a1b2c-4d5e-6f7a-8b9c-0d1e2f3a4b5c"})
    );
    assert!(
        vendor.requests("PATCH", CRM).is_empty(),
        "an unknown tag is never sent"
    );
    let hooks = vendor.requests("POST", "/hook");
    assert_eq!(
        hooks[0].body,
        json!({"conversation": "123456789-987654321"})
    );
    let errors: Vec<String> = crate::on_store!(&app.store, p => sqlx::query_scalar("SELECT last_error FROM actions WHERE status = 'dead' ORDER BY id").fetch_all(p).await.unwrap());
    assert!(
        errors[0].contains("281 characters") && errors[0].contains("at most 280"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("no_such_tag") && errors[1].contains("interested_reply"),
        "{errors:?}"
    );
    // The recorded URL keeps no credential from the query string.
    let urls: Vec<String> = crate::on_store!(&app.store, p => sqlx::query_scalar("SELECT url FROM action_attempts WHERE url LIKE '%hook%'").fetch_all(p).await.unwrap());
    assert!(urls[0].ends_with("/hook?token=***"), "{urls:?}");
    app.stop().await;
}

/// Without an API key Scrapely actions are skipped with the reason; a dry run sends nothing.
async fn no_api_key_skips_and_a_dry_run_sends_nothing(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .env(&[("STARLING__SCRAPELY__API_KEY", "")])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("new_reply"))
            .await
            .status(),
        200
    );
    wait_status(&app.store, "skipped", Duration::from_secs(10)).await;
    // Slack needs no Scrapely key: the hot-lead alert still goes out.
    vendor
        .wait_for(
            "POST",
            crate::helpers::fake_vendor::SLACK_PATH,
            1,
            Duration::from_secs(10),
        )
        .await;
    app.stop().await;
    let sent_before = vendor.all_requests().len();

    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .env(&[("STARLING__ACTIONS__DRY_RUN", "true")])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("new_reply"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("leads_exhausted"))
            .await
            .status(),
        200
    );
    // The reply's CRM update and hot-lead alert, and the exhausted campaign's alert.
    let dry_runs = async || -> i64 {
        let sql = "SELECT COUNT(*) FROM actions WHERE status = 'dry_run'";
        crate::on_store!(&app.store, p => sqlx::query_scalar(sql).fetch_one(p).await.unwrap())
    };
    let recorded = poll_until(Duration::from_secs(10), async || dry_runs().await >= 3).await;
    assert!(recorded, "{:?}", actions(&app.store).await);
    app.settle().await;
    assert_eq!(
        vendor.all_requests().len(),
        sent_before,
        "a dry run sent {:?}",
        &vendor.all_requests()[sent_before..]
    );
    app.stop().await;
}

on_both_backends!(
    each_kind_sends_its_documented_request_and_invalid_ones_are_dead,
    no_api_key_skips_and_a_dry_run_sends_nothing,
);

/// The README's audit_log queries run as written on both backends.
async fn the_readme_audit_queries_run(backend: Backend) {
    let vendor = FakeVendor::start().await;
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
    wait_status(&app.store, "succeeded", Duration::from_secs(10)).await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("### What did Starling do")
        .nth(1)
        .expect("the README has the audit section");
    let block = section
        .split("```sql")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let statements: Vec<&str> = block
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(statements.len(), 6);
    // As a user runs them: `starling audit`, as the reader role on PostgreSQL.
    let (settings, _reader) = crate::helpers::roles::audit_as_reader(&app, &[]).await;
    for (i, sql) in statements.iter().enumerate() {
        let json = starling::cli::audit::run_to_string(
            &settings,
            Some(sql),
            starling::cli::audit::Format::Json,
        )
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        if i == 0 {
            let crm = rows.iter().filter(|r| r["action"] == "scrapely.update_crm");
            assert_eq!(crm.count(), 1, "one CRM attempt today: {rows:?}");
        }
    }
    app.stop().await;
}

on_both_backends!(the_readme_audit_queries_run);

const DM_BY_HANDLE: &str = r#"
- name: dm by handle
  on: scrapely.leads_exhausted
  do:
    - action: scrapely.send_dm
      with: { to: "@prospect", message: "Hello from a campaign that ran dry" }
    - action: scrapely.send_dm
      with: { to: nobody, message: "Nobody to talk to" }
"#;

/// A DM addressed by handle finds its conversation; with none it is skipped, not retried.
async fn a_dm_to_a_handle_finds_its_conversation_or_is_skipped(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("dm.yaml", DM_BY_HANDLE)])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("leads_exhausted"))
            .await
            .status(),
        200
    );
    let sent = vendor
        .wait_for("POST", DM, 1, Duration::from_secs(10))
        .await;
    assert_eq!(sent[0].body["conversation_id"], "123456789-987654321");
    assert_eq!(
        sent[0].body["account_id"],
        crate::helpers::fake_vendor::ACCOUNT_ID
    );
    wait_status(&app.store, "skipped", Duration::from_secs(10)).await;
    let reason: String = crate::on_store!(&app.store, p => sqlx::query_scalar("SELECT last_error FROM actions WHERE status = 'skipped'").fetch_one(p).await.unwrap());
    assert!(
        reason.contains("no Scrapely conversation of @yourhandle with @nobody"),
        "{reason}"
    );
    app.settle().await;
    assert_eq!(vendor.requests("POST", DM).len(), 1);
    app.stop().await;
}

on_both_backends!(a_dm_to_a_handle_finds_its_conversation_or_is_skipped);

/// An action whose job was spent without an outcome (its run could not reach the
/// database) is queued again by the sweep.
async fn a_stalled_action_is_queued_again(backend: Backend) {
    let vendor = FakeVendor::start().await;
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
    vendor
        .wait_for("PATCH", CRM, 1, Duration::from_secs(10))
        .await;
    wait_status(&app.store, "succeeded", Duration::from_secs(10)).await;
    // As if its run had died before recording anything: pending, overdue, no job.
    crate::on_store!(&app.store, p => sqlx::query("UPDATE actions SET status = 'pending', run_at = 0, updated_at = 0").execute(p).await.unwrap().rows_affected());
    vendor
        .wait_for("PATCH", CRM, 2, Duration::from_secs(15))
        .await;
    wait_status(&app.store, "succeeded", Duration::from_secs(10)).await;
    app.stop().await;
}

on_both_backends!(a_stalled_action_is_queued_again);
