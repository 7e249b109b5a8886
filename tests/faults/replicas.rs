//! Scenario 4: three processes on one PostgreSQL under a 64-connection webhook
//! load (a sender moves to another process when its own dies), one of them
//! killed with SIGKILL every few seconds and restarted; every eighth reply says
//! "interested" and a rule DMs it. No acknowledged event lost, none stored twice,
//! no DM sent twice, none `succeeded` that is not in the conversation, and every
//! stored interested reply has its DM action.

use crate::db::{Backend, TestDb};
use crate::fake_vendor::{CONVERSATION, FakeVendor};
use crate::load::{Load, LoadConfig, Targets, auth_env};
use crate::report::Table;
use crate::store_check::check_store;
use crate::{Run, poll_until, start_process};
use rand::Rng;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const PROCESSES: usize = 3;
/// Kills per round: each round kills as many times as there are processes.
const KILLS_PER_ROUND: usize = 3;

const DM_RULE: &str = r#"
- name: thank interested prospects
  on: scrapely.new_reply
  keywords: [interested]
  do:
    - action: scrapely.send_dm
      with: { message: "Thanks {{ data.message.id }}" }
"#;

pub async fn run(run: &mut Run) -> Table {
    let mut table = Table::new(
        "4. three processes on one PostgreSQL, one killed every few seconds, with DMs",
        &[
            "backend",
            "rounds (kills)",
            "acknowledged",
            "lost",
            "duplicated",
            "unexpected",
            "wrong answers",
            "invalid posted (all refused)",
            "DM actions",
            "DMs twice",
            "DMs falsely succeeded",
            "DM actions missing",
            "DM statuses",
        ],
    );
    let vendor = FakeVendor::start().await;
    let db = TestDb::new(Backend::Postgres).await;
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("rules.yaml"), DM_RULE).unwrap();
    let mut env: Vec<(&str, String)> = auth_env();
    env.extend(vendor.env());
    for (k, v) in [
        ("STARLING__DATABASE__URL", db.url.as_str()),
        ("STARLING__RULES__DIR", rules.path().to_str().unwrap()),
        ("STARLING__ACTIONS__POLL_INTERVAL_MS", "100"),
        ("STARLING__ACTIONS__HEARTBEAT_SECS", "1"),
        // A killed run's lease is 2 × 1 s + 5 s: its DMs are taken over 7 s on.
        ("STARLING__ACTIONS__TIMEOUT_SECS", "1"),
        ("STARLING__SCRAPELY__RATE_LIMIT", "100000"),
        // Every interested reply DMs the same person on purpose.
        ("STARLING__OUTREACH__CONTACT_WINDOW", "0"),
    ] {
        env.push((k, v.to_string()));
    }
    let targets = Targets::new(PROCESSES);
    let mut processes = Vec::new();
    for slot in 0..PROCESSES {
        let process = start_process(&env);
        targets.set(slot, Some(process.addr.to_string()));
        processes.push(process);
    }
    let load = Load::start(
        LoadConfig {
            connections: 64,
            prefix: "replica",
            interested_every: Some(8),
        },
        targets.clone(),
    );
    let kills = run.rounds * KILLS_PER_ROUND;
    for kill in 0..kills {
        assert!(
            load.wait_for_more(20, Duration::from_secs(60)).await,
            "kill {kill}: no webhook acknowledged within 60 s"
        );
        // Sleep stays: the fault schedule, not a wait for an event: a kill every
        // 1–3 s (random, from the printed seed), under load.
        tokio::time::sleep(Duration::from_millis(run.rng.random_range(1000..3000))).await;
        let slot = run.rng.random_range(0..PROCESSES);
        processes[slot].kill9();
        targets.set(slot, None);
        processes[slot] = start_process(&env);
        targets.set(slot, Some(processes[slot].addr.to_string()));
    }
    assert!(
        load.wait_for_more(20, Duration::from_secs(60)).await,
        "no webhook acknowledged after the last restart"
    );
    let outcome = load.finish().await;

    // The DMs of killed runs are taken over once their leases end.
    let store = starling::store::Store::connect(&db.url, 2).await.unwrap();
    let mut dms = Vec::new();
    let settled = poll_until(Duration::from_secs(90), async || {
        dms = dm_actions(&store).await;
        dms.iter()
            .all(|a| !matches!(a.1.as_str(), "pending" | "running" | "failed"))
    })
    .await;
    let interested: i64 = match &store {
        starling::store::Store::Postgres(p) => sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE payload->'data'->'message'->>'text' LIKE '%interested%'",
        )
        .fetch_one(p)
        .await
        .unwrap(),
        starling::store::Store::Sqlite(_) => unreachable!("this scenario runs on PostgreSQL"),
    };
    store.close().await;
    for process in processes {
        let (status, _) = process.terminate();
        assert!(status.success(), "a replica exits 0 on SIGTERM");
    }
    let check = check_store(&db.url, &outcome).await;

    let mut in_conversation: HashMap<String, usize> = HashMap::new();
    for m in vendor.messages(CONVERSATION) {
        *in_conversation
            .entry(m["text"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let twice: Vec<String> = in_conversation
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(text, n)| format!("{text} ×{n}"))
        .collect();
    let falsely: Vec<String> = dms
        .iter()
        .filter(|a| a.1 == "succeeded" && !in_conversation.contains_key(&a.2))
        .map(|a| format!("action {}: {}", a.0, a.2))
        .collect();
    let mut unexpected = check.unexpected.clone();
    unexpected.extend(
        in_conversation
            .keys()
            .filter(|text| !dms.iter().any(|a| &a.2 == *text))
            .map(|text| format!("a DM no action sent: {text}")),
    );
    let missing: Vec<String> = match dms.len() as i64 {
        n if n < interested => vec![format!("{interested} interested replies, {n} DM actions")],
        _ => vec![],
    };
    let mut statuses: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &dms {
        *statuses.entry(a.1.as_str()).or_default() += 1;
    }
    let mut wrong = outcome.wrong.clone();
    wrong.extend(
        dms.iter()
            .filter(|a| !matches!(a.1.as_str(), "succeeded" | "outcome_unknown"))
            .map(|a| format!("DM action {} is {}", a.0, a.1)),
    );
    if !settled {
        wrong.push("the DM actions did not settle within 90 s".into());
    }
    table.row(vec![
        "postgres".into(),
        format!("{} ({kills})", run.rounds),
        outcome.acked.len().to_string(),
        check.lost.len().to_string(),
        check.duplicated.len().to_string(),
        unexpected.len().to_string(),
        wrong.len().to_string(),
        outcome.invalid_sent.to_string(),
        dms.len().to_string(),
        twice.len().to_string(),
        falsely.len().to_string(),
        missing.len().to_string(),
        format!("{statuses:?}").replace('"', ""),
    ]);
    if !twice.is_empty() || !falsely.is_empty() {
        let texts: Vec<&String> = in_conversation
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(t, _)| t)
            .chain(falsely.iter())
            .take(3)
            .collect();
        println!("{}", diagnose(&db.url, &vendor, &dms, &texts).await);
    }
    table.fail_if_any("lost", &check.lost);
    table.fail_if_any("duplicated", &check.duplicated);
    table.fail_if_any("unexpected", &unexpected);
    table.fail_if_any("wrong answers", &wrong);
    table.fail_if_any("DMs twice", &twice);
    table.fail_if_any("DMs falsely succeeded", &falsely);
    table.fail_if_any("DM actions missing", &missing);
    table
}

