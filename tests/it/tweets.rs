//! Scheduled tweets after scheduling: the follower records each tweet's fate
//! (`posted`, `failed` with Scrapely's `error_message`) from `GET
//! /scheduled-tweets` once its time has passed, visible in `audit_log`, and a
//! rule cancels a tweet another rule scheduled by naming that rule and the
//! tweet's `ref`, never a literal id.

use crate::actions::actions;
use crate::helpers::fake_vendor::{ACCOUNT_ID, FakeVendor, OTHER_CONVERSATION, Reply};
use crate::helpers::{Backend, TestApp, fixture, poll_until};
use crate::on_both_backends;
use serde_json::{Value, json};
use starling::store::Store;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const TWEETS: &str = "/api/v1/scheduled-tweets";
const QUICK_CHECKS: (&str, &str) = ("STARLING__SCRAPELY__TWEET_CHECK_SECS", "1");

const THREE_TWEETS: &str = r#"
- name: announce
  on: scrapely.new_reply
  do:
    - action: scrapely.schedule_tweet
      with: { account_id: 550e8400-e29b-41d4-a716-446655440000, tweet_text: "Will post", scheduled_at: "in 2s" }
    - action: scrapely.schedule_tweet
      with: { account_id: 550e8400-e29b-41d4-a716-446655440000, tweet_text: "Will fail", scheduled_at: "in 2s" }
    - action: scrapely.schedule_tweet
      with: { account_id: 550e8400-e29b-41d4-a716-446655440000, tweet_text: "Much later", scheduled_at: "in 2h" }
"#;

/// (action id, tweet id, scheduled_at, status, error_message, checked_at) by action.
type TweetRow = (i64, String, String, String, Option<String>, Option<i64>);

async fn tweets(store: &Store) -> Vec<TweetRow> {
    let sql = "SELECT action_id, tweet_id, scheduled_at, status, error_message, checked_at \
               FROM scheduled_tweets ORDER BY action_id";
    crate::on_store!(store, p => sqlx::query_as(sql).fetch_all(p).await.unwrap())
}

/// Waits until `n` actions exist and all of them succeeded.
async fn all_succeeded(store: &Store, n: usize) -> Vec<i64> {
    let mut all = Vec::new();
    let done = poll_until(Duration::from_secs(20), async || {
        all = actions(store).await;
        all.len() == n && all.iter().all(|a| a.1 == "succeeded")
    })
    .await;
    assert!(done, "expected {n} succeeded actions: {all:?}");
    all.iter().map(|a| a.0).collect()
}

fn reply(message_id: &str, text: &str, conversation: Option<&str>) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&fixture("new_reply")).unwrap();
    v["data"]["message"]["id"] = message_id.into();
    v["data"]["message"]["text"] = text.into();
    if let Some(c) = conversation {
        v["data"]["conversation_id"] = c.into();
    }
    serde_json::to_vec(&v).unwrap()
}

