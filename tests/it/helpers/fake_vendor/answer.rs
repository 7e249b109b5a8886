//! How the fake answers a request: it records the call, plays the test's script
//! for that path (a 5xx after acting, a dropped connection, a call held open),
//! enforces its `X-RateLimit-*` window, and otherwise routes to its endpoint.

use super::endpoints::*;
use super::*;

/// What a handler decided: the answer, or how to fail.
enum Outcome {
    Answer(u16, Value, Vec<(&'static str, String)>),
    Hold,
    Drop,
}

pub(super) async fn handle(State((inner, changed)): State<Shared>, request: Request) -> Response {
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

pub(super) struct Call<'a> {
    pub(super) method: &'a Method,
    pub(super) path: &'a str,
    pub(super) query: &'a str,
    pub(super) body: &'a Value,
    pub(super) authorization: Option<&'a str>,
}

impl Call<'_> {
    pub(super) fn param(&self, name: &str) -> Option<String> {
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

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
