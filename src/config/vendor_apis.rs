//! The vendor APIs actions call: `[scrapely]` (its key, URL, the shared rate
//! budget, how often accounts and scheduled tweets are looked up, protected CRM
//! tags) and `[slack]` (the incoming-webhook URL).

use crate::secret::Secret;
use serde::Deserialize;

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// Slack incoming-webhook URL (the URL is the credential).
    pub webhook_url: Option<Secret>,
}
