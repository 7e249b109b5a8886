//! Scrapely's REST API as the actions use it (seed `004`): `X-API-Key` auth, the
//! shared rate-limit budget, and the lookups actions need — accounts by handle
//! (cached, refreshed on a miss), CRM tags, and conversations for DM
//! reconciliation.

use super::outbound::{self, Answer, Body, Outbound, Verdict};
use super::rate_headers::{Note, RateHeaders, WindowNotes};
use crate::secret::Secret;
use crate::store::Store;
use crate::store::ratelimit::{self, Budget};
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

    /// Waits for a slot in the shared budget (at most a second in memory).
    pub async fn permit(&self, store: &Store) -> Result<(), Lookup> {
        loop {
            let now = crate::store::actions::now_ms();
            match ratelimit::acquire(store, &self.bucket, self.budget, now).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) if wait <= MAX_IN_MEMORY_WAIT => tokio::time::sleep(wait).await,
                Ok(Some(wait)) => return Err(Lookup::Wait(wait)),
                Err(error) => {
                    tracing::warn!(%error, "Cannot read the rate-limit budget; waiting");
                    return Err(Lookup::Wait(MAX_IN_MEMORY_WAIT));
                }
            }
        }
    }

    /// Sends a call under the budget, and records what the vendor says about its window.
    pub async fn call(
        &self,
        store: &Store,
        client: &reqwest::Client,
        req: &Outbound,
        timeout: Duration,
    ) -> Result<Answer, Lookup> {
        self.permit(store).await?;
        self.send_paid(store, client, req, timeout).await
    }

    /// [`Scrapely::call`] for a call whose budget slot was taken already (in the
    /// transaction that stored its event).
    async fn send_paid(
        &self,
        store: &Store,
        client: &reqwest::Client,
        req: &Outbound,
        timeout: Duration,
    ) -> Result<Answer, Lookup> {
        let answer = outbound::send(client, req, timeout).await;
        self.note_window(store, &answer).await;
        Ok(answer)
    }

    /// Records what the vendor said about its window, for every process: its
    /// limit (logged once, by the process that saw it change), what remains until
    /// the reset, and — when the window is spent — nobody calls until the reset.
    /// Only answers that change what the pacing reads are written
    /// ([`WindowNotes`]); a spent or nearly spent window before the next call,
    /// the rest in the background, off the action's path (older records never
    /// overwrite newer ones).
    pub async fn note_window(&self, store: &Store, answer: &Answer) {
        let answered = answer.status.is_some();
        let spent = answer.window_spent_until.is_some();
        let how = self
            .noted
            .decide(answer.rate, answered, spent, self.budget.limit);
        if how == Note::Skip {
            return;
        }
        let note = note_answer(
            store.clone(),
            self.bucket.clone(),
            self.budget,
            answer.rate,
            answered,
            answer.window_spent_until,
            self.noted.clone(),
        );
        match how {
            Note::Now => note.await,
            _ => {
                tokio::spawn(note);
            }
        }
    }

    async fn get_json(
        &self,
        store: &Store,
        client: &reqwest::Client,
        path: &str,
        timeout: Duration,
    ) -> Result<Value, Lookup> {
        self.get_json_paid(store, client, path, timeout, false)
            .await
    }

    async fn get_json_paid(
        &self,
        store: &Store,
        client: &reqwest::Client,
        path: &str,
        timeout: Duration,
        prepaid: bool,
    ) -> Result<Value, Lookup> {
        let req = self.request(reqwest::Method::GET, path, Body::None);
        let answer = match prepaid {
            true => self.send_paid(store, client, &req, timeout).await?,
            false => self.call(store, client, &req, timeout).await?,
        };
        match (answer.verdict, &answer.body) {
            (Verdict::Success, Some(body)) => Ok(body.clone()),
            _ => Err(Lookup::Failed(Box::new(answer))),
        }
    }

    /// Every account (`GET /accounts`), refreshing the cache.
    pub async fn accounts(
        &self,
        store: &Store,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> Result<HashMap<String, Account>, Lookup> {
        let body = self.get_json(store, client, "/accounts", timeout).await?;
        let accounts: HashMap<String, Account> = body
            .get("accounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| {
                Some(Account {
                    id: a.get("id")?.as_str()?.to_string(),
                    handle: a
                        .get("handle")?
                        .as_str()?
                        .trim_start_matches('@')
                        .to_string(),
                    is_active: a.get("is_active").and_then(Value::as_bool).unwrap_or(true),
                    is_paused: a.get("is_paused").and_then(Value::as_bool).unwrap_or(false),
                })
            })
            .map(|a| (a.handle.to_lowercase(), a))
            .collect();
        // Kept in the database too: a pause naming only an account id finds its handle there.
        let seen: Vec<(String, String)> = accounts
            .values()
            .map(|a| (a.id.clone(), a.handle.clone()))
            .collect();
        if let Err(error) = crate::store::accounts::remember(store, &seen).await {
            tracing::warn!(%error, "Cannot record the accounts GET /accounts listed");
        }
        *self.accounts.lock().expect("accounts cache") = Some((Instant::now(), accounts.clone()));
        Ok(accounts)
    }

    /// The account with `handle`: from the cache, or from a fresh `GET /accounts`.
    /// `Ok(None)` means Scrapely has no such account.
    pub async fn account_by_handle(
        &self,
        store: &Store,
        client: &reqwest::Client,
        handle: &str,
        timeout: Duration,
    ) -> Result<Option<Account>, Lookup> {
        let key = handle.trim_start_matches('@').to_lowercase();
        self.find_account(store, client, timeout, |a| a.handle.to_lowercase() == key)
            .await
    }

    /// The account with `id`, as [`Scrapely::account_by_handle`].
    pub async fn account_by_id(
        &self,
        store: &Store,
        client: &reqwest::Client,
        id: &str,
        timeout: Duration,
    ) -> Result<Option<Account>, Lookup> {
        self.find_account(store, client, timeout, |a| a.id == id)
            .await
    }

    async fn find_account(
        &self,
        store: &Store,
        client: &reqwest::Client,
        timeout: Duration,
        wanted: impl Fn(&Account) -> bool,
    ) -> Result<Option<Account>, Lookup> {
        if let Some((_, cached)) = &*self.accounts.lock().expect("accounts cache")
            && let Some(account) = cached.values().find(|a| wanted(a))
        {
            return Ok(Some(account.clone()));
        }
        let accounts = self.accounts(store, client, timeout).await?;
        Ok(accounts.into_values().find(|a| wanted(a)))
    }

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

    /// One page of an account's scheduled tweets (`GET /scheduled-tweets`).
    pub async fn scheduled_tweets(
        &self,
        store: &Store,
        client: &reqwest::Client,
        account_id: &str,
        offset: usize,
        timeout: Duration,
    ) -> Result<Vec<Value>, Lookup> {
        let path = format!(
            "/scheduled-tweets?account_id={}&limit=100&offset={offset}",
            encode(account_id)
        );
        let body = self.get_json(store, client, &path, timeout).await?;
        Ok(body
            .get("scheduled_tweets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// One conversation with its messages (`GET /conversations?conversation_id=…`).
    pub async fn conversation(
        &self,
        store: &Store,
        client: &reqwest::Client,
        conversation_id: &str,
        timeout: Duration,
    ) -> Result<Value, Lookup> {
        let path = format!("/conversations?conversation_id={}", encode(conversation_id));
        let body = self.get_json(store, client, &path, timeout).await?;
        Ok(body.get("conversation").cloned().unwrap_or(Value::Null))
    }

    /// The id of `account`'s conversation with the receiver `handle`, if there is
    /// one (`GET /conversations?handle=…&account_id=…`). Only a conversation that
    /// Scrapely says belongs to `account` counts: a DM must never go out through
    /// another account's conversation with the same person.
    pub async fn conversation_with(
        &self,
        store: &Store,
        client: &reqwest::Client,
        handle: &str,
        account: &Account,
        timeout: Duration,
    ) -> Result<Option<String>, Lookup> {
        let handle = handle.trim_start_matches('@');
        let path = format!(
            "/conversations?handle={}&account_id={}&limit=20",
            encode(handle),
            encode(&account.id)
        );
        let body = self.get_json(store, client, &path, timeout).await?;
        Ok(body
            .get("conversations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| belongs_to(c, account))
            .find(|c| {
                c.pointer("/receiver/screen_name")
                    .and_then(Value::as_str)
                    .is_none_or(|r| r.trim_start_matches('@').eq_ignore_ascii_case(handle))
            })
            .and_then(|c| c.get("conversation_id"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }
}

/// Whether a listed conversation is `account`'s (by its `account_handle`).
fn belongs_to(conversation: &Value, account: &Account) -> bool {
    conversation
        .get("account_handle")
        .and_then(Value::as_str)
        .is_some_and(|h| {
            h.trim_start_matches('@')
                .eq_ignore_ascii_case(&account.handle)
        })
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

/// [`Scrapely::note_window`]'s writes.
async fn note_answer(
    store: Store,
    bucket: String,
    budget: Budget,
    rate: RateHeaders,
    answered: bool,
    spent_until: Option<i64>,
    noted: Arc<WindowNotes>,
) {
    if answered {
        let now = crate::store::actions::now_ms();
        match ratelimit::note(&store, &bucket, rate, now).await {
            Ok(Some(limit)) => tracing::info!(
                limit,
                configured = budget.limit,
                window_secs = budget.window.as_secs_f64(),
                "Scrapely's X-RateLimit-Limit changed; the shared budget follows it"
            ),
            Ok(None) => {}
            Err(error) => {
                noted.forget();
                tracing::warn!(%error, "Cannot record Scrapely's rate-limit headers")
            }
        }
    }
    if let Some(until) = spent_until
        && let Err(error) = ratelimit::block_until(&store, &bucket, until).await
    {
        tracing::warn!(%error, "Cannot record Scrapely's rate-limit window");
    }
}
