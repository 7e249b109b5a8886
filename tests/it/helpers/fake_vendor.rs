//! A fake Scrapely API and Slack webhook on 127.0.0.1: speaks seed `004`'s shapes
//! over real HTTP, one handler per endpoint, records every request, and fails the
//! way real vendors and proxies do — a 5xx *after* acting, a connection dropped
//! after the request was read, a call held open, rate-limit headers — with two
//! accounts, so a DM from the wrong one shows.

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
        let app = axum::Router::new().fallback(handle).with_state(state);
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

/// What a handler decided: the answer, or how to fail.
enum Outcome {
    Answer(u16, Value, Vec<(&'static str, String)>),
    Hold,
    Drop,
}

async fn handle(State((inner, changed)): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let headers: HeaderMap = request.headers().clone();
    let bytes: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (outcome, request_id) = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            api_key: api_key.clone(),
            headers: headers.clone(),
            body: body.clone(),
            at: Instant::now(),
            wall: std::time::SystemTime::now(),
            answered: None,
        });
        let index = inner.requests.len() - 1;
        inner.next_id += 1;
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let call = Call {
            method: &method,
            path: &path,
            query: &query,
            body: &body,
            authorization: authorization.as_deref(),
        };
        let outcome = decide(&mut inner, &call, api_key.as_deref());
        if let Outcome::Answer(status, ..) = &outcome {
            inner.requests[index].answered = Some(*status);
        }
        (outcome, format!("req_fake{}", inner.next_id))
    };
    changed.notify_waiters();
    match outcome {
        Outcome::Hold => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        // Ends this connection's task: the client sees the connection closed
        // after its request was written, before any answer.
        Outcome::Drop => std::panic::resume_unwind(Box::new("drop the connection")),
        Outcome::Answer(status, body, extra) => respond(status, body, extra, request_id),
    }
}

fn respond(
    status: u16,
    body: Value,
    extra: Vec<(&'static str, String)>,
    request_id: String,
) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert("x-request-id", request_id.parse().unwrap());
    for (name, value) in extra {
        headers.insert(name, value.parse().unwrap());
    }
    response
}

struct Call<'a> {
    method: &'a Method,
    path: &'a str,
    query: &'a str,
    body: &'a Value,
    authorization: Option<&'a str>,
}

impl Call<'_> {
    fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.replace("%40", "@").replace("%2D", "-"))
        })
    }
}

fn decide(inner: &mut Inner, call: &Call<'_>, api_key: Option<&str>) -> Outcome {
    let scripted = inner
        .script
        .get_mut(call.path)
        .and_then(VecDeque::pop_front);
    if call.path.starts_with("/slack/") {
        return with_script(scripted, || Outcome::Answer(200, json!("ok"), vec![]));
    }
    // Like httpbin: answers with what it was sent (a receiver echoing credentials).
    if call.path.starts_with("/hook/echo") {
        let echo = json!({"authorization": call.authorization, "query": call.query});
        return with_script(scripted, || Outcome::Answer(200, echo, vec![]));
    }
    if call.path.starts_with("/hook") {
        return with_script(scripted, || {
            Outcome::Answer(200, json!({"ok": true}), vec![])
        });
    }
    if api_key != Some(API_KEY) {
        return Outcome::Answer(
            401,
            json!({"error": "Unauthorized", "message": "Invalid API key"}),
            vec![],
        );
    }
    let rate_headers = match rate_limit(inner) {
        Ok(headers) => headers,
        Err(refused) => return refused,
    };
    let path = call.path.trim_start_matches("/api/v1");
    let endpoint: fn(&mut Inner, &Call<'_>) -> (u16, Value) = match (call.method.as_str(), path) {
        ("GET", "/accounts") => list_accounts,
        ("GET", "/crm/conversations") => crm_conversations,
        ("GET", "/conversations") => conversations,
        ("POST", "/dm/send") => send_dm,
        ("PATCH", "/crm/update") => update_crm,
        ("POST", "/scheduled-tweets") => schedule_tweet,
        ("GET", "/scheduled-tweets") => list_scheduled_tweets,
        ("DELETE", "/scheduled-tweets") => cancel_scheduled_tweet,
        _ => |_: &mut Inner, _: &Call<'_>| (404, json!({"error": "Not found"})),
    };
    let act = |inner: &mut Inner| endpoint(inner, call);
    match scripted {
        None => {
            let (status, body) = act(inner);
            Outcome::Answer(status, body, rate_headers)
        }
        Some(reply) => {
            if reply.acts() {
                act(inner);
            }
            scripted_outcome(reply, rate_headers)
        }
    }
}

