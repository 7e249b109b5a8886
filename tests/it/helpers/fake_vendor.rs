//! A fake Scrapely API and Slack webhook on 127.0.0.1: speaks seed `004`'s shapes
//! over real HTTP, records every request, and can be told to fail, to hold a
//! call open, or to enforce a rate limit.

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
pub const ACCOUNT_ID: &str = "550e8400-e29b-41d4-a716-446655440000";
pub const SLACK_PATH: &str = "/slack/services/T000/B000/slacksecret";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub api_key: Option<String>,
    pub body: Value,
    pub at: Instant,
    pub wall: std::time::SystemTime,
}

/// A scripted answer for the next call to a path.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16, Value),
    /// Answer with extra headers.
    WithHeaders(u16, Value, Vec<(&'static str, String)>),
    /// Never answer (the call stays open until the client gives up or dies).
    Hold,
    /// Never answer, and for a DM: never send it either.
    HoldUnsent,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    script: HashMap<String, VecDeque<Reply>>,
    conversations: HashMap<String, Vec<Value>>,
    paused: bool,
    limit: Option<(usize, Duration)>,
    limited_arrivals: VecDeque<Instant>,
    rate_limited: usize,
    next_id: u64,
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

    /// Makes `GET /accounts` list the account as paused (or active again).
    pub fn set_paused(&self, paused: bool) {
        self.inner.lock().unwrap().paused = paused;
    }

    /// Enforces `limit` calls per sliding `window` (by arrival), answering 429 beyond it.
    pub fn limit(&self, limit: usize, window: Duration) {
        self.inner.lock().unwrap().limit = Some((limit, window));
    }

    pub fn rate_limited(&self) -> usize {
        self.inner.lock().unwrap().rate_limited
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
    let reply = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            api_key: api_key.clone(),
            body: body.clone(),
            at: Instant::now(),
            wall: std::time::SystemTime::now(),
        });
        inner.next_id += 1;
        decide(
            &mut inner,
            &method,
            &path,
            &query,
            api_key.as_deref(),
            &body,
        )
    };
    changed.notify_waiters();
    let request_id = format!("req_fake{}", inner.lock().unwrap().next_id);
    match reply {
        Reply::Hold | Reply::HoldUnsent => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Reply::Status(status, body) => respond(status, body, vec![], request_id),
        Reply::WithHeaders(status, body, extra) => respond(status, body, extra, request_id),
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

fn decide(
    inner: &mut Inner,
    method: &Method,
    path: &str,
    query: &str,
    api_key: Option<&str>,
    body: &Value,
) -> Reply {
    if path.starts_with("/slack/") {
        if let Some(reply) = inner.script.get_mut(path).and_then(VecDeque::pop_front) {
            return reply;
        }
        return Reply::Status(200, json!("ok"));
    }
    if path.starts_with("/hook") {
        return Reply::Status(200, json!({"ok": true}));
    }
    if api_key != Some(API_KEY) {
        return Reply::Status(
            401,
            json!({"error": "Unauthorized", "message": "Invalid API key"}),
        );
    }
    if let Some((limit, window)) = inner.limit {
        let now = Instant::now();
        while inner
            .limited_arrivals
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            inner.limited_arrivals.pop_front();
        }
        if inner.limited_arrivals.len() >= limit {
            inner.rate_limited += 1;
            return Reply::Status(
                429,
                json!({"error": "Rate limited", "message": "Too many requests. Please try again later.", "retry_after": window.as_secs().max(1)}),
            );
        }
        inner.limited_arrivals.push_back(now);
    }
    let scripted = inner.script.get_mut(path).and_then(VecDeque::pop_front);
    let path = path.trim_start_matches("/api/v1");
    // A DM that is held open has still been sent, as a real vendor may do.
    if let (Some(reply), false) = (
        scripted.clone(),
        method == Method::POST && path == "/dm/send",
    ) {
        return reply;
    }
    match (method.as_str(), path) {
        ("GET", "/accounts") => Reply::Status(
            200,
            json!({"accounts": [{
                "id": ACCOUNT_ID, "handle": "yourhandle", "name": "Your Name",
                "is_active": true, "is_verified": true, "dms_sent": 1250,
                "is_paused": inner.paused, "followups_paused": false, "warmup_paused": false
            }]}),
        ),
        ("GET", "/crm/conversations") => Reply::Status(
            200,
            json!({
                "columns": {}, "custom_tags": [{"id": "uuid", "name": "Hot Lead", "color": "#ff0000", "key": "custom_uuid"}],
                "base_tags": ["unread", "interested_reply", "negative_reply", "neutral_reply", "engaged", "calendlyd", "booked", "not_interested", "not_qualified"]
            }),
        ),
        ("GET", "/conversations") if query.contains("handle=") => {
            let found = query.split('&').any(|kv| kv == "handle=prospect");
            let conversations = if found {
                json!([{"conversation_id": "123456789-987654321", "account_handle": "yourhandle", "receiver": {"screen_name": "prospect"}}])
            } else {
                json!([])
            };
            Reply::Status(
                200,
                json!({"conversations": conversations, "pagination": {"limit": 1, "count": 1, "has_more": false}}),
            )
        }
        ("GET", "/conversations") => {
            let id = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("conversation_id="))
                .unwrap_or_default()
                .to_string();
            let messages = inner.conversations.get(&id).cloned().unwrap_or_default();
            Reply::Status(
                200,
                json!({"conversation": {"conversation_id": id, "account_handle": "yourhandle", "messages": messages}}),
            )
        }
        ("POST", "/dm/send") if matches!(scripted, Some(Reply::HoldUnsent)) => Reply::Hold,
        ("POST", "/dm/send") => {
            let id = body["conversation_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(Reply::Status(status, _) | Reply::WithHeaders(status, _, _)) = &scripted
                && *status >= 400
            {
                return scripted.unwrap();
            }
            let time = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            inner
                .conversations
                .entry(id.clone())
                .or_default()
                .push(json!({
                    "text": body["message"], "time": time, "sender": "123456789", "isSent": true
                }));
            scripted.unwrap_or(Reply::Status(200, json!({
                "success": true, "message_id": "1234567890123456789", "conversation_id": id, "account_handle": "yourhandle"
            })))
        }
        ("PATCH", "/crm/update") => Reply::Status(200, json!({"success": true, "updated": body})),
        ("POST", "/scheduled-tweets") => Reply::Status(
            200,
            json!({
                "success": true, "message": "Tweet scheduled successfully",
                "scheduled_tweet": {"id": "7f3a1b2c-4d5e-6f7a-8b9c-0d1e2f3a4b5c", "status": "pending",
                    "account_id": body["account_id"], "tweet_text": body["tweet_text"], "scheduled_at": body["scheduled_at"]}
            }),
        ),
        ("DELETE", "/scheduled-tweets") => Reply::Status(
            200,
            json!({"success": true, "message": "Scheduled tweet cancelled", "tweet_id": body["tweet_id"]}),
        ),
        _ => Reply::Status(404, json!({"error": "Not found"})),
    }
}
