//! The store: pragmas on every SQLite connection, opening the file while
//! another process writes, migrations that coexist with
//! apalis's, and the two backends' migrations kept in step.

use crate::helpers::{Backend, TestDb};
use crate::on_both_backends;
use sqlx::Row;
use starling::store::Store;

on_both_backends!(migrations_are_idempotent_and_keep_their_own_history);

#[tokio::test]
async fn every_pooled_sqlite_connection_runs_wal_with_synchronous_full() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = Store::connect(&db.url, 6).await.unwrap();
    store.migrate().await.unwrap();
    let Store::Sqlite(pool) = &store else {
        unreachable!()
    };
    // Hold six connections at once so that the pool must open six distinct ones.
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(pool.acquire().await.unwrap());
    }
    assert_eq!(pool.size(), 6);
    for conn in &mut held {
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "synchronous=FULL");
        assert_eq!(journal, "wal");
        assert!(busy >= 30_000, "busy_timeout is {busy} ms");
    }
}

/// A CLI command or a backup opens the file (and migrates, as the CLI does) while
/// `starling serve` commits: every open and its first write wait for the lock like
/// any statement, none fails with "database is locked".
#[tokio::test]
async fn opening_the_sqlite_file_while_another_process_writes_never_fails_locked() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = Store::connect(&db.url, 4).await.unwrap();
    server.migrate().await.unwrap();
    let Store::Sqlite(pool) = server.clone() else {
        unreachable!()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut commits = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
                sqlx::query("INSERT INTO rate_limits (bucket, blocked_until) VALUES ($1, 0)")
                    .bind(format!("b{commits}"))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                commits += 1;
            }
            commits
        }
    });
    let mut failures = Vec::new();
    for i in 0..40 {
        let opened = async {
            let cli = Store::connect(&db.url, 1).await?;
            cli.migrate().await?;
            let Store::Sqlite(p) = &cli else {
                unreachable!()
            };
            sqlx::query("INSERT INTO rate_limits (bucket, blocked_until) VALUES ($1, 0)")
                .bind(format!("cli{i}"))
                .execute(p)
                .await?;
            cli.close().await;
            anyhow::Ok(())
        };
        if let Err(error) = opened.await {
            failures.push(format!("{error:#}"));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let commits = writer.await.unwrap();
    assert!(commits > 0, "the writer committed nothing");
    assert!(
        failures.is_empty(),
        "{} of 40 opens failed: {failures:?}",
        failures.len()
    );
}

async fn migrations_are_idempotent_and_keep_their_own_history(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.url, 2).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.expect("a second run is a no-op");
    let (ours, queue_history): (i64, i64) = match &store {
        Store::Sqlite(pool) => (
            sqlx::query_scalar("SELECT COUNT(*) FROM starling_migrations")
                .fetch_one(pool)
                .await
                .unwrap(),
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(pool)
                .await
                .unwrap(),
        ),
        Store::Postgres(pool) => (
            sqlx::query_scalar("SELECT COUNT(*) FROM starling_migrations")
                .fetch_one(pool)
                .await
                .unwrap(),
            sqlx::query_scalar("SELECT COUNT(*) FROM apalis._sqlx_migrations")
                .fetch_one(pool)
                .await
                .unwrap(),
        ),
    };
    let files = std::fs::read_dir(format!("{}/migrations/sqlite", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .count();
    assert_eq!(
        ours as usize, files,
        "each of our migrations is recorded once, in our table"
    );
    assert!(
        queue_history > 0,
        "the queue's migrations ran, in their own history"
    );
    // Our tables do not collide with apalis-sqlite's `Jobs`/`Workers`.
    let tables: Vec<String> = match &store {
        Store::Sqlite(pool) => sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect(),
        Store::Postgres(pool) => sqlx::query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect(),
    };
    for table in ["events", "quarantine", "starling_migrations"] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
    store.close().await;
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_names() {
    let names = |backend: &str| {
        let mut names: Vec<String> = std::fs::read_dir(format!(
            "{}/migrations/{backend}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
        names.sort();
        names
    };
    assert_eq!(names("sqlite"), names("postgres"));
}
