//! `starling audit` on PostgreSQL and its roles: a superuser, or a role that may
//! run programs, touch server files or signal sessions, is refused with the roles
//! snippet; the reader role itself cannot do any of it even past the parser; and
//! Starling runs as a non-superuser owner that grants the reader what it reads.

use crate::helpers::db::{admin, unique_name};
use crate::helpers::roles::{PgRole, audit_as_reader};
use crate::helpers::{Backend, TestApp, TestDb, settings};
use sqlx::{Connection, Executor, PgConnection};
use starling::cli::audit::{Format, run_to_string};
use starling::store::audit::{AuditError, OUTSIDE_ROLES, ROLES_SNIPPET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_refuses_a_superuser_or_a_role_reaching_outside_and_prints_the_snippet() {
    let app = TestApp::builder(Backend::Postgres).start().await;
    let database = app.db.pg_name().unwrap().to_string();

    // The tests' main role is a superuser, as in the compose file of old.
    let as_main = settings(&app.db, &[]);
    match run_to_string(&as_main, Some("SELECT 1"), Format::Csv).await {
        Err(AuditError::Privileged { reasons, .. }) => {
            assert_eq!(reasons, ["is a superuser"]);
        }
        other => panic!("a superuser ran audit: {other:?}"),
    }

    let mut risky = Vec::new();
    for (i, granted) in OUTSIDE_ROLES.iter().enumerate() {
        let role = PgRole::create(&database, &format!("risky{i}"), "NOSUPERUSER").await;
        role.admin_execute(&format!("GRANT {granted} TO {}", role.name))
            .await;
        risky.push((role, format!("is a member of {granted}")));
    }
    let creator = PgRole::create(&database, "creator", "NOSUPERUSER CREATEROLE").await;
    risky.push((creator, "may create roles".to_string()));
    for (role, why) in &risky {
        let settings = settings(&app.db, &[("STARLING__AUDIT__DATABASE_URL", &role.url)]);
        let error = run_to_string(&settings, Some("SELECT 1"), Format::Csv)
            .await
            .expect_err("refused");
        assert!(matches!(error, AuditError::Privileged { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(why), "{message}");
        assert!(message.contains(&role.name), "{message}");
        assert!(
            message.contains(ROLES_SNIPPET),
            "the snippet is printed: {message}"
        );
        assert!(message.contains("audit.database_url"), "{message}");
        assert!(!message.contains("pw-"), "no password in: {message}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_role_itself_cannot_run_programs_touch_files_or_signal_sessions() {
    let app = TestApp::builder(Backend::Postgres).start().await;
    let (settings, reader) = audit_as_reader(&app, &[]).await;
    let reader = reader.unwrap();
    let starlings_pid: i32 = match &app.store {
        starling::store::Store::Postgres(pool) => sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(pool)
            .await
            .unwrap(),
        _ => unreachable!(),
    };
    let marker = std::env::temp_dir().join(format!("starling-reader-{}", reader.name));
    let side_effects = [
        format!("COPY (SELECT 1) TO PROGRAM 'touch {}'", marker.display()),
        format!("COPY (SELECT 1) TO '{}'", marker.display()),
        format!("SELECT lo_export(1, '{}')", marker.display()),
        "SELECT pg_read_file('/etc/hostname')".to_string(),
        "SELECT pg_reload_conf()".to_string(),
        format!("SELECT pg_terminate_backend({starlings_pid})"),
        format!("SELECT pg_cancel_backend({starlings_pid})"),
        "INSERT INTO events (source, kind, dedupe_key) VALUES ('x', 'x', 'x')".to_string(),
    ];

    // Past the parser, straight to the database as the reader: PostgreSQL refuses.
    let mut conn = PgConnection::connect(&reader.url).await.unwrap();
    for sql in &side_effects {
        let error = conn
            .execute(sqlx::AssertSqlSafe(sql.clone()))
            .await
            .expect_err(sql);
        let code = error.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {error}");
    }
    assert!(!marker.exists());

    // Through audit the parser refuses them first, with its own message.
    for sql in &side_effects {
        let result = run_to_string(&settings, Some(sql), Format::Csv).await;
        assert!(
            matches!(result, Err(AuditError::Refused(_))),
            "{sql}: {result:?}"
        );
    }
    let count = run_to_string(
        &settings,
        Some("SELECT count(*) AS n FROM audit_log"),
        Format::Csv,
    )
    .await
    .unwrap();
    assert_eq!(count, "n\n0\n");
    app.stop().await;
}

/// A database a non-superuser owns, dropped (before its roles) at the end.
struct OwnedDatabase(String);

impl Drop for OwnedDatabase {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let _ = admin()
                    .await
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await;
            });
        })
        .join();
    }
}

/// The compose setup: Starling migrates and serves as an owner role that is no
/// superuser, grants the reader at start, and audit runs as that reader — which
/// also reads tables created later without a new grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starling_runs_as_a_non_superuser_owner_and_audit_as_its_reader() {
    let name = unique_name("starling_owned");
    let owner = PgRole::create(&name, "owner", "NOSUPERUSER NOCREATEDB NOCREATEROLE").await;
    let reader = PgRole::create(&name, "audit", "NOSUPERUSER").await;
    admin()
        .await
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} OWNER {}",
            owner.name
        )))
        .await
        .unwrap();
    let _database = OwnedDatabase(name.clone());
    let audit = [
        ("STARLING__AUDIT__DATABASE_URL", reader.url.as_str()),
        ("STARLING__AUDIT__READER_ROLE", reader.name.as_str()),
    ];
    // Starling starts as a non-superuser owner.
    let app = TestApp::builder(Backend::Postgres)
        .db(TestDb::external(&owner.url))
        .env(&audit)
        .start()
        .await;
    let dir = app.rules_dir.display().to_string();
    let db = &app.db;
    let mut all = vec![("STARLING__RULES__DIR", dir.as_str())];
    all.extend_from_slice(&audit);
    let settings = settings(db, &all);

    let out = run_to_string(
        &settings,
        Some("SELECT count(*) AS n FROM events"),
        Format::Csv,
    )
    .await
    .unwrap();
    assert_eq!(out, "n\n0\n");

    // A table a later migration adds is readable by the reader at once.
    let mut as_owner = PgConnection::connect(&owner.url).await.unwrap();
    as_owner
        .execute("CREATE TABLE added_later (id BIGINT); INSERT INTO added_later VALUES (7)")
        .await
        .unwrap();
    let out = run_to_string(&settings, Some("SELECT id FROM added_later"), Format::Csv)
        .await
        .unwrap();
    assert_eq!(out, "id\n7\n");

    // The reader may read and nothing else.
    let mut as_reader = PgConnection::connect(&reader.url).await.unwrap();
    let error = as_reader
        .execute("DELETE FROM added_later")
        .await
        .expect_err("the reader cannot delete");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501")
    );

    // The owner is no superuser: without a reader URL audit runs as it (with a
    // warning), and Starling's own listings use it too.
    let as_owner_settings = crate::helpers::settings(db, &[("STARLING__RULES__DIR", &dir)]);
    run_to_string(&as_owner_settings, Some("SELECT 1 AS one"), Format::Csv)
        .await
        .unwrap();
    starling::cli::jobs::list(&owner.url, None, None, 10, Format::Csv)
        .await
        .unwrap();
    drop((as_owner, as_reader));
    app.stop().await;
}
