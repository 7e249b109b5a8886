//! [`Settings::validate`]: the checks serde cannot express (URL schemes, zero
//! sizes, pool and worker minimums), then each section's own checks (webhooks,
//! audit, streams); and [`Settings::unset_empty_credentials`], which runs first.

use super::webhooks::check_webhook_auth;
use super::{ConfigError, Settings, key_error, streams};
use crate::secret::redact_url;

impl Settings {
    /// An empty `scrapely.api_key` or `slack.webhook_url` means unset: their
    /// absence is a state Starling handles (the actions are skipped, saying why),
    /// and an env file lists them as `KEY=` for the user to fill in. Webhook
    /// tokens are not among them: an empty one is refused, since unset would
    /// silently mean unauthenticated.
    pub(super) fn unset_empty_credentials(&mut self) {
        for credential in [&mut self.scrapely.api_key, &mut self.slack.webhook_url] {
            if credential
                .as_ref()
                .is_some_and(|c| c.expose().trim().is_empty())
            {
                *credential = None;
            }
        }
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
        if !is_http_url(&self.scrapely.base_url) {
            return Err(ConfigError::Key {
                key: "scrapely.base_url".into(),
                message: format!(
                    "expected an http:// or https:// URL, got `{}`",
                    redact_url(&self.scrapely.base_url)
                ),
            });
        }
        if let Some(hook) = &self.slack.webhook_url
            && !is_http_url(hook.expose())
        {
            // The URL is the credential: say what it starts with, never what it is.
            return Err(key_error(
                "slack.webhook_url",
                "expected an http:// or https:// URL (https://hooks.slack.com/services/…), or leave it unset",
            ));
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

/// `http://host…` or `https://host…`, with a host.
fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
}
