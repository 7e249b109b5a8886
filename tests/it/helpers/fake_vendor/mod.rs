//! A fake Scrapely API and Slack webhook on 127.0.0.1: speaks seed `004`'s shapes
//! over real HTTP, one handler per endpoint, records every request, and fails the
//! way real vendors and proxies do — a 5xx *after* acting, a connection dropped
//! after the request was read, a call held open, rate-limit headers — with two
//! accounts, so a DM from the wrong one shows.

mod answer;
mod endpoints;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const API_KEY: &str = "sk_live_fake_scrapely_key";
/// `@yourhandle`, the account the example rules act for.
pub const ACCOUNT_ID: &str = "550e8400-e29b-41d4-a716-446655440000";
/// `@otherhandle`, a second account of the same workspace.
pub const OTHER_ACCOUNT_ID: &str = "660e8400-e29b-41d4-a716-446655440001";
pub const SLACK_PATH: &str = "/slack/services/T000/B000/slacksecret";
/// `@yourhandle`'s conversation with `@prospect` (the fixtures' conversation).
pub const CONVERSATION: &str = "123456789-987654321";
/// `@otherhandle`'s conversation with `@prospect`.
pub const OTHER_CONVERSATION: &str = "555555555-987654321";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub api_key: Option<String>,
    pub headers: HeaderMap,
    pub body: Value,
    pub at: Instant,
    pub wall: std::time::SystemTime,
    /// The status the fake answered with (`None`: held or dropped, no answer).
    pub answered: Option<u16>,
}

