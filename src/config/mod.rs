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
//!
//! The settings by section: `service` (database, HTTP server, rules directory,
//! logging), `webhooks` (inbound vendor authentication), `vendor_apis` (the
//! Scrapely API and Slack), `actions` (the queue, retries and outreach safety),
//! `streams`, `audit`, `retention` and `secrets`; `validate` holds the checks serde cannot
//! express, across sections.

mod actions;
pub mod audit;
mod console;
mod retention;
mod secrets;
mod service;
pub mod streams;
mod validate;
mod values;
mod vendor_apis;
mod webhooks;

use crate::secret::Secret;
pub use actions::{
    ActionsSettings, AlertsSettings, ContactWindow, OutreachSettings, RetrySettings,
};
pub use audit::AuditSettings;
pub use console::ConsoleSettings;
pub use retention::RetentionSettings;
use serde::Deserialize;
pub use service::{DatabaseSettings, LogFormat, LogSettings, RulesSettings, ServerSettings};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
pub use streams::{Filter, StreamKind, StreamSettings, StreamingSettings};
pub use vendor_apis::{ScrapelySettings, SlackSettings};
pub use webhooks::{WebhookAuthSettings, WebhooksSettings};

const DEFAULTS: &str = include_str!("default.toml");

/// `rules.dir`'s default (default.toml): created on a first start when missing.
pub const DEFAULT_RULES_DIR: &str = "rules";

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
    /// How long events and attempts are kept (forever by default).
    pub retention: RetentionSettings,
    /// Internal events: how long a stream may be down before it is announced.
    pub alerts: AlertsSettings,
    pub log: LogSettings,
    /// The web console at `/`.
    pub console: ConsoleSettings,
    /// Tweet stream connections, `[[streams]]` in the file (none by default).
    #[serde(default)]
    pub streams: Vec<StreamSettings>,
    pub streaming: StreamingSettings,
    /// Credentials rules use by name (`{{ secrets.NAME }}`), resolved only when
    /// an action's request is sent. Keys lowercased (see [`Settings::load`]).
    #[serde(default)]
    pub secrets: HashMap<String, Secret>,
}

impl Settings {
    /// Defaults → `file` (if given) → the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, None)
    }

    /// Like [`Settings::load`], reading `STARLING__…` variables from `env` instead of
    /// the process environment (tests, and checking a compose file's variables).
    /// An empty value, in the file or the environment, means unset.
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
            let text = values::read_file(path).map_err(|message| ConfigError::File {
                path: path.to_owned(),
                message,
            })?;
            builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("STARLING")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(values::environment(env))),
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
                message: values::without_key_suffix(e.into_inner().to_string()),
            })?;
        settings.secrets = secrets::lowercase_names(std::mem::take(&mut settings.secrets))?;
        settings.validate()?;
        Ok(settings)
    }
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
    fn retention_is_off_unless_a_number_of_days_is_given() {
        let retention =
            |pairs: &[(&str, &str)]| Settings::load_with_env(None, env(pairs)).map(|s| s.retention);
        let default = retention(&[]).unwrap();
        assert_eq!((default.events_days, default.attempts_days), (None, None));
        assert!(!default.is_on());
        let on = retention(&[
            ("STARLING__RETENTION__EVENTS_DAYS", "90"),
            ("STARLING__RETENTION__ATTEMPTS_DAYS", ""),
        ])
        .unwrap();
        assert_eq!((on.events_days, on.attempts_days), (Some(90), None));
        assert!(on.is_on());
        let off = retention(&[("STARLING__RETENTION__EVENTS_DAYS", "0")]).unwrap();
        assert_eq!(off.events_days, None);
        let err = retention(&[("STARLING__RETENTION__EVENTS_DAYS", "soon")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("retention.events_days") && err.contains("number of days"),
            "{err}"
        );
        for (key, value) in [
            ("STARLING__RETENTION__BATCH_SIZE", "0"),
            ("STARLING__RETENTION__BATCH_SIZE", "100000"),
            ("STARLING__RETENTION__INTERVAL_SECS", "0"),
        ] {
            let err = retention(&[(key, value)]).unwrap_err().to_string();
            let name = key
                .trim_start_matches("STARLING__RETENTION__")
                .to_lowercase();
            assert!(
                err.contains(&format!("retention.{name}")) && err.contains("expected"),
                "{err}"
            );
        }
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
