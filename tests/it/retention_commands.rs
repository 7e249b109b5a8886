//! The commands around retention: `starling backup` copies a live SQLite
//! database holding every acknowledged event (and on PostgreSQL says to use
//! pg_dump); `rules backtest` says how many events its `--limit` left out.

use crate::helpers::{self, Backend, TestApp, TestDb, new_reply, poll_until};
use starling::clock::format_utc;
use std::collections::BTreeSet;
use std::time::Duration;
use time::OffsetDateTime;

fn days_ago(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::days(days)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_holds_every_acknowledged_event() {
    let app = std::sync::Arc::new(TestApp::builder(Backend::Sqlite).start().await);
    // Webhooks keep arriving while the backup runs.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ingest = tokio::spawn({
        let (app, acknowledged, stop) = (app.clone(), acknowledged.clone(), stop.clone());
        async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let id = format!("msg-{n}");
                let response = app.post("/webhooks/scrapely", new_reply(&id)).await;
                assert!(response.status().is_success());
                acknowledged.lock().unwrap().push(id);
            }
        }
    });
    let some = poll_until(Duration::from_secs(20), async || {
        acknowledged.lock().unwrap().len() >= 50
    })
    .await;
    assert!(some);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    let settings = helpers::settings(&app.db, &[]);
    let args = starling::cli::backup::BackupArgs {
        file: file.clone(),
        force: false,
    };

    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let out = starling::cli::backup::run(&settings, &args).await.unwrap();
    let during = acknowledged.lock().unwrap().len();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    ingest.await.unwrap();

    assert!(out.contains("Backed up"), "{out}");
    let copy = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&file)
            .read_only(true),
    )
    .await
    .unwrap();
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT json_extract(payload, '$.data.message.id') FROM events")
            .fetch_all(&copy)
            .await
            .unwrap();
    let ids: BTreeSet<String> = ids.into_iter().collect();
    let missing: Vec<&String> = before.iter().filter(|id| !ids.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, not in it: {missing:?}"
    );
    assert!(
        ids.len() <= during,
        "the copy holds no event that was never acknowledged"
    );
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&copy)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    copy.close().await;

    // An existing file is refused, and replaced only with --force.
    let err = starling::cli::backup::run(&settings, &args)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    let forced = starling::cli::backup::BackupArgs {
        file: file.clone(),
        force: true,
    };
    starling::cli::backup::run(&settings, &forced)
        .await
        .unwrap();
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no partial copy is left beside the backup");
    std::sync::Arc::into_inner(app)
        .expect("the ingest task is done")
        .stop()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_on_postgres_says_to_use_pg_dump() {
    let db = TestDb::new(Backend::Postgres).await;
    let settings = helpers::settings(&db, &[]);
    let args = starling::cli::backup::BackupArgs {
        file: "starling.dump".into(),
        force: false,
    };
    let err = starling::cli::backup::run(&settings, &args)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pg_dump --format=custom --file=starling.dump 'postgres://"),
        "{err}"
    );
    assert!(!std::path::Path::new("starling.dump").exists());
}

crate::on_both_backends!(backtest_says_how_many_events_its_limit_left_out);

async fn backtest_says_how_many_events_its_limit_left_out(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for n in 1..=6 {
        let response = app
            .post("/webhooks/scrapely", new_reply(&format!("b{n}")))
            .await;
        assert!(response.status().is_success());
    }
    // The first two arrived long ago.
    let old = format_utc(days_ago(40));
    let sql = format!(
        "UPDATE events SET received_at = '{old}' WHERE id IN (SELECT id FROM events ORDER BY id LIMIT 2)"
    );
    crate::on_store!(&app.store, p => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.unwrap().rows_affected());
    let yaml = "- name: all replies\n  on: scrapely.new_reply\n  do:\n    - action: slack.post\n      with: { text: hi }\n";
    let set = starling::rules::load::load_sources(&[("r.yaml".into(), yaml.into())]).unwrap();
    let since = format_utc(days_ago(1));
    let run = async |since: Option<&str>, limit: u64, format| {
        let options = starling::cli::backtest::Options {
            rule: None,
            since,
            until: None,
            limit,
        };
        starling::cli::backtest::run(
            starling::cli::backtest::Reader::Url(&app.db.url),
            &set,
            options,
            format,
        )
        .await
        .unwrap()
    };
    let json = async |since, limit| -> serde_json::Value {
        serde_json::from_str(&run(since, limit, starling::cli::audit::Format::Json).await).unwrap()
    };

    let all = json(None, 4).await;
    let recent = json(Some(&since), 3).await;
    let everything_recent = json(Some(&since), 10).await;
    let table = run(Some(&since), 3, starling::cli::audit::Format::Table).await;

    assert_eq!(
        (all["events"].clone(), all["left_out"].clone()),
        (4.into(), 2.into())
    );
    assert_eq!(
        (recent["events"].clone(), recent["left_out"].clone()),
        (3.into(), 1.into())
    );
    assert_eq!(
        (
            everything_recent["events"].clone(),
            everything_recent["left_out"].clone()
        ),
        (4.into(), 0.into())
    );
    assert_eq!(recent["rules"][0]["totals"]["would_fire"], 3);
    assert!(
        table.contains("3 stored events replayed; 1 older events left out by --limit 3"),
        "{table}"
    );
    app.stop().await;
}

/// The real binary, with only `env` in its environment.
fn starling(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_and_backup_work_from_the_command_line_and_explain_themselves() {
    let db = TestDb::new(Backend::Sqlite).await;
    let url = db.url.as_str();
    for command in ["prune", "backup"] {
        let out = starling(&[command, "--help"], &[]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && help.contains("Examples:"), "{help}");
    }
    let env = [
        ("STARLING__DATABASE__URL", url),
        ("STARLING__RETENTION__EVENTS_DAYS", "30"),
    ];
    let out = starling(&["prune", "--dry-run", "--format", "json"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["dry_run"].clone(), report["events_days"].clone()),
        (true.into(), 30.into())
    );
    let out = starling(&["prune"], &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("0 rows deleted; events kept 30 days"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("copy.db");
    let file = file.to_str().unwrap();
    let out = starling(&["backup", file], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = starling(&["backup", file], &env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--force"), "{err}");
    let out = starling(&["backup", "--force", file], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
