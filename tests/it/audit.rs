//! `starling audit` on both backends: one read query admitted, writes and other
//! statements refused, a statement timeout, rows streamed. The PostgreSQL roles
//! (reader, superuser refusal, what the reader itself cannot do) are in `audit_roles`.

use crate::helpers::roles::audit_as_reader;
use crate::helpers::{Backend, TestApp, fixture};
use crate::on_both_backends;
use starling::cli::audit::{Format, run, run_to_string};
use starling::store::audit::AuditError;
use std::time::{Duration, Instant};

on_both_backends!(audit_reads_and_refuses_every_write);

async fn audit_reads_and_refuses_every_write(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("new_reply"))
            .await
            .status(),
        200
    );
    let (settings, _reader) = audit_as_reader(&app, &[]).await;

    let latest = run_to_string(&settings, None, Format::Csv).await.unwrap();
    assert!(latest.starts_with("id,kind,dedupe_key"), "{latest}");
    assert!(latest.contains("scrapely:new_reply:1234567890123456789"));

    let json = run_to_string(
        &settings,
        Some("SELECT kind, sightings FROM events"),
        Format::Json,
    )
    .await
    .unwrap();
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows[0]["kind"], "scrapely.new_reply");
    assert_eq!(rows[0]["sightings"], 1);

    let attach = if backend == Backend::Sqlite {
        "ATTACH DATABASE 'elsewhere.db' AS elsewhere"
    } else {
        "ATTACH DATABASE 'elsewhere' AS elsewhere"
    };
    for write in [
        "DELETE FROM events",
        "UPDATE events SET kind = 'x'",
        "DROP TABLE events",
        "INSERT INTO quarantine (source, channel, received_at, reason, body) VALUES ('x','x','2024-01-01T00:00:00Z','x', x'00')",
        "CREATE TABLE sneaky (id INTEGER)",
        attach,
    ] {
        let result = run_to_string(&settings, Some(write), Format::Table).await;
        assert!(result.is_err(), "{write} was not refused");
    }
    assert_eq!(
        app.count("events WHERE kind = 'scrapely.new_reply'").await,
        1
    );
    assert_eq!(app.count("quarantine").await, 0);
    app.stop().await;
}

on_both_backends!(only_one_read_query_gets_past_the_parser);

