//! Layered settings: built-in defaults (`default.toml`, embedded) → an optional
//! TOML file (`starling serve --config FILE`) → environment variables
//! `STARLING__SECTION__KEY` (e.g. `STARLING__DATABASE__URL`,
//! `STARLING__WEBHOOKS__SCRAPELY__TOKEN`).
//!
//! Every struct denies unknown keys, and a bad value is reported with its key
//! path ("server.max_body_bytes: invalid type …"), so a typo stops start-up
//! instead of being ignored. Secrets are [`Secret`]s and never print.
//!
//! `[secrets]` holds the credentials rules name as `{{ secrets.NAME }}`
//! (`STARLING__SECRETS__NAME` sets one); names are case-insensitive and kept
//! lowercased, because environment variable names reach us lowercased.

pub mod audit;
mod secrets;
pub mod streams;

use crate::secret::{Secret, redact_url};
pub use audit::AuditSettings;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
pub use streams::{Filter, StreamKind, StreamSettings, StreamingSettings};

const DEFAULTS: &str = include_str!("default.toml");

/// Why the settings could not be loaded. The message names the key and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("configuration key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    /// `starling audit`: its connection, reader role and statement timeout.
    pub audit: AuditSettings,
    pub server: ServerSettings,
    pub rules: RulesSettings,
    pub webhooks: WebhooksSettings,
    pub scrapely: ScrapelySettings,
    pub slack: SlackSettings,
    pub actions: ActionsSettings,
    pub outreach: OutreachSettings,
    pub log: LogSettings,
    /// Tweet stream connections, `[[streams]]` in the file (none by default).
    #[serde(default)]
    pub streams: Vec<StreamSettings>,
    pub streaming: StreamingSettings,
    /// Credentials rules use by name (`{{ secrets.NAME }}`), resolved only when
    /// an action's request is sent. Keys lowercased (see [`Settings::load`]).
    #[serde(default)]
    pub secrets: HashMap<String, Secret>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (created if missing) or `postgres://…`.
    pub url: Secret,
    /// Pool size (SQLite readers and the writer; PostgreSQL connections).
    pub max_connections: u32,
    /// Most events committed in one transaction by the group-commit writer.
    pub group_commit_max: usize,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(self.url.expose()))
            .field("max_connections", &self.max_connections)
            .field("group_commit_max", &self.group_commit_max)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address the HTTP server binds (webhooks, health, readiness).
    pub listen: SocketAddr,
    /// Largest webhook body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long shutdown waits for in-flight requests before exiting.
    pub shutdown_grace_secs: u64,
    /// From waiting for a request until its headers are in (also how long an
    /// idle keep-alive connection stays open).
    pub header_timeout_secs: f64,
    /// How long a webhook's body may take to arrive (408 after).
    pub body_timeout_secs: f64,
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Bearer token for `/readyz` and `/metrics` on a non-loopback listener.
    pub ops_token: Option<Secret>,
    /// Serve `/readyz` and `/metrics` without a token on a non-loopback listener.
    pub public_ops: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSettings {
    /// Directory of rule files.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSettings {
    /// Allow listening on a non-loopback address with no webhook authentication.
    pub allow_unauthenticated: bool,
    /// Standard Webhooks: how far `webhook-timestamp` may be from now, in seconds.
    pub timestamp_tolerance_secs: u64,
    pub scrapely: WebhookAuthSettings,
    /// `POST /webhooks/scrapest/<token>`: SourceEvents, the backup of the streams.
    pub scrapest: WebhookAuthSettings,
    /// `POST /webhooks/scrapebadger/<token>`: `tweet.detected`.
    pub scrapebadger: WebhookAuthSettings,
}

/// How one vendor's webhooks are authenticated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookAuthSettings {
    /// Secret path segment: the webhook URL is `/webhooks/<vendor>/<token>`.
    pub token: Option<Secret>,
    /// Standard Webhooks secret (`whsec_…`); when set, signatures are required.
    pub signing_secret: Option<Secret>,
}

