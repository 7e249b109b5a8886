//! Test harness: `TestApp::builder(backend)…start()` starts a real Starling server
//! on 127.0.0.1:0 over a fresh database (or another server's); `settle()` waits
//! until no action is due or running; `StarlingProcess` runs the real binary for
//! crash and log tests.

pub mod browser;
pub mod cluster;
pub mod db;
pub mod fake_stream;
pub mod fake_vendor;
pub mod poll;
pub mod process;
pub mod roles;
pub mod settle;
pub mod webdriver;

pub use db::{Backend, TestDb};
pub use poll::{poll_for, poll_until};

use fake_vendor::FakeVendor;

use sqlx::Row;
use starling::app::Application;
use starling::clock::Clock;
use starling::config::Settings;
use starling::store::Store;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
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
    pub rules_dir: PathBuf,
    /// The rules and configuration directories this app owns (removed on drop).
    _tmp: Vec<tempfile::TempDir>,
    /// How long `stop()` and `Drop` wait for a `running` action to finish.
    running_grace: Duration,
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
    with_console_token(&mut env);
    Settings::load_with_env(None, Some(env)).expect("test settings are valid")
}

/// The console's login in tests unless a test sets its own: a public listener
/// refuses to start without one (on loopback no login is asked).
pub const CONSOLE_TOKEN: &str = "console-token-0123456789abcdef0123";

fn with_console_token(env: &mut HashMap<String, String>) {
    env.entry("STARLING__CONSOLE__ADMIN_TOKEN".into())
        .or_insert_with(|| CONSOLE_TOKEN.into());
}

/// The repository's shipped rules (`rules/`).
pub const SHIPPED_RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");

/// Quick retries, polls, heartbeats and timeouts, for tests that run actions
/// against a fake vendor ([`TestAppBuilder::quick_actions`]).
pub const QUICK_ACTIONS: [(&str, &str); 4] = [
    ("STARLING__ACTIONS__RETRY__BASE_MS", "200"),
    ("STARLING__ACTIONS__POLL_INTERVAL_MS", "100"),
    ("STARLING__ACTIONS__HEARTBEAT_SECS", "1"),
    ("STARLING__ACTIONS__TIMEOUT_SECS", "5"),
];

/// How a test starts a server: `TestApp::builder(backend)…start().await`.
pub struct TestAppBuilder {
    backend: Backend,
    db: Option<TestDb>,
    rules: Vec<(String, String)>,
    rules_dir: Option<PathBuf>,
    config_toml: Option<String>,
    env: Vec<(String, String)>,
    clock: Clock,
    running_grace: Duration,
    listen: String,
}

impl TestAppBuilder {
    /// Rule files (name, YAML), written to the app's own rules directory (or to
    /// [`Self::rules_dir`] if one is given).
    pub fn rules(mut self, files: &[(&str, &str)]) -> Self {
        self.rules
            .extend(files.iter().map(|(n, y)| (n.to_string(), y.to_string())));
        self
    }

    /// The repository's shipped rules instead of an empty rules directory.
    pub fn shipped_rules(self) -> Self {
        self.rules_dir(SHIPPED_RULES)
    }

    /// A rules directory the app does not own, e.g. another server's (a second
    /// replica sharing its rules).
    pub fn rules_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.rules_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// The configuration file's text (e.g. its `[[streams]]`).
    pub fn config_toml(mut self, toml: &str) -> Self {
        self.config_toml = Some(toml.to_string());
        self
    }

    /// `STARLING__…` variables; later ones win.
    pub fn env(mut self, vars: &[(&str, &str)]) -> Self {
        self.env
            .extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Points the Scrapely and Slack settings at `vendor`.
    pub fn vendor(self, vendor: &FakeVendor) -> Self {
        let vars = vendor.env();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.env(&vars)
    }

    /// [`QUICK_ACTIONS`]: retries from 200 ms, 100 ms polls, 1 s heartbeats, 5 s timeouts.
    pub fn quick_actions(self) -> Self {
        self.env(&QUICK_ACTIONS)
    }

    /// The listener's address (default `127.0.0.1:0`; `0.0.0.0:0` is public,
    /// which changes what the server asks of tokens).
    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = addr.to_string();
        self
    }

