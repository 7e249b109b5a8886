//! Scrapely's REST API as the actions use it (seed `004`): `X-API-Key` auth, the
//! shared rate-limit budget, and the lookups actions need — accounts by handle
//! (cached, refreshed on a miss), CRM tags, and conversations for DM
//! reconciliation.
//!
//! This file holds the client itself (its key, its bucket, its caches) and how
//! a request is built; `budget` takes a slot before each call and notes what
//! the vendor says of its window after; `lookups` reads accounts, scheduled
//! tweets and conversations; `crm` reads and caches CRM tags and a
//! conversation's CRM data.

mod budget;
mod crm;
mod lookups;

use super::outbound::{Answer, Body, Outbound};
use super::rate_headers::WindowNotes;
use crate::secret::Secret;
use crate::store::ratelimit::Budget;
pub use crm::Tags;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest wait for a rate-limit slot done in memory; longer waits become a
/// rescheduled job.
pub const MAX_IN_MEMORY_WAIT: Duration = Duration::from_secs(1);

/// Why a Scrapely lookup could not answer.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The budget is spent: ask again after this long.
    Wait(Duration),
    /// The call failed (recorded with the action's error).
    Failed(Box<Answer>),
}

/// One Scrapely account as `GET /accounts` lists it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub handle: String,
    pub is_active: bool,
    pub is_paused: bool,
}

pub struct Scrapely {
    base_url: String,
    api_key: Secret,
    /// Rate-limit bucket: a hash of the key, so the key itself is never stored.
    pub bucket: String,
    pub budget: Budget,
    accounts: Mutex<Option<(Instant, HashMap<String, Account>)>>,
    tags: Mutex<Option<(Instant, Tags)>>,
    /// Tags `scrapely.update_crm` does not overwrite without `force: true`.
    pub protected_tags: Vec<String>,
    /// Conversations' CRM data, read before an update (tag, notes), briefly kept.
    crm: Mutex<HashMap<String, (Instant, Value)>>,
    /// What this process last recorded of the vendor's window.
    noted: Arc<WindowNotes>,
}

impl Scrapely {
    pub fn new(base_url: &str, api_key: Secret, budget: Budget) -> Self {
        use sha2::{Digest, Sha256};
        let digest = hex::encode(Sha256::digest(api_key.expose().as_bytes()));
        let bucket = format!("scrapely:{}", &digest[..16]);
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            bucket,
            budget,
            accounts: Mutex::new(None),
            tags: Mutex::new(None),
            protected_tags: Vec::new(),
            crm: Mutex::new(HashMap::new()),
            noted: Arc::default(),
        }
    }

    pub fn with_protected_tags(mut self, tags: Vec<String>) -> Self {
        self.protected_tags = tags;
        self
    }

    /// A request to `path` with the API key header (recorded without it).
    pub fn request(&self, method: reqwest::Method, path: &str, body: Body) -> Outbound {
        let mut req = Outbound::new(method, format!("{}{path}", self.base_url), body);
        req.headers
            .push(("x-api-key".into(), self.api_key.expose().to_string()));
        req
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
