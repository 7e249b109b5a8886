//! Scenario 1: 64 connections post authentic webhooks while the one Starling
//! process is killed with SIGKILL at a random instant and restarted, `rounds`
//! times. Every acknowledged webhook must then be one event in the store.

use crate::db::{Backend, TestDb};
use crate::load::{Load, LoadConfig, Targets, auth_env};
use crate::report::Table;
use crate::store_check::check_store;
use crate::{Run, start_process};
use rand::Rng;
use std::time::Duration;

pub fn table() -> Table {
    Table::new(
        "1. kill -9 at a random instant under a 64-connection webhook load",
        &[
            "backend",
            "rounds",
            "acknowledged",
            "lost",
            "duplicated",
            "unexpected",
            "wrong answers",
            "invalid posted (all refused)",
            "in doubt (no answer)",
            "503s",
        ],
    )
}

pub async fn run(run: &mut Run, backend: Backend, table: &mut Table) {
    let db = TestDb::new(backend).await;
    let rules = tempfile::tempdir().unwrap();
    let rules_dir = rules.path().display().to_string();
    let mut env: Vec<(&str, String)> = auth_env();
    env.push(("STARLING__DATABASE__URL", db.url.clone()));
    env.push(("STARLING__RULES__DIR", rules_dir));

    let targets = Targets::new(1);
    let mut process = start_process(&env);
    targets.set(0, Some(process.addr.to_string()));
    let load = Load::start(
        LoadConfig {
            connections: 64,
            prefix: "kill",
            interested_every: None,
        },
        targets.clone(),
    );
    for round in 0..run.rounds {
        // This incarnation is really serving before it is killed.
        assert!(
            load.wait_for_more(20, Duration::from_secs(60)).await,
            "round {round}: no webhook acknowledged within 60 s"
        );
        // Sleep stays: the fault schedule, not a wait for an event: SIGKILL at a
        // random instant of the load (from the printed seed).
        let instant = Duration::from_millis(run.rng.random_range(0..1500));
        tokio::time::sleep(instant).await;
        process.kill9();
        targets.set(0, None);
        process = start_process(&env);
        targets.set(0, Some(process.addr.to_string()));
    }
    assert!(
        load.wait_for_more(20, Duration::from_secs(60)).await,
        "no webhook acknowledged after the last restart"
    );
    let outcome = load.finish().await;
    let (status, _) = process.terminate();
    assert!(status.success(), "the last process exits 0 on SIGTERM");

    let check = check_store(&db.url, &outcome).await;
    let name = format!("{backend:?}").to_lowercase();
    table.row(vec![
        name.clone(),
        run.rounds.to_string(),
        outcome.acked.len().to_string(),
        check.lost.len().to_string(),
        check.duplicated.len().to_string(),
        check.unexpected.len().to_string(),
        outcome.wrong.len().to_string(),
        outcome.invalid_sent.to_string(),
        outcome.no_answer.to_string(),
        outcome.unavailable.to_string(),
    ]);
    table.fail_if_any(&format!("{name}: lost"), &check.lost);
    table.fail_if_any(&format!("{name}: duplicated"), &check.duplicated);
    table.fail_if_any(&format!("{name}: unexpected"), &check.unexpected);
    table.fail_if_any(&format!("{name}: wrong answers"), &outcome.wrong);
}