/// A tweet posted and a tweet that failed are recorded with their fate (the
/// error message too) on `scheduled_tweets`, in `audit_log` and `jobs show`,
/// while the actions stay `succeeded`; Scrapely is asked only once a tweet's
/// time has passed, for its account, and not again once nothing due is pending.
async fn a_scheduled_tweets_fate_is_followed_up_and_audited(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("tweets.yaml", THREE_TWEETS)])
        .env(&[QUICK_CHECKS])
        .start()
        .await;
    assert_eq!(
        app.post("/webhooks/scrapely", reply("t1", "hello", None))
            .await
            .status(),
        200
    );
    let ids = all_succeeded(&app.store, 3).await;
    let rows = tweets(&app.store).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    // Scrapely's worker posts one and fails the other (the fake does it at once;
    // Starling must still wait for the time to pass before asking).
    vendor.settle_tweet(&rows[0].1, "posted", None);
    vendor.settle_tweet(&rows[1].1, "failed", Some("Tweet text is a duplicate"));
    let mut now = Vec::new();
    let followed = poll_until(Duration::from_secs(15), async || {
        now = tweets(&app.store).await;
        now[0].3 == "posted" && now[1].3 == "failed"
    })
    .await;
    assert!(followed, "fates not recorded: {now:?}");
    assert_eq!(now[1].4.as_deref(), Some("Tweet text is a duplicate"));
    assert_eq!(
        (now[2].3.as_str(), now[2].5),
        ("pending", None),
        "not due: never checked"
    );
    // The tweets' fate is a fact of its own: the actions still succeeded.
    assert!(actions(&app.store).await.iter().all(|a| a.1 == "succeeded"));

    // Asked only once the tweets were due, always for their account.
    let due = OffsetDateTime::parse(&rows[0].2, &Rfc3339).unwrap();
    let gets = vendor.requests("GET", TWEETS);
    assert!(!gets.is_empty());
    for get in &gets {
        assert!(
            OffsetDateTime::from(get.wall) >= due,
            "asked before the tweet was due"
        );
        assert!(
            get.query.contains(&format!("account_id={ACCOUNT_ID}")),
            "{}",
            get.query
        );
    }
    // Nothing due is pending any more: no more calls.
    let asked = gets.len();
    let more = poll_until(Duration::from_millis(2500), async || {
        vendor.requests("GET", TWEETS).len() > asked
    })
    .await;
    assert!(!more, "polled Scrapely with nothing due");

    // In the audit log, one SELECT.
    let sql = "SELECT action_status, tweet_status, tweet_error FROM audit_log WHERE action_id = $1";
    let audit: (String, Option<String>, Option<String>) = crate::on_store!(&app.store, p => sqlx::query_as(sql).bind(ids[1]).fetch_one(p).await.unwrap());
    assert_eq!(
        audit,
        (
            "succeeded".into(),
            Some("failed".into()),
            Some("Tweet text is a duplicate".into())
        )
    );
    let shown = starling::cli::jobs::show(&app.db.url, ids[1], starling::cli::audit::Format::Json)
        .await
        .unwrap();
    assert!(shown.contains("Tweet text is a duplicate"), "{shown}");
    assert!(
        shown.contains(&rows[1].1),
        "jobs show names the tweet: {shown}"
    );
    app.stop().await;
}

/// Two replicas on one database: a due tweet is looked up once and its fate
/// recorded once.
async fn two_replicas_follow_a_tweet_once(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let rules = [(
        "tweets.yaml",
        r#"
- name: announce
  on: scrapely.new_reply
  do:
    - action: scrapely.schedule_tweet
      with: { account_id: 550e8400-e29b-41d4-a716-446655440000, tweet_text: "Once", scheduled_at: "in 2s" }
"#,
    )];
    let first = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&rules)
        .env(&[QUICK_CHECKS])
        .start()
        .await;
    let second = TestApp::builder(backend)
        .db(first.db.shared())
        .rules_dir(&first.rules_dir)
        .vendor(&vendor)
        .env(&[QUICK_CHECKS])
        .start()
        .await;
    assert_eq!(
        first
            .post("/webhooks/scrapely", reply("t2", "hello", None))
            .await
            .status(),
        200
    );
    all_succeeded(&first.store, 1).await;
    let id = tweets(&first.store).await[0].1.clone();
    vendor.settle_tweet(&id, "posted", None);
    let posted = poll_until(Duration::from_secs(15), async || {
        tweets(&first.store).await[0].3 == "posted"
    })
    .await;
    assert!(posted);
    // Both replicas tick every second; only one claimed the check.
    let more = poll_until(Duration::from_millis(2500), async || {
        vendor.requests("GET", TWEETS).len() > 1
    })
    .await;
    assert!(!more, "{} lookups", vendor.requests("GET", TWEETS).len());
    second.stop().await;
    first.stop().await;
}

const FOLLOW_UP_AND_CANCEL: &str = r#"
- name: follow up
  on: scrapely.new_reply
  keywords: [interested]
  do:
    - action: scrapely.schedule_tweet
      with:
        account: yourhandle
        tweet_text: "Following up on {{ data.conversation_id }}"
        scheduled_at: "in 2h"
        ref: "{{ data.conversation_id }}"
- name: call it off
  on: scrapely.new_reply
  keywords: [stop]
  do:
    - action: scrapely.cancel_scheduled_tweet
      with: { scheduled_by: follow up, ref: "{{ data.conversation_id }}" }
