//! Test harness: `spawn_app` starts a real Starling server on 127.0.0.1:0 over a
//! fresh database; `StarlingProcess` runs the real binary for crash and log tests.

pub mod cluster;
pub mod db;
pub mod fake_stream;
pub mod fake_vendor;
pub mod process;
pub mod roles;

pub use db::{Backend, TestDb};

use sqlx::Row;
use starling::app::Application;
use starling::clock::Clock;
use starling::config::Settings;
use starling::store::Store;
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Generates `mod NAME { sqlite(), postgres() }` running `NAME(Backend)` on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub store: Store,
    pub db: TestDb,
    /// The server's `rules.dir` (empty unless the test writes rules).
    pub rules_dir: std::path::PathBuf,
    _rules_tmp: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Settings for a test: defaults, the test database, and `overrides` as
/// `STARLING__…` variables (so tests go through the same layering users do).
pub fn settings(db: &TestDb, overrides: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("STARLING__DATABASE__URL".into(), db.url.clone());
    Settings::load_with_env(None, Some(env)).expect("test settings are valid")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[], Clock::System).await
}

pub async fn spawn_app_with(backend: Backend, overrides: &[(&str, &str)], clock: Clock) -> TestApp {
    let rules = tempfile::tempdir().unwrap();
    let dir = rules.path().to_owned();
    let mut app = start(TestDb::new(backend).await, &dir, overrides, clock).await;
    app._rules_tmp = Some(rules);
    app
}

/// A server with `files` (name, YAML) in its rules directory.
pub async fn spawn_app_with_rules(backend: Backend, files: &[(&str, &str)]) -> TestApp {
    let rules = tempfile::tempdir().unwrap();
    for (name, yaml) in files {
        std::fs::write(rules.path().join(name), yaml).unwrap();
    }
    let dir = rules.path().to_owned();
    let mut app = start(TestDb::new(backend).await, &dir, &[], Clock::System).await;
    app._rules_tmp = Some(rules);
    app
}

/// A server with rule `files`, the configuration file text `toml` (e.g. its
/// `[[streams]]`) and `overrides` as `STARLING__…` variables.
pub async fn spawn_app_with_config(
    backend: Backend,
    files: &[(&str, &str)],
    toml: &str,
    overrides: &[(&str, &str)],
) -> TestApp {
    let rules = tempfile::tempdir().unwrap();
    for (name, yaml) in files {
        std::fs::write(rules.path().join(name), yaml).unwrap();
    }
    let config = rules.path().join("starling.toml.conf");
    std::fs::write(&config, toml).unwrap();
    let db = TestDb::new(backend).await;
    let dir = rules.path().display().to_string();
    let mut env: HashMap<String, String> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("STARLING__DATABASE__URL".into(), db.url.clone());
    env.insert("STARLING__RULES__DIR".into(), dir);
    let settings =
        Settings::load_with_env(Some(&config), Some(env)).expect("test settings are valid");
    let mut app = start_with_settings(db, rules.path(), settings, Clock::System).await;
    app._rules_tmp = Some(rules);
    app
}

/// Starts a server on `db` with `rules_dir` (another server may share both).
pub async fn start(
    db: TestDb,
    rules_dir: &std::path::Path,
    overrides: &[(&str, &str)],
    clock: Clock,
) -> TestApp {
    let dir = rules_dir.display().to_string();
    let mut all: Vec<(&str, &str)> = vec![("STARLING__RULES__DIR", &dir)];
    all.extend_from_slice(overrides);
    let settings = settings(&db, &all);
    start_with_settings(db, rules_dir, settings, clock).await
}

async fn start_with_settings(
    db: TestDb,
    rules_dir: &std::path::Path,
    settings: Settings,
    clock: Clock,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = Application::build_with(settings, clock, Some(listener))
        .await
        .expect("app builds");
    let addr = app.addr();
    let store = app.store().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        client: http(),
        store,
        db,
        rules_dir: rules_dir.to_owned(),
        _rules_tmp: None,
        stop: Some(stop),
        task: Some(task),
    }
}

/// A seed payload from `tests/fixtures/scrapely/NAME.json`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/scrapely/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A `new_reply` payload with the given message id.
pub fn new_reply(message_id: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&fixture("new_reply")).unwrap();
    v["data"]["message"]["id"] = message_id.into();
    serde_json::to_vec(&v).unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request reaches the server")
    }

    /// `SELECT COUNT(*) FROM <table>` (optionally with a WHERE clause).
    pub async fn count(&self, from: &'static str) -> i64 {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {from}"));
        match &self.store {
            Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    /// (kind, sightings, channels as JSON text) of the event with `dedupe_key`.
    pub async fn event(&self, dedupe_key: &str) -> Option<(String, i64, String)> {
        match &self.store {
            Store::Sqlite(pool) => {
                sqlx::query("SELECT kind, sightings, channels FROM events WHERE dedupe_key = ?1")
                    .bind(dedupe_key)
                    .fetch_optional(pool)
                    .await
                    .unwrap()
                    .map(|r| {
                        (
                            r.get::<String, _>(0),
                            r.get::<i64, _>(1),
                            r.get::<String, _>(2),
                        )
                    })
            }
            Store::Postgres(pool) => sqlx::query(
                "SELECT kind, sightings::bigint, channels::text FROM events WHERE dedupe_key = $1",
            )
            .bind(dedupe_key)
            .fetch_optional(pool)
            .await
            .unwrap()
            .map(|r| {
                (
                    r.get::<String, _>(0),
                    r.get::<i64, _>(1),
                    r.get::<String, _>(2),
                )
            }),
        }
    }

    /// Stops the server the way SIGTERM does and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An HTTP client for tests. reqwest is built without a default TLS provider, so
/// building a client first installs Starling's (as the server does).
pub fn http() -> reqwest::Client {
    starling::actions::outbound::init_tls();
    reqwest::Client::new()
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever backend it is
/// (the same SQL on both; the body is compiled once per backend).
#[macro_export]
macro_rules! on_store {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            starling::store::Store::Sqlite($pool) => $body,
            starling::store::Store::Postgres($pool) => $body,
        }
    };
}

/// Polls `check` every 25 ms until it holds (true) or `limit` passes (false).
pub async fn poll_until<F: AsyncFnMut() -> bool>(limit: std::time::Duration, mut check: F) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    check().await
}
