//! A fresh database per benchmark run: a temporary SQLite file, or a PostgreSQL
//! database created through `STARLING_TEST_DATABASE_URL` (the admin URL) and
//! dropped afterwards. Shared by the benches (`#[path]` module).

use sqlx::{Connection, Executor, PgConnection};
use std::time::Instant;

pub struct BenchDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

pub fn admin_url() -> String {
    std::env::var("STARLING_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl BenchDb {
    pub async fn new(backend: &str) -> Self {
        if backend == "sqlite" {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            return Self {
                url,
                pg_name: None,
                _dir: Some(dir),
            };
        }
        let name = format!(
            "starling_bench_{}_{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ rand_suffix()
        );
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("PostgreSQL reachable for the bench");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let base = admin_url();
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        Self {
            url,
            pg_name: Some(name),
            _dir: None,
        }
    }

    /// `BENCH_DROP_INDEX=NAME[,NAME]`: drops those indexes from the migrated
    /// database (a server started on it has migrated it), so two runs of one
    /// build measure what an index costs the writes.
    #[allow(dead_code)] // the ingest bench's; the other benches share this module
    pub async fn drop_indexes_from_env(&self) {
        let names = std::env::var("BENCH_DROP_INDEX").unwrap_or_default();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let sql = sqlx::AssertSqlSafe(format!("DROP INDEX {name}"));
            if self.pg_name.is_some() {
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                conn.execute(sql).await.unwrap();
            } else {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                conn.execute(sql).await.unwrap();
            }
            eprintln!("dropped index {name}");
        }
    }

    pub async fn drop_db(&self) {
        if let Some(name) = &self.pg_name {
            let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .unwrap();
        }
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_007
}