"#;

/// A reply saying stop cancels the tweet "follow up" scheduled for the same
/// conversation — even when it arrives while that tweet is still being
/// scheduled (a 503 first): the cancel waits for it. With nothing scheduled
/// for the conversation, the cancel is skipped and says why.
async fn a_rule_cancels_the_tweet_another_rule_scheduled_for_the_conversation(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("tweets.yaml", FOLLOW_UP_AND_CANCEL)])
        .start()
        .await;
    vendor.script(
        TWEETS,
        vec![Reply::Status(503, json!({"error": "Service Unavailable"}))],
    );
    let interested = reply("c1", "I'm interested!", None);
    let stop = reply("c2", "stop, please", None);
    assert_eq!(
        app.post("/webhooks/scrapely", interested).await.status(),
        200
    );
    assert_eq!(app.post("/webhooks/scrapely", stop).await.status(), 200);
    let ids = all_succeeded(&app.store, 2).await;
    let scheduled = vendor.scheduled_tweets();
    assert_eq!(scheduled.len(), 1, "{scheduled:?}");
    assert_eq!(scheduled[0].4, "cancelled", "Scrapely cancelled it");
    let cancels = vendor.requests("DELETE", TWEETS);
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].body, json!({"tweet_id": scheduled[0].0}));
    let rows = tweets(&app.store).await;
    assert_eq!((rows[0].0, rows[0].3.as_str()), (ids[0], "cancelled"));

    // Another conversation: nothing "follow up" scheduled there.
    let elsewhere = reply("c3", "stop", Some(OTHER_CONVERSATION));
    assert_eq!(
        app.post("/webhooks/scrapely", elsewhere).await.status(),
        200
    );
    let mut all = Vec::new();
    let skipped = poll_until(Duration::from_secs(10), async || {
        all = actions(&app.store).await;
        all.len() == 3 && all[2].1 == "skipped"
    })
    .await;
    assert!(skipped, "{all:?}");
    let sql = "SELECT last_error FROM actions WHERE id = $1";
    let why: String = crate::on_store!(&app.store, p => sqlx::query_scalar(sql).bind(all[2].0).fetch_one(p).await.unwrap());
    assert!(
        why.contains("follow up") && why.contains(OTHER_CONVERSATION),
        "{why}"
    );
    assert_eq!(vendor.requests("DELETE", TWEETS).len(), 1);
    app.stop().await;
}

on_both_backends!(
    a_scheduled_tweets_fate_is_followed_up_and_audited,
    two_replicas_follow_a_tweet_once,
    a_rule_cancels_the_tweet_another_rule_scheduled_for_the_conversation,
);

/// `rules check` refuses a cancel that names both a tweet id and a reference,
/// neither, or half a reference.
#[test]
fn a_cancel_names_its_tweet_exactly_one_way() {
    let check = |with: &str| {
        let yaml = format!(
            "- name: c\n  on: scrapely.new_reply\n  do:\n    - action: scrapely.cancel_scheduled_tweet\n      with: {with}\n"
        );
        match starling::rules::load::load_sources(&[("r.yaml".to_string(), yaml)]) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.0.iter().map(|e| e.message.clone()).collect(),
        }
    };
    assert!(check("{ tweet_id: abc }").is_empty());
    assert!(check("{ scheduled_by: follow up, ref: \"{{ data.conversation_id }}\" }").is_empty());
    let both = check("{ tweet_id: abc, scheduled_by: follow up, ref: x }");
    assert!(
        both.iter().any(|e| e.contains("`tweet_id`")
            && e.contains("`scheduled_by`")
            && e.contains("not both")),
        "{both:?}"
    );
    let neither = check("{}");
    assert!(
        neither
            .iter()
            .any(|e| e.contains("`tweet_id`") && e.contains("`scheduled_by`")),
        "{neither:?}"
    );
    let half = check("{ scheduled_by: follow up }");
    assert!(half.iter().any(|e| e.contains("`ref`")), "{half:?}");
    let stray = check("{ tweet_id: abc, ref: x }");
    assert!(
        stray
            .iter()
            .any(|e| e.contains("`ref`") && e.contains("`scheduled_by`")),
        "{stray:?}"
    );
}
