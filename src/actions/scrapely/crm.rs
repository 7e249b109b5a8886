//! CRM data: the tags a conversation may take (base and custom, cached a few
//! minutes) and a conversation's current CRM data (kept a few seconds, so a
//! burst of updates on one reply reads it once).

use super::{Lookup, Scrapely, encode};
use crate::store::Store;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The CRM tags a conversation may take.
#[derive(Debug, Clone, Default)]
pub struct Tags {
    pub base: Vec<String>,
    /// Custom tags: (key, display name).
    pub custom: Vec<(String, String)>,
}

impl Tags {
    /// The tag to send for `given`: a base tag, or a custom tag's key given by
    /// its key or its display name (case-insensitive).
    pub fn resolve(&self, given: &str) -> Option<String> {
        if self.base.iter().any(|t| t == given) {
            return Some(given.to_string());
        }
        self.custom
            .iter()
            .find(|(key, name)| key == given || name.eq_ignore_ascii_case(given))
            .map(|(key, _)| key.clone())
    }

    pub fn describe(&self) -> String {
        let custom = self.custom.iter().map(|(k, n)| format!("{n} ({k})"));
        self.base
            .iter()
            .cloned()
            .chain(custom)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

const TAGS_TTL: Duration = Duration::from_secs(300);
/// How long a conversation's CRM data read before an update is reused: long
/// enough for a burst of rules on one reply, short enough to see a person's edit.
const CRM_TTL: Duration = Duration::from_secs(10);

impl Scrapely {
    /// The CRM tags a conversation may take: base tags and the custom tags
    /// (`GET /crm/conversations`), cached for a few minutes.
    pub async fn crm_tags(
        &self,
        store: &Store,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Tags, Lookup> {
        if let Some((at, tags)) = &*self.tags.lock().expect("tags cache")
            && at.elapsed() < TAGS_TTL
        {
            return Ok(tags.clone());
        }
        let body = self
            .get_json(store, client, "/crm/conversations?limit=1", timeout)
            .await?;
        let list = |k: &str| {
            body.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let tags = Tags {
            base: list("base_tags")
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            custom: list("custom_tags")
                .iter()
                .filter_map(|c| {
                    let key = c.get("key")?.as_str()?.to_string();
                    let name = c
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or(&key)
                        .to_string();
                    Some((key, name))
                })
                .collect(),
        };
        *self.tags.lock().expect("tags cache") = Some((Instant::now(), tags.clone()));
        Ok(tags)
    }

    /// A conversation's current CRM data (`crm` of `GET /conversations?conversation_id=…`,
    /// with its `tag`), reused for a few seconds. `prepaid`: the read's budget slot
    /// was taken in the transaction that stored the event (the fast path).
    pub async fn current_crm(
        &self,
        store: &Store,
        client: &reqwest::Client,
        conversation_id: &str,
        timeout: Duration,
        prepaid: bool,
    ) -> Result<Value, Lookup> {
        if let Some((at, crm)) = self.crm.lock().expect("crm cache").get(conversation_id)
            && at.elapsed() < CRM_TTL
        {
            return Ok(crm.clone());
        }
        let path = format!("/conversations?conversation_id={}", encode(conversation_id));
        let body = self
            .get_json_paid(store, client, &path, timeout, prepaid)
            .await?;
        let conversation = body.get("conversation").cloned().unwrap_or(Value::Null);
        let mut crm = conversation
            .get("crm")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        if crm.get("tag").is_none()
            && let Some(tag) = conversation.get("tag")
        {
            crm["tag"] = tag.clone();
        }
        self.remember_crm(conversation_id, crm.clone());
        Ok(crm)
    }

    /// What a successful update set, so the next update sees it without a lookup.
    pub fn remember_crm(&self, conversation_id: &str, crm: Value) {
        let mut cache = self.crm.lock().expect("crm cache");
        cache.retain(|_, (at, _)| at.elapsed() < CRM_TTL);
        cache.insert(conversation_id.to_string(), (Instant::now(), crm));
    }

    /// Forgets a conversation's CRM data (after an update whose effect is unknown).
    pub fn forget_crm(&self, conversation_id: &str) {
        self.crm.lock().expect("crm cache").remove(conversation_id);
    }
}