fn with_script(scripted: Option<Reply>, default: impl FnOnce() -> Outcome) -> Outcome {
    match scripted {
        None => default(),
        Some(reply) => scripted_outcome(reply, vec![]),
    }
}

fn scripted_outcome(reply: Reply, rate_headers: Vec<(&'static str, String)>) -> Outcome {
    match reply {
        Reply::Status(status, body) => Outcome::Answer(status, body, rate_headers),
        Reply::WithHeaders(status, body, extra) => Outcome::Answer(status, body, extra),
        Reply::Hold | Reply::HoldUnsent => Outcome::Hold,
        Reply::ActThenStatus(status) => Outcome::Answer(
            status,
            json!({"error": "Bad Gateway", "message": "upstream answered late"}),
            vec![],
        ),
        Reply::ActThenDrop | Reply::DropUnsent => Outcome::Drop,
    }
}

/// The sliding-window limit, when set: `Err` is the 429 to answer.
fn rate_limit(inner: &mut Inner) -> Result<Vec<(&'static str, String)>, Outcome> {
    let Some((limit, window)) = inner.limit else {
        return Ok(vec![]);
    };
    let now = Instant::now();
    while inner
        .limited_arrivals
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        inner.limited_arrivals.pop_front();
    }
    let reset = {
        let oldest = inner.limited_arrivals.front().copied().unwrap_or(now);
        let left = window.saturating_sub(now.duration_since(oldest));
        let wall = std::time::SystemTime::now() + left;
        wall.duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    };
    if inner.limited_arrivals.len() >= limit {
        inner.rate_limited += 1;
        return Err(Outcome::Answer(
            429,
            json!({"error": "Rate limited", "message": "Too many requests. Please try again later.", "retry_after": window.as_secs().max(1)}),
            vec![
                ("x-ratelimit-limit", limit.to_string()),
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", reset.to_string()),
            ],
        ));
    }
    inner.limited_arrivals.push_back(now);
    Ok(vec![
        ("x-ratelimit-limit", limit.to_string()),
        (
            "x-ratelimit-remaining",
            (limit - inner.limited_arrivals.len()).to_string(),
        ),
        ("x-ratelimit-reset", reset.to_string()),
    ])
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn list_accounts(inner: &mut Inner, _: &Call<'_>) -> (u16, Value) {
    let account = |id: &str, handle: &str, paused: bool| {
        json!({
            "id": id, "handle": handle, "name": "Your Name",
            "is_active": true, "is_verified": true, "dms_sent": 1250,
            "is_paused": paused, "followups_paused": false, "warmup_paused": false
        })
    };
    (
        200,
        json!({"accounts": [
            account(ACCOUNT_ID, "yourhandle", inner.paused),
            account(OTHER_ACCOUNT_ID, "otherhandle", false),
        ]}),
    )
}

fn crm_conversations(_: &mut Inner, _: &Call<'_>) -> (u16, Value) {
    (
        200,
        json!({
            "columns": {}, "custom_tags": [{"id": "uuid", "name": "Hot Lead", "color": "#ff0000", "key": "custom_uuid"}],
            "base_tags": ["unread", "interested_reply", "negative_reply", "neutral_reply", "engaged", "calendlyd", "booked", "not_interested", "not_qualified"]
        }),
    )
}

fn account_handle_of(id: &str) -> Option<&'static str> {
    match id {
        ACCOUNT_ID => Some("yourhandle"),
        OTHER_ACCOUNT_ID => Some("otherhandle"),
        _ => None,
    }
}

/// `GET /conversations`: one conversation by `conversation_id`, or a list
/// filtered by `handle` and `account_id`.
fn conversations(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    if let Some(id) = call.param("conversation_id") {
        let Some(c) = inner.conversations.iter().find(|c| c.id == id) else {
            return (
                404,
                json!({"error": "Not found", "message": "Conversation not found"}),
            );
        };
        return (
            200,
            json!({"conversation": {
                "conversation_id": c.id, "account_handle": c.account_handle,
                "lead": {"screen_name": c.receiver}, "crm": c.crm, "messages": c.messages
            }}),
        );
    }
    let handle = call
        .param("handle")
        .map(|h| h.trim_start_matches('@').to_lowercase());
    let account = call
        .param("account_id")
        .map(|id| account_handle_of(&id).unwrap_or("nobody"));
    let limit: usize = call
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(20);
    let list: Vec<Value> = inner
        .conversations
        .iter()
        .filter(|c| handle.as_ref().is_none_or(|h| &c.receiver == h))
        .filter(|c| account.is_none_or(|a| c.account_handle == a))
        .take(limit)
        .map(|c| {
            json!({"conversation_id": c.id, "account_handle": c.account_handle,
                   "receiver": {"screen_name": c.receiver}})
        })
        .collect();
    let count = list.len();
    (
        200,
        json!({"conversations": list, "pagination": {"limit": limit, "count": count, "has_more": false}}),
    )
}

