//! The command line as a user runs it: `--help` everywhere, `migrate`, `audit`,
//! and the refusal to expose unauthenticated webhooks.

use crate::helpers::{Backend, TestApp, TestDb, settings};
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
        vec!["intent", "--help"],
        vec!["intent", "eval", "--help"],
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

const STRONG: &str = "3f9a1c0e5b7d2a4c6e8f0a1b3c5d7e9f";

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
        ("STARLING__WEBHOOKS__SCRAPELY__TOKEN", STRONG),
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

/// A public listener refuses tokens anyone could guess: short ones and the
/// placeholders of the example files, for webhooks and for the ops endpoints.
/// Loopback listeners take any token (only this machine can connect).
#[tokio::test]
async fn refuses_weak_tokens_on_a_public_listener() {
    let db = TestDb::new(Backend::Sqlite).await;
    let public = || async { tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap() };
    let placeholder =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/starling.env.example"))
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix("STARLING__WEBHOOKS__SCRAPELY__TOKEN=")
                    .map(str::to_string)
            })
            .unwrap();
    for (key, weak) in [
        ("STARLING__WEBHOOKS__SCRAPELY__TOKEN", "tiny-token-7"),
        ("STARLING__WEBHOOKS__SCRAPELY__TOKEN", placeholder.as_str()),
        ("STARLING__SERVER__OPS_TOKEN", "short-ops-token"),
    ] {
        let overrides = [("STARLING__WEBHOOKS__SCRAPELY__TOKEN", STRONG), (key, weak)];
        let refused = Application::build_with(
            settings(&db, &overrides),
            Clock::System,
            Some(public().await),
        )
        .await;
        let err = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("openssl rand -hex 24"), "{key}={weak}: {err}");
        assert!(
            !err.contains(weak),
            "the message must not echo the token: {err}"
        );
        let loopback = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app =
            Application::build_with(settings(&db, &overrides), Clock::System, Some(loopback)).await;
        assert!(app.is_ok(), "{key}={weak} on loopback");
    }
}

/// On a public listener `/readyz` and `/metrics` need the ops token (or
/// `server.public_ops`); `/healthz` stays open.
#[tokio::test]
async fn ops_endpoints_need_a_token_on_a_public_listener() {
    let db = TestDb::new(Backend::Sqlite).await;
    let ops_token = "0123456789abcdef0123456789abcdef";
    /// (overrides, listen address, bearer token sent, statuses of healthz/readyz/metrics)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<&'a str>, [u16; 3]);
    let cases: [Case; 4] = [
        (
            &[("STARLING__SERVER__OPS_TOKEN", ops_token)],
            "0.0.0.0:0",
            None,
            [200, 401, 401],
        ),
        (
            &[("STARLING__SERVER__OPS_TOKEN", ops_token)],
            "0.0.0.0:0",
            Some(ops_token),
            [200, 200, 200],
        ),
        (&[], "0.0.0.0:0", None, [200, 403, 403]),
        (
            &[("STARLING__SERVER__PUBLIC_OPS", "true")],
            "0.0.0.0:0",
            None,
            [200, 200, 200],
        ),
    ];
    for (overrides, listen, bearer, expected) in cases {
        let mut all = vec![("STARLING__WEBHOOKS__SCRAPELY__TOKEN", STRONG)];
        all.extend_from_slice(overrides);
        let app = TestApp::builder(Backend::Sqlite)
            .db(db.shared())
            .env(&all)
            .listen(listen)
            .start()
            .await;
        let port = app.addr.port();
        let client = &app.client;
        let mut got = [0u16; 3];
        for (i, path) in ["/healthz", "/readyz", "/metrics"].iter().enumerate() {
            let mut request = client.get(format!("http://127.0.0.1:{port}{path}"));
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            got[i] = request.send().await.unwrap().status().as_u16();
        }
        assert_eq!(got, expected, "{overrides:?} bearer={bearer:?}");
        app.stop().await;
    }
    // Loopback: open without a token.
    let app = TestApp::builder(Backend::Sqlite).db(db).start().await;
    let port = app.addr.port();
    let metrics = crate::helpers::http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    app.stop().await;
}