impl WebhookAuthSettings {
    pub fn is_authenticated(&self) -> bool {
        self.token.is_some() || self.signing_secret.is_some()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapelySettings {
    /// Scrapely API key (`x-api-key`), used by actions.
    pub api_key: Option<Secret>,
    /// Scrapely API base URL; override for tests and proxies.
    pub base_url: String,
    /// Calls allowed per `rate_window_secs`, counted in the database across every
    /// worker and process sharing it.
    pub rate_limit: u32,
    pub rate_window_secs: f64,
    /// How often held (paused) accounts are looked up in `GET /accounts` to see
    /// whether they are active again.
    pub account_check_secs: u64,
    /// How often Starling's scheduled tweets whose time has passed are looked up
    /// in `GET /scheduled-tweets` to record whether they were posted or failed.
    pub tweet_check_secs: u64,
    /// CRM tags a person sets later in the funnel: a conversation tagged with one
    /// is not re-tagged by `scrapely.update_crm` unless the action says `force: true`.
    pub protected_tags: Vec<String>,
}

/// The action queue: apalis workers, timeouts and retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsSettings {
    /// apalis workers in this process (each with a unique name).
    pub workers: usize,
    /// Actions in flight per worker.
    pub concurrency: usize,
    /// Safety-net polling; commits in this process wake the workers at once.
    pub poll_interval_ms: u64,
    /// Worker heartbeat; a worker silent for 3 heartbeats has its jobs taken over.
    pub heartbeat_secs: u64,
    /// Timeout of one outbound call.
    pub timeout_secs: f64,
    /// Render and record every action, send nothing (`starling serve --dry-run`).
    pub dry_run: bool,
    pub retry: RetrySettings,
}

/// Exponential backoff with full jitter: attempt n waits a random time in
/// `[0, min(cap, base × factor^(n-1))]`, or longer if the vendor asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    pub base_ms: u64,
    pub factor: f64,
    pub cap_secs: u64,
    pub max_attempts: u32,
}

/// Outreach safety across every rule, replica and restart (the contact ledger).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutreachSettings {
    /// At most one DM per person per this window (`30d`, `12h`); `0` or `off`
    /// turns the window off (do-not-contact still holds).
    pub contact_window: ContactWindow,
}

/// `outreach.contact_window`: a duration, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactWindow(pub Option<std::time::Duration>);

impl ContactWindow {
    /// Parses `30d`, `2s`, `0`, `off`; `Err` says what was expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if matches!(text, "0" | "off" | "none") {
            return Ok(ContactWindow(None));
        }
        match humantime::parse_duration(text) {
            Ok(d) if d.is_zero() => Ok(ContactWindow(None)),
            Ok(d) => Ok(ContactWindow(Some(d))),
            Err(_) => Err(format!(
                "`{text}` is not a duration; expected e.g. 30d, 12h, or 0 / off to turn the window off"
            )),
        }
    }

    /// The window in milliseconds, when on.
    pub fn millis(self) -> Option<i64> {
        self.0.map(|d| d.as_millis() as i64)
    }
}

impl<'de> Deserialize<'de> for ContactWindow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // An environment variable `0` arrives as a number (`try_parsing`).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(0) => Ok(ContactWindow(None)),
            Raw::Number(secs) => Ok(ContactWindow(Some(std::time::Duration::from_secs(secs)))),
            Raw::Text(text) => ContactWindow::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// Slack incoming-webhook URL (the URL is the credential).
    pub webhook_url: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter, e.g. `info` or `starling=debug,info`; `RUST_LOG` overrides it.
    pub filter: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Settings {
    /// Defaults → `file` (if given) → the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, None)
    }

    /// Like [`Settings::load`], reading `STARLING__…` variables from `env` instead of
    /// the process environment (tests, and checking a compose file's variables).
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::File {
                    path: path.to_owned(),
                    message: "no such file".into(),
                });
            }
            builder = builder
                .add_source(config::File::from(path.to_owned()).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("STARLING")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(env),
        );
        let merged = builder.build().map_err(|e| match file {
            Some(path) => ConfigError::File {
                path: path.to_owned(),
                message: e.to_string(),
            },
            None => ConfigError::Invalid(e.to_string()),
        })?;
        let mut settings: Settings =
            serde_path_to_error::deserialize(merged).map_err(|e| ConfigError::Key {
                key: e.path().to_string(),
                message: e.into_inner().to_string(),
            })?;
        settings.secrets = secrets::lowercase_names(std::mem::take(&mut settings.secrets))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database.url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Key {
                key: "database.url".into(),
                message: format!(
                    "expected `sqlite://PATH` or `postgres://…`, got `{}`",
                    redact_url(url)
                ),
            });
        }
        if self.server.max_body_bytes == 0 {
            return Err(key_error(
                "server.max_body_bytes",
                "expected a positive number of bytes",
            ));
        }
        if self.database.group_commit_max == 0 {
            return Err(key_error(
                "database.group_commit_max",
                "expected at least 1",
            ));
        }
        if self.actions.workers == 0 || self.actions.concurrency == 0 {
            return Err(key_error(
                "actions.workers",
                "expected at least 1 worker with a concurrency of at least 1",
            ));
        }
        if self.actions.retry.max_attempts == 0 || self.actions.retry.factor < 1.0 {
            return Err(key_error(
                "actions.retry",
                "expected max_attempts >= 1 and factor >= 1.0",
            ));
        }
        if self.scrapely.rate_limit == 0 || self.scrapely.rate_window_secs <= 0.0 {
            return Err(key_error(
                "scrapely.rate_limit",
                "expected a positive number of calls per a positive rate_window_secs",
            ));
        }
        if self.database.max_connections < 2 {
            return Err(key_error(
                "database.max_connections",
                "expected at least 2 (one writer, one reader)",
            ));
        }
        for (vendor, auth) in self.webhooks.vendors() {
            check_webhook_auth(vendor, auth)?;
        }
        self.audit.validate(url)?;
        streams::validate(&self.streams)
    }
}