fn send_dm(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    let id = call.body["conversation_id"].as_str().unwrap_or_default();
    let sender = call.body["account_id"].as_str().unwrap_or_default();
    let Some(conversation) = inner.conversations.iter_mut().find(|c| c.id == id) else {
        return (
            404,
            json!({"error": "Not found", "message": "Conversation not found"}),
        );
    };
    if account_handle_of(sender) != Some(conversation.account_handle.as_str()) {
        return (
            400,
            json!({"error": "Bad Request", "message": "account_id does not own this conversation"}),
        );
    }
    conversation.messages.push(json!({
        "text": call.body["message"], "time": now_ms(), "sender": "123456789", "isSent": true
    }));
    let handle = conversation.account_handle.clone();
    (
        200,
        json!({"success": true, "message_id": format!("{}", 1_000_000 + inner.next_id), "conversation_id": id, "account_handle": handle}),
    )
}

fn update_crm(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    let id = call.body["conversation_id"].as_str().unwrap_or_default();
    if let Some(c) = inner.conversations.iter_mut().find(|c| c.id == id) {
        for field in ["notes", "deal_value", "deal_currency", "tag"] {
            if let Some(v) = call.body.get(field) {
                c.crm[field] = v.clone();
            }
        }
    }
    (200, json!({"success": true, "updated": call.body}))
}

fn schedule_tweet(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    let tweet = ScheduledTweet {
        id: format!("7f3a1b2c-4d5e-6f7a-8b9c-{:012}", inner.next_id),
        account_id: call.body["account_id"].as_str().unwrap_or_default().into(),
        text: call.body["tweet_text"].as_str().unwrap_or_default().into(),
        scheduled_at: call.body["scheduled_at"]
            .as_str()
            .unwrap_or_default()
            .into(),
        status: "pending".into(),
        error_message: None,
        posted_at: None,
    };
    let answer = json!({
        "success": true, "message": "Tweet scheduled successfully",
        "scheduled_tweet": tweet_json(&tweet)
    });
    inner.tweets.push(tweet);
    (200, answer)
}

fn tweet_json(t: &ScheduledTweet) -> Value {
    json!({
        "id": t.id, "account_id": t.account_id,
        "account_handle": account_handle_of(&t.account_id).unwrap_or(""),
        "tweet_text": t.text, "scheduled_at": t.scheduled_at, "status": t.status,
        "posted_at": t.posted_at, "error_message": t.error_message, "created_at": "2024-03-15T10:30:00.000Z"
    })
}

fn list_scheduled_tweets(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    let account = call.param("account_id");
    let status = call.param("status");
    let limit: usize = call
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50)
        .min(100);
    let offset: usize = call
        .param("offset")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let matching: Vec<&ScheduledTweet> = inner
        .tweets
        .iter()
        .filter(|t| t.status != "cancelled")
        .filter(|t| account.as_ref().is_none_or(|a| &t.account_id == a))
        .filter(|t| status.as_ref().is_none_or(|s| &t.status == s))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|t| tweet_json(t))
        .collect();
    let count = page.len();
    (
        200,
        json!({"scheduled_tweets": page, "pagination": {"limit": limit, "offset": offset, "count": count, "total": matching.len()}}),
    )
}

fn cancel_scheduled_tweet(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    let id = call.body["tweet_id"].as_str().unwrap_or_default();
    match inner.tweets.iter_mut().find(|t| t.id == id) {
        Some(t) if t.status == "pending" => {
            t.status = "cancelled".into();
            (
                200,
                json!({"success": true, "message": "Scheduled tweet cancelled", "tweet_id": id}),
            )
        }
        Some(t) if t.status == "cancelled" => (
            404,
            json!({"error": "Not found", "message": "Scheduled tweet not found"}),
        ),
        Some(_) => (
            400,
            json!({"error": "Bad Request", "message": "Only pending tweets can be cancelled"}),
        ),
        None => (
            404,
            json!({"error": "Not found", "message": "Scheduled tweet not found"}),
        ),
    }
}
