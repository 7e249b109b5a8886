//! [`Settings::validate`]: the checks serde cannot express (URL schemes, zero
//! sizes, pool and worker minimums), then each section's own checks (webhooks,
//! audit, retention, streams).

use super::webhooks::check_webhook_auth;
use super::{ConfigError, Settings, key_error, streams};
use crate::secret::redact_url;

/// `value` must be an absolute http(s) URL with a host. A `secret` URL (Slack's
/// carries its credential in the path) is never repeated in the message.
fn http_url(key: &str, value: &str, secret: bool) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(value);
    let fine = parsed
        .as_ref()
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if fine {
        return Ok(());
    }
    let shown = if secret {
        "(not shown: it holds a credential)".to_string()
    } else {
        format!("`{}`", redact_url(value))
    };
    Err(ConfigError::Key {
        key: key.into(),
        message: format!("expected an http:// or https:// URL, got {shown}"),
    })
}

impl Settings {
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
        http_url("scrapely.base_url", &self.scrapely.base_url, false)?;
        if let Some(slack) = &self.slack.webhook_url {
            http_url("slack.webhook_url", slack.expose(), true)?;
        }
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log.filter) {
            return Err(ConfigError::Key {
                key: "log.filter".into(),
                message: format!(
                    "expected a tracing filter such as `info` or `starling=debug,info`, got `{}` ({e})",
                    self.log.filter
                ),
            });
        }
        self.audit.validate(url)?;
        self.retention.validate()?;
        streams::validate(&self.streams)
    }
}