    /// How long the end-of-test check waits for a `running` action to finish
    /// before failing the test (default [`settle::RUNNING_GRACE`]).
    pub fn running_grace(mut self, grace: Duration) -> Self {
        self.running_grace = grace;
        self
    }

    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Another server's database (`other.db.shared()`): a second replica.
    pub fn db(mut self, db: TestDb) -> Self {
        self.db = Some(db);
        self
    }

    pub async fn start(self) -> TestApp {
        let mut tmp = Vec::new();
        let rules_dir = match self.rules_dir {
            Some(dir) => dir,
            None => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().to_owned();
                tmp.push(dir);
                path
            }
        };
        for (name, yaml) in &self.rules {
            std::fs::write(rules_dir.join(name), yaml).unwrap();
        }
        let config = self.config_toml.map(|toml| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("starling.toml");
            std::fs::write(&path, toml).unwrap();
            tmp.push(dir);
            path
        });
        let db = match self.db {
            Some(db) => db,
            None => TestDb::new(self.backend).await,
        };
        let mut env: HashMap<String, String> = self.env.into_iter().collect();
        env.insert("STARLING__DATABASE__URL".into(), db.url.clone());
        with_console_token(&mut env);
        env.insert(
            "STARLING__RULES__DIR".into(),
            rules_dir.display().to_string(),
        );
        let settings =
            Settings::load_with_env(config.as_deref(), Some(env)).expect("test settings are valid");
        let listener = tokio::net::TcpListener::bind(&self.listen).await.unwrap();
        let app = Application::build_with(settings, self.clock, Some(listener))
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
            rules_dir,
            _tmp: tmp,
            running_grace: self.running_grace,
            stop: Some(stop),
            task: Some(task),
        }
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
    /// A server on `backend`: see [`TestAppBuilder`].
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            db: None,
            rules: Vec::new(),
            rules_dir: None,
            config_toml: None,
            env: Vec::new(),
            clock: Clock::System,
            running_grace: settle::RUNNING_GRACE,
            listen: "127.0.0.1:0".to_string(),
        }
    }

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

    /// Waits until the app has nothing left to do now ([`settle`]): no action
    /// `running`, none `pending`/`failed` with `run_at <= now`, no apalis job due
    /// and not done. Fails the test with what is still due after 20 s.
    pub async fn settle(&self) {
        self.settle_within(Duration::from_secs(20)).await
    }

    pub async fn settle_within(&self, limit: Duration) {
        settle::settle(&self.store, limit).await
    }

    /// Stops the server the way SIGTERM does and waits for it to finish. Fails
    /// the test if an action is still `running` (after [`settle::RUNNING_GRACE`]).
    pub async fn stop(mut self) {
        let left = if std::thread::panicking() {
            Vec::new()
        } else {
            settle::left_running(&self.store, self.running_grace).await
        };
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        assert!(left.is_empty(), "the test left actions running: {left:?}");
    }
}

impl Drop for TestApp {
    /// A test that ends (without failing already) leaving an action `running`
    /// fails here. The check waits [`settle::RUNNING_GRACE`] for a call the test
    /// saw to be recorded, and needs a multi-thread runtime (`on_both_backends!`)
    /// to block on; a database the test dropped or stopped is not checked.
    fn drop(&mut self) {
        let Some(stop) = self.stop.take() else {
            return; // stopped (and checked) by `stop()`
        };
        let mut left = Vec::new();
        if !std::thread::panicking()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
            && handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        {
            let (store, grace) = (self.store.clone(), self.running_grace);
            left = tokio::task::block_in_place(|| {
                handle.block_on(settle::left_running(&store, grace))
            });
        }
        let _ = stop.send(());
        assert!(left.is_empty(), "the test left actions running: {left:?}");
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
