//! Scenario 3: a PostgreSQL cluster of the suite's own (never the machine's
//! server) stopped at a random instant under a 64-connection webhook load, down
//! for a random while, and started again, `rounds` times. While it is down every
//! answer is the documented 503 with `Retry-After`, within 2 s; afterwards
//! ingestion resumes by itself, and every acknowledged webhook is one event.

use crate::cluster::Cluster;
use crate::load::{Load, LoadConfig, Targets, auth_env};
use crate::report::Table;
use crate::store_check::check_store;
use crate::{Run, start_process};
use rand::Rng;
use std::time::{Duration, Instant};

pub async fn run(run: &mut Run) -> Table {
    let mut table = Table::new(
        "3. PostgreSQL stopped and started under a 64-connection webhook load",
        &[
            "backend",
            "rounds",
            "acknowledged",
            "lost",
            "duplicated",
            "unexpected",
            "wrong answers",
            "invalid posted (all refused)",
            "503s",
            "answers over 2 s while down",
        ],
    );
    let cluster = tokio::task::block_in_place(Cluster::start)
        .expect("PostgreSQL binaries under /usr/lib/postgresql for a throwaway cluster");
    let rules = tempfile::tempdir().unwrap();
    let mut env: Vec<(&str, String)> = auth_env();
    env.push(("STARLING__DATABASE__URL", cluster.url()));
    env.push(("STARLING__RULES__DIR", rules.path().display().to_string()));

    let targets = Targets::new(1);
    let process = start_process(&env);
    targets.set(0, Some(process.addr.to_string()));
    let load = Load::start(
        LoadConfig {
            connections: 64,
            prefix: "outage",
            interested_every: None,
        },
        targets,
    );
    let mut outages: Vec<(Instant, Instant)> = Vec::new();
    let mut not_resumed = Vec::new();
    for round in 0..run.rounds {
        assert!(
            load.wait_for_more(20, Duration::from_secs(60)).await,
            "round {round}: no webhook acknowledged within 60 s"
        );
        // Sleep stays: the fault schedule, not a wait for an event: the database
        // stops at a random instant of the load (from the printed seed) ...
        tokio::time::sleep(Duration::from_millis(run.rng.random_range(0..1000))).await;
        let down = Instant::now();
        tokio::task::block_in_place(|| cluster.stop());
        // Sleep stays: ... and it stays down a random 0.5–2.5 s (the outage itself).
        tokio::time::sleep(Duration::from_millis(run.rng.random_range(500..2500))).await;
        tokio::task::block_in_place(|| cluster.start_again());
        outages.push((down, Instant::now()));
        // Without a restart of Starling: its probe finds the database again.
        if !load.wait_for_more(20, Duration::from_secs(15)).await {
            not_resumed.push(format!(
                "round {round}: no acknowledgement 15 s after the restart"
            ));
        }
    }
    let outcome = load.finish().await;
    let (status, _) = process.terminate();
    assert!(status.success(), "Starling exits 0 on SIGTERM");

    let check = check_store(&cluster.url(), &outcome).await;
    // An answer slower than 2 s is wrong while the database is down (it must
    // have been answered 503 at once), and so is no answer at all: the server was up.
    let slow_while_down: Vec<String> = outcome
        .slow
        .iter()
        .filter(|(sent, took, _)| {
            outages
                .iter()
                .any(|(down, up)| *sent < *up && *sent + *took > *down)
        })
        .map(|(_, took, status)| format!("status {status} after {took:?}"))
        .collect();
    let mut wrong = outcome.wrong.clone();
    wrong.extend(slow_while_down.iter().cloned());
    if outcome.no_answer > 0 {
        wrong.push(format!(
            "{} requests got no answer from a running server",
            outcome.no_answer
        ));
    }
    table.row(vec![
        "postgres (own cluster)".into(),
        run.rounds.to_string(),
        outcome.acked.len().to_string(),
        check.lost.len().to_string(),
        check.duplicated.len().to_string(),
        check.unexpected.len().to_string(),
        wrong.len().to_string(),
        outcome.invalid_sent.to_string(),
        outcome.unavailable.to_string(),
        slow_while_down.len().to_string(),
    ]);
    table.fail_if_any("lost", &check.lost);
    table.fail_if_any("duplicated", &check.duplicated);
    table.fail_if_any("unexpected", &check.unexpected);
    table.fail_if_any("wrong answers", &wrong);
    table.fail_if_any("ingestion did not resume", &not_resumed);
    if outcome.unavailable == 0 {
        table
            .failures
            .push("no 503 while the database was down: the outage was not seen".into());
    }
    table
}
