//! Start-up as a person meets it: a bad value stops `serve` naming the key and
//! the expected form, a missing rules directory is an error unless it is the
//! default, and PostgreSQL not answering yet is waited for, saying so.

use crate::helpers::{Backend, TestDb};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn starling(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_starling"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("STARLING__SERVER__LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied());
    command
}

/// Lines of a child's stderr, as they come.
fn stderr_lines(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads lines until one contains `wanted`; returns everything read.
fn wait_for_line(lines: &mpsc::Receiver<String>, wanted: &str) -> String {
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(wanted) {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {wanted:?}; the output:\n{seen}");
}

#[test]
fn each_bad_value_stops_serve_naming_the_key_and_the_expected_form() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    for (key, value, expected) in [
        (
            "STARLING__LOG__FORMAT",
            "xml",
            "`log.format`: expected one of `text`, `json`",
        ),
        (
            "STARLING__LOG__FILTER",
            "=[",
            "`log.filter`: expected a tracing filter",
        ),
        (
            "STARLING__SERVER__LISTEN",
            "8080",
            "`server.listen`: expected HOST:PORT",
        ),
        (
            "STARLING__SCRAPELY__BASE_URL",
            "app.scrapely.co",
            "`scrapely.base_url`: expected an http:// or https:// URL",
        ),
        (
            "STARLING__SLACK__WEBHOOK_URL",
            "T00/B00/SEKRET",
            "`slack.webhook_url`: expected an http:// or https:// URL",
        ),
        (
            "STARLING__RULES__DIR",
            "no-such-rules",
            "`rules.dir`: expected a directory of rule files, got `no-such-rules`, which does not exist",
        ),
    ] {
        let out = starling(
            dir.path(),
            &["serve"],
            &[("STARLING__DATABASE__URL", &db), (key, value)],
        )
        .output()
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key}={value} started");
        assert!(err.contains(expected), "{key}={value}: {err}");
        assert!(!err.contains("SEKRET"), "{err}");
    }
    assert!(!dir.path().join("no-such-rules").exists());
}

#[test]
fn the_default_rules_directory_is_created_on_a_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let mut child = starling(dir.path(), &["serve"], &[("STARLING__DATABASE__URL", &db)])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut child);
    let seen = wait_for_line(&lines, "Starling is listening");
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("Created the rules directory"), "{seen}");
    assert!(dir.path().join("rules").is_dir());
}

/// A TCP forwarder to `to`, on `listener`: "PostgreSQL" answers only once it runs.
async fn forward(listener: tokio::net::TcpListener, to: String) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let to = to.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[tokio::test]
async fn migrate_waits_for_postgresql_saying_where_and_why_then_goes_on() {
    let db = TestDb::new(Backend::Postgres).await;
    let url = reqwest::Url::parse(&db.url).unwrap();
    let server = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    // A port nothing listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut waiting_url = url.clone();
    waiting_url.set_host(Some("127.0.0.1")).unwrap();
    waiting_url.set_port(Some(port)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = starling(
        dir.path(),
        &["migrate"],
        &[("STARLING__DATABASE__URL", waiting_url.as_str())],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let lines = stderr_lines(&mut child);
    let seen = tokio::task::spawn_blocking(move || {
        let seen = wait_for_line(&lines, "attempt 2");
        (seen, lines)
    });
    let (seen, lines) = seen.await.unwrap();
    let at = format!("waiting for PostgreSQL at 127.0.0.1:{port} (connection refused), attempt");
    assert!(seen.contains(&format!("{at} 1")), "{seen}");
    assert!(seen.contains(&format!("{at} 2")), "{seen}");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let forwarder = tokio::spawn(forward(listener, server));
    let out = tokio::task::spawn_blocking(move || {
        let rest = wait_for_line(&lines, "answers");
        (child.wait_with_output().unwrap(), rest)
    })
    .await
    .unwrap();
    forwarder.abort();
    let (out, rest) = out;
    assert!(out.status.success(), "{rest}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Migrations applied."),
        "{rest}"
    );
}

#[test]
fn a_database_that_answers_no_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = starling(
        dir.path(),
        &["migrate"],
        &[(
            "STARLING__DATABASE__URL",
            "postgres://no_such_role_here:pw@127.0.0.1:5432/postgres",
        )],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("waiting for PostgreSQL"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
}