/// A scripted answer for the next call to a path.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer this, without acting.
    Status(u16, Value),
    /// Answer this with extra headers, without acting.
    WithHeaders(u16, Value, Vec<(&'static str, String)>),
    /// Act (send the DM, schedule the tweet, post to Slack), then never answer.
    Hold,
    /// Never act, never answer.
    HoldUnsent,
    /// Act, then answer this status (a proxy's 502/504 after the vendor acted).
    ActThenStatus(u16),
    /// Act, then drop the connection before answering.
    ActThenDrop,
    /// Drop the connection after reading the request, without acting.
    DropUnsent,
}

impl Reply {
    /// Whether the vendor acts on the request before answering this.
    fn acts(&self) -> bool {
        matches!(
            self,
            Reply::Hold | Reply::ActThenStatus(_) | Reply::ActThenDrop
        )
    }
}

/// A conversation of one of the fake's accounts.
#[derive(Debug, Clone)]
struct Conversation {
    id: String,
    account_handle: String,
    receiver: String,
    messages: Vec<Value>,
    crm: Value,
}

#[derive(Debug, Clone)]
struct ScheduledTweet {
    id: String,
    account_id: String,
    text: String,
    scheduled_at: String,
    status: String,
    error_message: Option<String>,
    posted_at: Option<String>,
}

struct Inner {
    requests: Vec<Recorded>,
    script: HashMap<String, VecDeque<Reply>>,
    conversations: Vec<Conversation>,
    tweets: Vec<ScheduledTweet>,
    paused: bool,
    limit: Option<(usize, Duration)>,
    limited_arrivals: VecDeque<Instant>,
    rate_limited: usize,
    next_id: u64,
}

impl Default for Inner {
    fn default() -> Self {
        let conversation = |id: &str, account: &str, receiver: &str| Conversation {
            id: id.into(),
            account_handle: account.into(),
            receiver: receiver.into(),
            messages: Vec::new(),
            crm: json!({"notes": null, "deal_value": null, "deal_currency": null, "tag": null}),
        };
        Self {
            requests: Vec::new(),
            script: HashMap::new(),
            // Listed other account first: a lookup without `account_id` takes the wrong one.
            conversations: vec![
                conversation(OTHER_CONVERSATION, "otherhandle", "prospect"),
                conversation(CONVERSATION, "yourhandle", "prospect"),
                conversation("777777777-111111111", "otherhandle", "otherprospect"),
            ],
            tweets: Vec::new(),
            paused: false,
            limit: None,
            limited_arrivals: VecDeque::new(),
            rate_limited: 0,
            next_id: 0,
        }
    }
}

#[derive(Clone)]
pub struct FakeVendor {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<tokio::sync::Notify>,
}

impl FakeVendor {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let changed = Arc::new(tokio::sync::Notify::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = (inner.clone(), changed.clone());
        let app = axum::Router::new()
            .fallback(answer::handle)
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            inner,
            changed,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    pub fn slack_url(&self) -> String {
        format!("http://{}{SLACK_PATH}", self.addr)
    }

    /// `STARLING__…` settings pointing Starling at this fake.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STARLING__SCRAPELY__API_KEY", API_KEY.to_string()),
            ("STARLING__SCRAPELY__BASE_URL", self.base_url()),
            ("STARLING__SLACK__WEBHOOK_URL", self.slack_url()),
        ]
    }

    /// Answers the next calls to `path` (e.g. `/api/v1/dm/send`) with `replies`, in order.
    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        let mut inner = self.inner.lock().unwrap();
        inner
            .script
            .entry(path.to_string())
            .or_default()
            .extend(replies);
    }

    /// Forgets every scripted answer not yet given: calls are answered normally again.
    #[allow(dead_code)] // used by the fault suite (tests/faults), which includes this file
    pub fn clear_scripts(&self) {
        self.inner.lock().unwrap().script.clear();
    }

    /// Makes `GET /accounts` list `@yourhandle` as paused (or active again).
    pub fn set_paused(&self, paused: bool) {
        self.inner.lock().unwrap().paused = paused;
    }

    /// Enforces `limit` calls per sliding `window` (by arrival), answering 429
    /// beyond it; every answer then carries `X-RateLimit-*` headers.
    pub fn limit(&self, limit: usize, window: Duration) {
        self.inner.lock().unwrap().limit = Some((limit, window));
    }

    /// Another client of the same key made `n` calls just now: they count
    /// against the limit (lowering `X-RateLimit-Remaining`) but Starling never saw them.
    /// Returns when they were made.
    pub fn external_calls(&self, n: usize) -> Instant {
        let mut inner = self.inner.lock().unwrap();
        let now = Instant::now();
        inner.limited_arrivals.extend(std::iter::repeat_n(now, n));
        now
    }

    /// What Scrapely's background worker did with a scheduled tweet: `posted`,
    /// or `failed` with its `error_message`.
    pub fn settle_tweet(&self, id: &str, status: &str, error_message: Option<&str>) {
        let mut inner = self.inner.lock().unwrap();
        let t = inner
            .tweets
            .iter_mut()
            .find(|t| t.id == id)
            .expect("a scheduled tweet");
        t.status = status.into();
        t.error_message = error_message.map(str::to_string);
        t.posted_at = (status == "posted").then(|| "2024-03-20T15:00:01.000Z".to_string());
    }

    pub fn rate_limited(&self) -> usize {
        self.inner.lock().unwrap().rate_limited
    }

    /// The messages Scrapely holds in a conversation.
    pub fn messages(&self, conversation_id: &str) -> Vec<Value> {
        let inner = self.inner.lock().unwrap();
        inner
            .conversations
            .iter()
            .find(|c| c.id == conversation_id)
            .map(|c| c.messages.clone())
            .unwrap_or_default()
    }

    /// Sets a conversation's CRM data (what a person did in Scrapely's UI).
    pub fn set_crm(&self, conversation_id: &str, crm: Value) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(c) = inner
            .conversations
            .iter_mut()
            .find(|c| c.id == conversation_id)
        {
            c.crm = crm;
        }
    }

    /// A conversation's CRM data as Scrapely holds it.
    pub fn crm(&self, conversation_id: &str) -> Value {
        let inner = self.inner.lock().unwrap();
        inner
            .conversations
            .iter()
            .find(|c| c.id == conversation_id)
            .map(|c| c.crm.clone())
            .unwrap_or(Value::Null)
    }

    /// Every scheduled tweet: (id, account id, text, scheduled_at, status).
    pub fn scheduled_tweets(&self) -> Vec<(String, String, String, String, String)> {
        let inner = self.inner.lock().unwrap();
        inner
            .tweets
            .iter()
            .map(|t| {
                (
                    t.id.clone(),
                    t.account_id.clone(),
                    t.text.clone(),
                    t.scheduled_at.clone(),
                    t.status.clone(),
                )
            })
            .collect()
    }

    pub fn requests(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.inner
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .cloned()
            .collect()
    }

    pub fn all_requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Waits until at least `n` requests `method path` arrived (panics after `timeout`).
    pub async fn wait_for(
        &self,
        method: &str,
        path: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let seen = self.requests(method, path);
            if seen.len() >= n {
                return seen;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {n} × {method} {path} within {timeout:?}, saw {}; all requests: {:?}",
                    seen.len(),
                    self.all_requests()
                        .iter()
                        .map(|r| format!("{} {}", r.method, r.path))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}

type Shared = (Arc<Mutex<Inner>>, Arc<tokio::sync::Notify>);
