//! One fresh database per test: a SQLite file in a temporary directory, or a
//! PostgreSQL database cloned from a migrated template (fast) and dropped afterwards.
//!
//! PostgreSQL is found at `STARLING_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). If it does not answer, the test
//! fails and says how to start one; PostgreSQL tests never skip silently.

use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, PgConnection};
use starling::store::Store;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

pub fn admin_url() -> String {
    std::env::var("STARLING_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..authority_end])
}

pub async fn admin() -> PgConnection {
    let url = admin_url();
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {} ({e}).\n\
             Start the machine's cluster with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,\n\
             run the tests through `scripts/test` (it starts a throwaway cluster when none answers),\n\
             or point STARLING_TEST_DATABASE_URL at a server.",
            starling::secret::redact_url(&url)
        )
    })
}

pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Name of the migrated template for the current migrations and lock file.
fn template_name() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut hasher = Sha256::new();
    let mut files: Vec<_> = std::fs::read_dir(format!("{root}/migrations/postgres"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.push(format!("{root}/Cargo.lock").into());
    for file in files {
        hasher.update(std::fs::read(file).unwrap());
    }
    format!("starling_tmpl_{}", &hex::encode(hasher.finalize())[..16])
}

async fn ensure_template(admin: &mut PgConnection) -> String {
    let template = template_name();
    // One test process builds the template; the others wait on the lock.
    admin
        .execute("SELECT pg_advisory_lock(727001)")
        .await
        .unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&template)
            .fetch_one(&mut *admin)
            .await
            .unwrap();
    if !exists {
        let building = unique_name("starling_tmpl_building");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {building}")))
            .await
            .unwrap();
        let store = Store::connect(&with_database(&admin_url(), &building), 2)
            .await
            .unwrap();
        store
            .migrate()
            .await
            .expect("migrating the template database");
        store.close().await;
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {building} RENAME TO {template}"
            )))
            .await
            .unwrap();
    }
    admin
        .execute("SELECT pg_advisory_unlock(727001)")
        .await
        .unwrap();
    template
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("starling.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let mut admin = admin().await;
                let template = ensure_template(&mut admin).await;
                let name = unique_name("starling_test");
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "CREATE DATABASE {name} TEMPLATE {template}"
                    )))
                    .await
                    .unwrap();
                Self {
                    url: with_database(&admin_url(), &name),
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// A handle on a database the test made itself at `url`; dropping it drops nothing.
    pub fn external(url: &str) -> Self {
        Self {
            url: url.to_string(),
            _dir: None,
            pg_name: None,
        }
    }

    /// The PostgreSQL database's name (`None` on SQLite).
    pub fn pg_name(&self) -> Option<&str> {
        self.pg_name.as_deref()
    }

    /// Another handle on the same database that does not drop it (a second server).
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            _dir: None,
            pg_name: None,
        }
    }

    /// Drops the PostgreSQL database now (e.g. to see readiness fail).
    pub async fn drop_now(&self) {
        if let Some(name) = &self.pg_name {
            let mut admin = admin().await;
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .unwrap();
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async context; use a private runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}
