//! Scrapely's reads as JSON GETs under the budget: accounts (cached, refreshed
//! on a miss, remembered in the database), scheduled tweets, and conversations
//! (one with its messages, or an account's conversation with a person).

use super::{Account, Lookup, Scrapely, encode};
use crate::actions::outbound::{Body, Verdict};
use crate::store::Store;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

impl Scrapely {
    pub(super) async fn get_json(
        &self,
        store: &Store,
        client: &reqwest::Client,
        path: &str,
        timeout: Duration,
    ) -> Result<Value, Lookup> {
        self.get_json_paid(store, client, path, timeout, false)
            .await
    }

    pub(super) async fn get_json_paid(
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
