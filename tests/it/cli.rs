//! The command line as a user runs it: `--help` everywhere, `migrate`, `audit`,
//! and the refusal to expose unauthenticated webhooks.

use crate::helpers::{Backend, TestDb, settings};
use starling::app::Application;
use starling::clock::Clock;
use std::process::Command;

fn starling(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["audit", "--help"],
        vec!["contacts", "--help"],
        vec!["contacts", "block", "--help"],
    ] {
        let out = starling(&args, &[]);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn migrate_then_audit_from_the_command_line() {
    let db = TestDb::new(Backend::Sqlite).await;
    let env = [("STARLING__DATABASE__URL", db.url.as_str())];
    let out = starling(&["migrate"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = starling(
        &[
            "audit",
            "SELECT COUNT(*) AS n FROM events",
            "--format",
            "csv",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n0\n");

    let out = starling(&["audit", "DELETE FROM events"], &env);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("read-only"), "{err}");
}

#[test]
fn a_config_file_with_an_unknown_key_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("starling.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_body_byte = 10\n",
    )
    .unwrap();
    let out = starling(&["serve", "--config", path.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.max_body_byte") && err.contains("expected one of"),
        "{err}"
    );
}

#[tokio::test]
async fn refuses_a_public_listener_without_webhook_authentication() {
    let db = TestDb::new(Backend::Sqlite).await;
    let public = || async { tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap() };

    let refused =
        Application::build_with(settings(&db, &[]), Clock::System, Some(public().await)).await;
    let err = refused.err().expect("refused").to_string();
    assert!(
        err.contains("webhooks.scrapely.token") && err.contains("allow_unauthenticated"),
        "{err}"
    );

    for opt_in in [
        ("STARLING__WEBHOOKS__SCRAPELY__TOKEN", "a-token"),
        ("STARLING__WEBHOOKS__ALLOW_UNAUTHENTICATED", "true"),
    ] {
        let app = Application::build_with(
            settings(&db, &[opt_in]),
            Clock::System,
            Some(public().await),
        )
        .await;
        assert!(app.is_ok(), "{opt_in:?}");
    }
}

/// `--status` takes a status as the database and the README spell it.
#[tokio::test]
async fn jobs_list_filters_by_every_status_as_stored() {
    let db = TestDb::new(Backend::Sqlite).await;
    let env = [("STARLING__DATABASE__URL", db.url.as_str())];
    assert!(starling(&["migrate"], &env).status.success());
    for status in starling::store::status::ActionStatus::ALL {
        let out = starling(&["jobs", "list", "--status", status.as_str()], &env);
        assert!(
            out.status.success(),
            "--status {status}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
