//! `[webhooks]`: how each vendor's inbound webhooks are authenticated (a secret
//! path token, a Standard Webhooks signing secret, or both), and the checks on
//! those values.

use super::{ConfigError, key_error};
use crate::secret::Secret;
use serde::Deserialize;

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

/// A set token or signing secret is non-empty, and a token is URL-safe.
pub(super) fn check_webhook_auth(
    vendor: &str,
    auth: &WebhookAuthSettings,
) -> Result<(), ConfigError> {
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
