//! Statements per executed action, counted by PostgreSQL itself: the server is a
//! throwaway cluster of the test's own with `pg_stat_statements` preloaded, the
//! rule fires one `scrapely.update_crm` (a tag: the CRM is read first, two
//! calls) on every reply, and every statement Starling sends while the replies
//! are ingested and their actions run is counted — `BEGIN`/`COMMIT` included,
//! since each is a round trip. Background work (the sweep, apalis polls) is
//! slowed to once a second or less, so what is counted is the path.
//!
//! `cargo test --test it -- statements --nocapture` prints the breakdown; the
//! test fails if the path grows past its budget.

use crate::helpers::cluster::Cluster;
use crate::helpers::db::TestDb;
use crate::helpers::fake_vendor::FakeVendor;
use crate::helpers::{Backend, TestApp, new_reply};
use sqlx::Connection;

const RULE: &str = r#"
- name: tag every reply
  on: scrapely.new_reply
  do:
    - action: scrapely.update_crm
      with: { tag: interested_reply }
"#;

/// Replies posted (and actions executed) in the counted window.
const ACTIONS: usize = 100;
/// The most statements one webhook and its executed action may cost on this
/// path (15.0 since the budget takes 3 statements a group: see the README's "Statements per action").
const BUDGET: f64 = 15.0;

/// A new reply (its own message id) in the fake vendor's conversation.
fn reply(i: usize) -> Vec<u8> {
    new_reply(&format!("m{i}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_per_executed_action_are_counted_and_within_budget() {
    let Some(cluster) = Cluster::start_with(&["shared_preload_libraries=pg_stat_statements"])
    else {
        panic!("PostgreSQL binaries under /usr/lib/postgresql");
    };
    let url = cluster.url();
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE EXTENSION pg_stat_statements")
        .execute(&mut admin)
        .await
        .unwrap();
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(Backend::Postgres)
        .db(TestDb::external(&url))
        .vendor(&vendor)
        .rules(&[("crm.yaml", RULE)])
        .env(&[
            ("STARLING__ACTIONS__POLL_INTERVAL_MS", "60000"),
            ("STARLING__ACTIONS__HEARTBEAT_SECS", "60"),
            // As the actions bench: the budget never makes an action wait.
            ("STARLING__SCRAPELY__RATE_LIMIT", "100000000"),
            ("STARLING__SCRAPELY__RATE_WINDOW_SECS", "1"),
            // The console's hourly rollup is not on the path: on a fresh database
            // it catches up 30 days of hours, which may overlap the counted window.
            ("STARLING__CONSOLE__ENABLED", "false"),
        ])
        .start()
        .await;
    // Warm up (prepared statements, the account lookup, pools), then count.
    let response = app.post("/webhooks/scrapely", reply(0)).await;
    assert_eq!(response.status(), 200);
    app.settle().await;
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(&mut admin)
        .await
        .unwrap();
    for i in 1..=ACTIONS {
        let response = app.post("/webhooks/scrapely", reply(i)).await;
        assert_eq!(response.status(), 200);
    }
    app.settle().await;
    let succeeded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM actions WHERE status = 'succeeded' AND event_id > 1",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    let statuses: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT status || ' ' || count(*), max(last_error) FROM actions GROUP BY status",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(succeeded as usize, ACTIONS, "{statuses:?}");
    // Starling's statements only: not this test's own connection.
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls FROM pg_stat_statements s \
         JOIN pg_database d ON d.oid = s.dbid \
         WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_statements%' \
           AND query NOT LIKE '%count(*) FROM actions WHERE status = %' \
         ORDER BY calls DESC",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    // The path: what runs at least once per two actions (the rest is this test's
    // settle queries and the once-a-second sweep).
    let total: i64 = rows
        .iter()
        .map(|(_, calls)| *calls)
        .filter(|calls| *calls as usize >= ACTIONS / 2)
        .sum();
    // The sweep's transactions share the `BEGIN`/`COMMIT` counts: take them out.
    let sweeps: i64 = rows
        .iter()
        .filter(|(query, _)| query.starts_with("UPDATE actions SET updated_at = $1 WHERE"))
        .map(|(_, calls)| *calls)
        .sum();
    let total = total - 2 * sweeps;
    let per_action = total as f64 / ACTIONS as f64;
    println!(
        "{total} statements on the path for {ACTIONS} webhooks and their actions: {per_action:.2} per action"
    );
    println!("| calls per action | statement |\n|---:|---|");
    for (query, calls) in &rows {
        let shown: String = query.chars().take(110).collect();
        println!(
            "| {:.2} | `{}` |",
            *calls as f64 / ACTIONS as f64,
            shown.replace('|', "\\|")
        );
    }
    // One more statement on the path is +1.0; a stray background transaction is
    // a hundredth.
    assert!(
        per_action <= BUDGET + 0.05,
        "{per_action:.2} statements per action, over the budget of {BUDGET}"
    );
    app.stop().await;
}