/// COPY, DO, CALL, SET, transaction control, two statements and EXPLAIN ANALYZE
/// never reach the database, and each refusal says what was refused and what is admitted.
async fn only_one_read_query_gets_past_the_parser(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let (settings, _reader) = audit_as_reader(&app, &[]).await;
    let marker = std::env::temp_dir().join(format!(
        "starling-copy-{}-{}",
        std::process::id(),
        std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .as_nanos()
    ));
    let copy = format!("COPY (SELECT 1) TO PROGRAM 'touch {}'", marker.display());
    for (sql, says) in [
        (copy.as_str(), "COPY"),
        ("DO $$ BEGIN PERFORM 1; END $$", "DO"),
        ("CALL anything()", "CALL"),
        ("SET statement_timeout = 0", "SET"),
        ("BEGIN", "transaction control"),
        ("COMMIT", "transaction control"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("SELECT 1; DELETE FROM events", "2 statements"),
        ("EXPLAIN ANALYZE SELECT * FROM events", "EXPLAIN ANALYZE"),
        (
            "WITH gone AS (DELETE FROM events RETURNING id) SELECT * FROM gone",
            "DELETE",
        ),
    ] {
        match run_to_string(&settings, Some(sql), Format::Csv).await {
            Err(AuditError::Refused(refusal)) => {
                let message = AuditError::Refused(refusal).to_string();
                assert!(message.contains(says), "{sql}: {message}");
                assert!(message.contains("read-only"), "{sql}: {message}");
            }
            other => panic!("{sql} on {backend:?} was not refused by the parser: {other:?}"),
        }
    }
    assert!(!marker.exists(), "COPY TO PROGRAM ran");

    for sql in [
        "VALUES (1, 'one')",
        "WITH n AS (SELECT count(*) AS c FROM events) SELECT c FROM n",
        "EXPLAIN SELECT * FROM events",
    ] {
        run_to_string(&settings, Some(sql), Format::Csv)
            .await
            .unwrap_or_else(|e| panic!("{sql} on {backend:?}: {e}"));
    }
    app.stop().await;
}

on_both_backends!(a_query_past_the_statement_timeout_is_cancelled);

async fn a_query_past_the_statement_timeout_is_cancelled(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let (settings, _reader) =
        audit_as_reader(&app, &[("STARLING__AUDIT__STATEMENT_TIMEOUT_SECS", "1")]).await;
    let endless = match backend {
        Backend::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
        }
        Backend::Postgres => "SELECT pg_sleep(60)",
    };
    let started = Instant::now();
    let result = run_to_string(&settings, Some(endless), Format::Table).await;
    assert!(
        matches!(result, Err(AuditError::Timeout { secs: 1 })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("audit.statement_timeout_secs"),
        "{message}"
    );

    // The next query on a fresh connection is not affected.
    run_to_string(&settings, Some("SELECT 1 AS one"), Format::Csv)
        .await
        .unwrap();
    app.stop().await;
}

on_both_backends!(a_long_result_streams_to_the_output_as_it_is_read);

/// 50,000 rows come out whole; and a query that fails at row 40,000 has already
/// written the 39,999 before it — the rows went out as they were read, not after.
async fn a_long_result_streams_to_the_output_as_it_is_read(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let (settings, _reader) = audit_as_reader(&app, &[]).await;
    let (long, failing_late) = match backend {
        Backend::Sqlite => (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
             SELECT i, printf('%.200c', 'x') AS pad FROM n",
            // abs() of the smallest integer overflows: an error at row 40,000 only.
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
             SELECT i, abs(-9223372036854775807 - (i >= 40000)) AS v FROM n",
        ),
        Backend::Postgres => (
            "SELECT i, repeat('x', 200) AS pad FROM generate_series(1, 50000) AS i",
            "SELECT i, 1 / (40000 - i) AS v FROM generate_series(1, 50000) AS i",
        ),
    };
    let csv = run_to_string(&settings, Some(long), Format::Csv)
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 50_001);
    assert!(csv.lines().last().unwrap().starts_with("50000,xxx"));
    let table = run_to_string(&settings, Some(long), Format::Table)
        .await
        .unwrap();
    assert!(table.ends_with("(50000 rows)\n"));

    let mut out = Vec::new();
    let result = run(&settings, Some(failing_late), Format::Csv, &mut out).await;
    assert!(matches!(result, Err(AuditError::Query(_))), "{result:?}");
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.lines().any(|l| l.starts_with("39999,")),
        "rows before the error were written"
    );
    assert!(!out.lines().any(|l| l.starts_with("40000,")));
    app.stop().await;
}

/// SQLite: the pragmas the message promises read; pragmas that set are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_pragmas_work_and_setting_pragmas_are_refused() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let (settings, _) = audit_as_reader(&app, &[]).await;
    let columns = run_to_string(&settings, Some("PRAGMA table_info(actions)"), Format::Csv)
        .await
        .unwrap();
    assert!(columns.starts_with("cid,name,type"), "{columns}");
    assert!(columns.contains(",status,"), "{columns}");
    for read in [
        "PRAGMA index_list(events)",
        "PRAGMA user_version",
        "PRAGMA foreign_key_check",
        "SELECT name FROM pragma_table_info('events')",
    ] {
        run_to_string(&settings, Some(read), Format::Csv)
            .await
            .unwrap_or_else(|e| panic!("{read}: {e}"));
    }
    for set in [
        "PRAGMA user_version = 7",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema(1)",
        "PRAGMA optimize",
    ] {
        let result = run_to_string(&settings, Some(set), Format::Csv).await;
        assert!(result.is_err(), "{set} was admitted");
    }
    let version = run_to_string(&settings, Some("PRAGMA user_version"), Format::Csv)
        .await
        .unwrap();
    assert_eq!(version, "user_version\n0\n");
    app.stop().await;
}
