//! Actions across crashes and processes, with the real `starling` binary: a delay
//! survives SIGKILL, a DM in flight during SIGKILL is never sent twice, and three
//! processes share one rate-limit budget.

use crate::actions::{TERMINAL_WAIT, wait_status};
use crate::helpers::fake_vendor::{FakeVendor, Reply, SLACK_PATH};
use crate::helpers::process::StarlingProcess;
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
    tokio::time::sleep(Duration::from_secs(1)).await;
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
    tokio::time::sleep(Duration::from_millis(500)).await;
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

const CRM_RULE: &str = r#"
- name: note every reply
  on: scrapely.new_reply
  do:
    - action: scrapely.update_crm
      with: { notes: "replied: {{ data.message.id }}" }
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
