//! Actions across crashes and processes, with the real `starling` binary: a delay
//! survives SIGKILL, a DM in flight during SIGKILL is never sent twice, and three
//! processes share one rate-limit budget.

use crate::actions::{TERMINAL_WAIT, wait_status};
use crate::helpers::fake_vendor::{FakeVendor, Reply, SLACK_PATH};
use crate::helpers::process::StarlingProcess;
use crate::helpers::settle::settle;
use crate::helpers::{Backend, TestDb, fixture, new_reply};
use starling::store::Store;
use std::time::{Duration, Instant};

struct Setup {
    db: TestDb,
    rules: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Setup {
    async fn new(
        backend: Backend,
        vendor: &FakeVendor,
        rule: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let db = TestDb::new(backend).await;
        let rules = tempfile::tempdir().unwrap();
        std::fs::write(rules.path().join("rules.yaml"), rule).unwrap();
        let mut env: Vec<(String, String)> = vendor
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        for (k, v) in [
            ("STARLING__DATABASE__URL", db.url.as_str()),
            ("STARLING__RULES__DIR", rules.path().to_str().unwrap()),
            ("STARLING__ACTIONS__POLL_INTERVAL_MS", "100"),
            ("STARLING__ACTIONS__HEARTBEAT_SECS", "1"),
            ("STARLING__ACTIONS__TIMEOUT_SECS", "1"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            env.push((k.to_string(), v.to_string()));
        }
        Self { db, rules, env }
    }

    fn start(&self) -> StarlingProcess {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        StarlingProcess::start(&env)
    }

    async fn store(&self) -> Store {
        let _ = &self.rules;
        Store::connect(&self.db.url, 2).await.unwrap()
    }
}

async fn post(process: &StarlingProcess, body: Vec<u8>) {
    let response = starling::actions::outbound::client(Duration::from_secs(30))
        .unwrap()
        .post(process.url("/webhooks/scrapely"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

const DELAYED: &str = r#"
- name: alert later
  on: scrapely.leads_exhausted
  do:
    - action: slack.post
      delay: 3s
      with: { text: "Campaign {{ data.campaign_name }} is out of leads." }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_action_survives_sigkill_and_runs_once_not_early() {
    let vendor = FakeVendor::start().await;
    let setup = Setup::new(Backend::Sqlite, &vendor, DELAYED, &[]).await;
    let mut first = setup.start();
    post(&first, fixture("leads_exhausted")).await;
    let acknowledged = Instant::now();
    first.kill9();
    let second = setup.start();
    let posts = vendor
        .wait_for("POST", SLACK_PATH, 1, Duration::from_secs(20))
        .await;
    let after = posts[0].at.duration_since(acknowledged);
    assert!(
        after >= Duration::from_millis(2900),
        "ran early: {after:?} after the event"
    );
    assert!(
        after <= Duration::from_secs(5),
        "ran late: {after:?} after the event"
    );
    settle(&setup.store().await, Duration::from_secs(20)).await;
    assert_eq!(vendor.requests("POST", SLACK_PATH).len(), 1);
    second.terminate();
}

const DM_RULE: &str = r#"
- name: thank interested prospects
  on: scrapely.new_reply
  keywords: [interested]
  do:
    - action: scrapely.send_dm
      with: { message: "Thanks! Here is the calendar link." }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_during_a_dm_call_never_sends_it_twice() {
    let vendor = FakeVendor::start().await;
    // Scrapely sends the DM but the answer never comes back.
    vendor.script("/api/v1/dm/send", vec![Reply::Hold]);
    // A 3 s call timeout: the kill comes well before it, and the dead run's lease
    // (2 × timeout + 5 s) expires 11 s after the call started.
    let setup = Setup::new(
        Backend::Sqlite,
        &vendor,
        DM_RULE,
        &[("STARLING__ACTIONS__TIMEOUT_SECS", "3")],
    )
    .await;
    let mut first = setup.start();
    post(&first, fixture("new_reply")).await;
    vendor
        .wait_for("POST", "/api/v1/dm/send", 1, Duration::from_secs(10))
        .await;
    first.kill9();
    let second = setup.start();
    let store = setup.store().await;
    // The lease (2 × timeout + 5 s) expires, the job is taken over and reconciled.
    let (id, ..) = wait_status(&store, "succeeded", TERMINAL_WAIT).await;
    assert_eq!(
        vendor.requests("POST", "/api/v1/dm/send").len(),
        1,
        "the DM was sent twice"
    );
    let lookups = vendor.requests("GET", "/api/v1/conversations");
    assert!(
        lookups
            .iter()
            .any(|r| r.query == "conversation_id=123456789-987654321"),
        "reconciled through GET /conversations?conversation_id=…: {lookups:?}"
    );
    let outcome: String = crate::on_store!(&store, p => sqlx::query_scalar(
        "SELECT outcome FROM action_attempts WHERE action_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(id)
    .fetch_one(p)
    .await
    .unwrap());
    assert_eq!(outcome, "reconciled");
    second.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_whose_fate_is_unknown_is_parked_until_a_person_decides() {
    let vendor = FakeVendor::start().await;
    // The call hangs and the message never reaches the conversation.
    vendor.script("/api/v1/dm/send", vec![Reply::HoldUnsent]);
    let setup = Setup::new(
        Backend::Sqlite,
        &vendor,
        DM_RULE,
        &[("STARLING__ACTIONS__TIMEOUT_SECS", "3")],
    )
    .await;
    let mut first = setup.start();
    post(&first, fixture("new_reply")).await;
    vendor
        .wait_for("POST", "/api/v1/dm/send", 1, Duration::from_secs(10))
        .await;
    first.kill9();
    let second = setup.start();
    let store = setup.store().await;
    let (id, ..) = wait_status(&store, "outcome_unknown", TERMINAL_WAIT).await;
    settle(&store, Duration::from_secs(20)).await;
    assert_eq!(
        vendor.requests("POST", "/api/v1/dm/send").len(),
        1,
        "never sent blindly"
    );
    // A person decides to send it.
    starling::cli::jobs::retry(&store, id).await.unwrap();
    vendor
        .wait_for("POST", "/api/v1/dm/send", 2, Duration::from_secs(10))
        .await;
    wait_status(&store, "succeeded", Duration::from_secs(10)).await;
    second.terminate();
}

// `replace`: one call per update (appending reads the notes first), so the
// test measures the budget, not the CRM read.
const CRM_RULE: &str = r#"
- name: note every reply
  on: scrapely.new_reply
  do:
    - action: scrapely.update_crm
      with: { notes: "replied: {{ data.message.id }}", notes_mode: replace }
"#;

/// Scrapely's 60 calls per minute, with time scaled 20×: 60 calls per 3 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_on_one_postgres_stay_under_the_shared_rate_limit() {
    let vendor = FakeVendor::start().await;
    vendor.limit(60, Duration::from_secs(3));
    let setup = Setup::new(
        Backend::Postgres,
        &vendor,
        CRM_RULE,
        &[
            ("STARLING__SCRAPELY__RATE_LIMIT", "60"),
            ("STARLING__SCRAPELY__RATE_WINDOW_SECS", "3"),
            ("STARLING__ACTIONS__TIMEOUT_SECS", "5"),
        ],
    )
    .await;
    let processes: Vec<StarlingProcess> = (0..3).map(|_| setup.start()).collect();
    let urls: Vec<String> = processes
        .iter()
        .map(|p| p.url("/webhooks/scrapely"))
        .collect();
    let client = starling::actions::outbound::client(Duration::from_secs(30)).unwrap();
    let posts = (0..600).map(|i| {
        let (client, url) = (client.clone(), urls[i % 3].clone());
        async move {
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(new_reply(&format!("m-{i}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    });
    futures::stream::iter(posts)
        .buffer_unordered(24)
        .collect::<Vec<()>>()
        .await;
    vendor
        .wait_for("PATCH", "/api/v1/crm/update", 600, Duration::from_secs(120))
        .await;
    assert_eq!(vendor.rate_limited(), 0, "the fake vendor answered 429");
    for p in processes {
        p.terminate();
    }
}

use futures::StreamExt;

const EVERY_KIND: &str = r#"
- name: every kind
  on: scrapely.new_reply
  do:
    - action: scrapely.send_dm
      with: { message: "Round {{ data.message.id }}" }
    - action: scrapely.send_dm
      with: { message: "Round {{ data.message.id }}" }
    - action: scrapely.schedule_tweet
      with: { account: yourhandle, tweet_text: "Round {{ data.message.id }}", scheduled_at: "in 2h" }
    - action: scrapely.update_crm
      with: { deal_value: 100 }
    - action: slack.post
      with: { text: "Round {{ data.message.id }}" }
    - action: http.request
      with: { url: "HOOK/hook", json: { round: "{{ data.message.id }}" } }
"#;

const ROUNDS: usize = 10;

/// Ten times over, SIGKILL while Scrapely, Slack and a webhook receiver hold
/// every call of every kind open (two identical DMs, of which only the first
/// reached the conversation); then one process recovers everything. What
/// happens is the README's per-kind table: a DM never twice and never falsely
/// `succeeded`, a scheduled tweet never twice, CRM updates resent, Slack posts
/// at least once, HTTP requests resent with one `Idempotency-Key`.
async fn sigkill_during_calls_of_every_kind_keeps_each_kinds_crash_semantics(backend: Backend) {
    use crate::helpers::fake_vendor::CONVERSATION;
    let vendor = FakeVendor::start().await;
    let rule = EVERY_KIND.replace("HOOK", &format!("http://{}", vendor.addr));
    // An 8 s timeout makes the lease 21 s: no round's actions are taken over
    // while later rounds are still crashing.
    let setup = Setup::new(
        backend,
        &vendor,
        &rule,
        &[
            ("STARLING__ACTIONS__TIMEOUT_SECS", "8"),
            // ~8 Scrapely calls a round: the default 60 a minute would throttle the test.
            ("STARLING__SCRAPELY__RATE_LIMIT", "1000"),
            crate::actions::NO_CONTACT_WINDOW,
        ],
    )
    .await;
    let calls = [
        ("POST", "/api/v1/dm/send", 2),
        ("POST", "/api/v1/scheduled-tweets", 1),
        ("PATCH", "/api/v1/crm/update", 1),
        ("POST", SLACK_PATH, 1),
        ("POST", "/hook", 1),
    ];
    for round in 0..ROUNDS {
        vendor.script("/api/v1/dm/send", vec![Reply::Hold, Reply::HoldUnsent]);
        for (_, path, _) in &calls[1..] {
            vendor.script(path, vec![Reply::Hold]);
        }
        let mut process = setup.start();
        post(&process, new_reply(&format!("r{round}"))).await;
        for (method, path, per_round) in calls {
            vendor
                .wait_for(
                    method,
                    path,
                    per_round * (round + 1),
                    Duration::from_secs(20),
                )
                .await;
        }
        process.kill9();
    }
    let last = setup.start();
    let store = setup.store().await;
    let settled = crate::helpers::poll_until(Duration::from_secs(90), async || {
        let all = crate::actions::actions(&store).await;
        all.len() == ROUNDS * 6
            && all
                .iter()
                .all(|a| !matches!(a.1.as_str(), "pending" | "running" | "failed"))
    })
    .await;
    let all = crate::actions::actions(&store).await;
    assert!(settled, "actions did not settle: {all:?}");
    let messages = vendor.messages(CONVERSATION);
    let tweets = vendor.scheduled_tweets();
    for round in 0..ROUNDS {
        let text = format!("Round r{round}");
        let mine = &all[round * 6..round * 6 + 6];
        let sent = messages
            .iter()
            .filter(|m| m["text"] == text.as_str())
            .count();
        assert_eq!(
            sent, 1,
            "round {round}: the DM is in the conversation {sent} times"
        );
        let mut dms = [mine[0].1.as_str(), mine[1].1.as_str()];
        dms.sort();
        assert_eq!(
            dms,
            ["outcome_unknown", "succeeded"],
            "round {round}: one DM got through"
        );
        let scheduled = tweets.iter().filter(|t| t.2 == text).count();
        assert_eq!(
            scheduled, 1,
            "round {round}: the tweet is scheduled {scheduled} times"
        );
        let rest: Vec<&str> = mine[2..].iter().map(|a| a.1.as_str()).collect();
        assert_eq!(rest, ["succeeded"; 4], "round {round}");
        let hooks: Vec<String> = vendor
            .requests("POST", "/hook")
            .iter()
            .filter(|r| r.body["round"] == format!("r{round}").as_str())
            .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_string())
            .collect();
        assert_eq!(hooks.len(), 2, "round {round}: held, then sent again");
        assert_eq!(hooks[0], hooks[1], "round {round}: one Idempotency-Key");
    }
    // Slack is at-least-once: the held post and its resend.
    assert_eq!(vendor.requests("POST", SLACK_PATH).len(), 2 * ROUNDS);
    last.terminate();
}

crate::on_both_backends!(sigkill_during_calls_of_every_kind_keeps_each_kinds_crash_semantics);