/// (id, status, rendered message) of every DM action.
async fn dm_actions(store: &starling::store::Store) -> Vec<(i64, String, String)> {
    let sql = "SELECT id, status, CAST(params AS TEXT) FROM actions \
               WHERE kind = 'scrapely.send_dm' ORDER BY id";
    let rows: Vec<(i64, String, String)> = match store {
        starling::store::Store::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
        starling::store::Store::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
    };
    rows.into_iter()
        .map(|(id, status, params)| {
            let v: serde_json::Value = serde_json::from_str(&params).unwrap_or_default();
            let message = v["message"].as_str().unwrap_or_default().to_string();
            (id, status, message)
        })
        .collect()
}

/// (id, worker #attempt, started_at, finished_at, outcome, status, error class, error).
type AttemptRow = (
    i64,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<String>,
);

/// For a failure: each DM's attempts as the store has them, and the calls the fake saw.
async fn diagnose(
    url: &str,
    vendor: &FakeVendor,
    dms: &[(i64, String, String)],
    texts: &[&String],
) -> String {
    let store = starling::store::Store::connect(url, 2).await.unwrap();
    let mut out = String::from("\nDM diagnosis (action attempts, then the fake's calls):\n");
    for text in texts {
        for action in dms.iter().filter(|a| &&a.2 == text) {
            let sql = "SELECT id, worker || ' #' || attempt, started_at, finished_at, outcome, status_code, error_class, error \
                       FROM action_attempts WHERE action_id = $1 ORDER BY id";
            let rows: Vec<AttemptRow> = crate::on_pg(&store, sql, action.0).await;
            let created: Vec<(i64, i32, i32)> = crate::on_pg(
                &store,
                "SELECT created_at, attempts, series FROM actions WHERE id = $1",
                action.0,
            )
            .await;
            out.push_str(&format!(
                "  action {} ({}) {text}: (created_at, attempts, series) {created:?}\n",
                action.0, action.1
            ));
            for row in rows {
                out.push_str(&format!("    attempt {row:?}\n"));
            }
            let sql = "SELECT action_id, message_key, proved_by, sent_after, sent_before, message_time \
                       FROM dm_deliveries WHERE action_id = $1";
            let rows: Vec<(i64, String, String, i64, i64, Option<i64>)> =
                crate::on_pg(&store, sql, action.0).await;
            for row in rows {
                out.push_str(&format!("    delivery {row:?}\n"));
            }
        }
        for call in vendor.requests("POST", "/api/v1/dm/send") {
            if call.body["message"] == text.as_str() {
                let ms = call
                    .wall
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                out.push_str(&format!("  fake: POST /dm/send at {ms}\n"));
            }
        }
    }
    store.close().await;
    out
}