impl WebhooksSettings {
    /// Each vendor's webhook authentication, by vendor name.
    pub fn vendors(&self) -> [(&'static str, &WebhookAuthSettings); 3] {
        [
            ("scrapely", &self.scrapely),
            ("scrapest", &self.scrapest),
            ("scrapebadger", &self.scrapebadger),
        ]
    }
}

fn check_webhook_auth(vendor: &str, auth: &WebhookAuthSettings) -> Result<(), ConfigError> {
    for (field, secret) in [
        ("token", &auth.token),
        ("signing_secret", &auth.signing_secret),
    ] {
        if secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
            return Err(key_error(
                &format!("webhooks.{vendor}.{field}"),
                "expected a non-empty value, or leave the key unset",
            ));
        }
    }
    if let Some(token) = &auth.token
        && !token
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
    {
        return Err(key_error(
            &format!("webhooks.{vendor}.token"),
            "expected URL-safe characters only (A-Z a-z 0-9 - _ . ~)",
        ));
    }
    Ok(())
}

fn key_error(key: &str, message: &str) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(s.database.url.expose(), "sqlite://starling.db");
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.server.max_body_bytes, 1024 * 1024);
        assert_eq!(s.rules.dir, PathBuf::from("rules"));
        assert_eq!(s.scrapely.base_url, "https://app.scrapely.co/api/v1");
        assert!(s.webhooks.scrapely.token.is_none());
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("STARLING__SERVER__MAX_BODY_BYTES", "2048"),
                ("STARLING__WEBHOOKS__SCRAPELY__TOKEN", "abc123"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.max_body_bytes, 2048);
        assert_eq!(s.webhooks.scrapely.token.unwrap().expose(), "abc123");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Settings::load_with_env(None, env(&[("STARLING__SERVER__LISTNE", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server"), "{err}");
        assert!(err.contains("listne"), "{err}");
    }

    #[test]
    fn bad_value_names_key_and_expectation() {
        let err = Settings::load_with_env(None, env(&[("STARLING__SERVER__LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listen"), "{err}");
        let err = Settings::load_with_env(None, env(&[("STARLING__DATABASE__URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database.url") && err.contains("expected"),
            "{err}"
        );
    }

    #[test]
    fn the_contact_window_is_a_duration_or_off() {
        let window = |v: &str| {
            Settings::load_with_env(None, env(&[("STARLING__OUTREACH__CONTACT_WINDOW", v)]))
                .map(|s| s.outreach.contact_window.0)
        };
        let default = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(
            default.outreach.contact_window.0,
            Some(std::time::Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            window("2s").unwrap(),
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(window("0").unwrap(), None);
        assert_eq!(window("off").unwrap(), None);
        let err = window("soon").unwrap_err().to_string();
        assert!(
            err.contains("outreach.contact_window") && err.contains("30d"),
            "{err}"
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("STARLING__WEBHOOKS__SCRAPELY__TOKEN", "tok-SEKRET"),
                ("STARLING__DATABASE__URL", "postgres://u:pw-SEKRET@h/db"),
                ("STARLING__SCRAPELY__API_KEY", "key-SEKRET"),
                (
                    "STARLING__AUDIT__DATABASE_URL",
                    "postgres://r:reader-SEKRET@h/db",
                ),
            ]),
        )
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("SEKRET"), "{shown}");
    }
}