/// A mistyped database URL (no `//`, an unencoded `/` in the password) is
/// reported without its password.
#[test]
fn start_up_errors_never_show_a_database_password() {
    for url in [
        "postgres:bob:hunter2@127.0.0.1:1/db",
        "postgres://bob:hun/ter2@127.0.0.1:1/db",
        "mysql://bob:hunter2@127.0.0.1:1/db",
    ] {
        let out = starling(
            &["migrate"],
            &[
                ("STARLING__DATABASE__URL", url),
                // Fail at once rather than wait for a server that is not there.
                ("STARLING__DATABASE__STARTUP_WAIT_SECS", "0"),
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}");
        assert!(!err.contains("hunter2") && !err.contains("ter2"), "{err}");
        assert!(err.contains("bob:***"), "{err}");
    }
}

/// `--format json` is one valid JSON document for every command that has it
/// (`jobs show` and `contacts show` included), `jobs show` carries each
/// attempt's stored request and response excerpt, and tables fit the width.
#[tokio::test]
async fn every_json_output_is_valid_and_every_table_fits_the_width() {
    use crate::helpers::fake_vendor::{FakeVendor, Reply};
    let vendor = FakeVendor::start().await;
    vendor.script(
        "/api/v1/crm/update",
        vec![Reply::Status(
            400,
            serde_json::json!({"error": "Bad Request", "message": "Invalid parameters"}),
        )],
    );
    let app = TestApp::builder(Backend::Sqlite)
        .vendor(&vendor)
        .quick_actions()
        .shipped_rules()
        .start()
        .await;
    let posted = app
        .post("/webhooks/scrapely", crate::helpers::fixture("new_reply"))
        .await;
    assert_eq!(posted.status(), 200);
    let (id, _, _, _) =
        crate::actions::wait_status(&app.store, "dead", std::time::Duration::from_secs(10)).await;
    app.settle().await;
    let id = id.to_string();
    let env = [("STARLING__DATABASE__URL", app.db.url.as_str())];
    let blocked = starling(
        &["contacts", "block", "@prospect", "--reason", "asked"],
        &env,
    );
    assert!(
        blocked.status.success(),
        "{}",
        String::from_utf8_lossy(&blocked.stderr)
    );
    let rules = app.rules_dir.display().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["audit"],
        vec!["jobs", "list"],
        vec!["jobs", "show", &id],
        vec!["accounts", "list"],
        vec!["contacts", "list"],
        vec!["contacts", "show", "@prospect"],
        vec!["streams"],
        vec!["intent", "sounds good, send it over"],
        vec!["rules", "check", &rules],
        vec!["rules", "test", "--dir", &rules],
        vec!["rules", "backtest", "--dir", &rules],
    ];
    for command in &commands {
        let mut args = command.clone();
        args.extend(["--format", "json"]);
        let out = starling(&args, &env);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
            panic!("{args:?} printed no valid JSON ({e}):\n{text}");
        }
    }
    let out = starling(&["jobs", "show", &id, "--format", "json"], &env);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["action"]["status"], "dead", "{shown}");
    let attempt = &shown["attempts"][0];
    assert!(
        attempt["request_body"]
            .as_str()
            .is_some_and(|b| !b.is_empty()),
        "{shown}"
    );
    assert!(
        attempt["response_excerpt"]
            .as_str()
            .is_some_and(|e| e.contains("Invalid parameters")),
        "{shown}"
    );
    let table = starling(&["jobs", "show", &id], &env);
    assert!(String::from_utf8_lossy(&table.stdout).contains("Invalid parameters"));

    // A table is wrapped to the width its reader has (COLUMNS, or the terminal's).
    for command in &commands[..7] {
        let out = starling(command, &[env[0], ("COLUMNS", "72")]);
        let text = String::from_utf8_lossy(&out.stdout);
        let tables = text
            .lines()
            .filter(|l| l.starts_with(['┌', '│', '├', '╞', '└']));
        for line in tables {
            assert!(
                line.chars().count() <= 72,
                "{command:?} is wider than 72:\n{text}"
            );
        }
    }
    app.stop().await;
}
