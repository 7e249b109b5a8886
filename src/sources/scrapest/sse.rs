//! Scrapest's Server-Sent Events (seed `002`): the public stream
//! `https://scrape.st/stream` (no key; tweet text cut at 100 characters, so its
//! tweets are marked `truncated`) and the private stream `…/stream?token=…`, whose
//! token comes from `POST …/stream/token` with the key in `x-api-key`. The token
//! is kept across reconnects and fetched again when the stream refuses it.
//!
//! Events are parsed by `eventsource-stream` (multi-line `data:`, comments,
//! `id:` and `retry:`); comments count as signs of life for the idle limit, and
//! the last event id is sent back as `Last-Event-ID` on reconnect, as an
//! EventSource would.

use crate::event::{self, NewEvent};
use crate::secret::Secret;
use crate::sources::{Ended, StreamContext, scrapest};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::Value;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::{Instant, sleep_until, timeout};

/// What the private stream keeps between connections.
#[derive(Default)]
pub struct SseState {
    token: Mutex<Option<Secret>>,
    last_event_id: Mutex<Option<String>>,
}

pub async fn run(ctx: &StreamContext) -> Ended {
    let private = ctx.settings.api_key.is_some();
    let mut fetched_now = false;
    loop {
        let token = if private {
            let cached = ctx.sse.token.lock().expect("lock").clone();
            match cached {
                Some(token) => Some(token),
                None => match fetch_token(ctx).await {
                    Ok(token) => {
                        fetched_now = true;
                        *ctx.sse.token.lock().expect("lock") = Some(token.clone());
                        Some(token)
                    }
                    Err(ended) => return ended,
                },
            }
        } else {
            None
        };
        match connect(ctx, token.as_ref()).await {
            Connected::Refused(status)
                if private && !fetched_now && matches!(status, 401 | 403) =>
            {
                tracing::info!(stream = %ctx.settings.name, status, "The private stream refused its token; fetching a new one");
                *ctx.sse.token.lock().expect("lock") = None;
            }
            Connected::Refused(401) => {
                *ctx.sse.token.lock().expect("lock") = None;
                return Ended::Unauthorized("the stream refused a freshly issued token".into());
            }
            Connected::Refused(status) => {
                return Ended::Refused(format!("HTTP {status} from the stream"));
            }
            Connected::Failed(ended) => return ended,
            Connected::Open(response) => return read(ctx, response).await,
        }
    }
}

enum Connected {
    Open(reqwest::Response),
    Refused(u16),
    Failed(Ended),
}

/// `POST <stream url>/token` with the key; the answer is `{"token": …}` (or the token as text).
async fn fetch_token(ctx: &StreamContext) -> Result<Secret, Ended> {
    let base = ctx
        .settings
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    let key = ctx.settings.api_key.as_ref().map_or("", |k| k.expose());
    let request = ctx
        .http
        .post(format!("{base}/token"))
        .header("x-api-key", key)
        .send();
    let limit = Duration::from_secs(ctx.streaming.connect_timeout_secs.max(1));
    let response = match timeout(limit, request).await {
        Err(_) => {
            return Err(Ended::Refused(
                "the token endpoint did not answer in time".into(),
            ));
        }
        Ok(Err(e)) => return Err(Ended::Refused(ctx.scrub(&format!("token endpoint: {e}")))),
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(Ended::Unauthorized(format!(
            "POST /stream/token: {}",
            ctx.scrub(body.trim())
        )));
    }
    if !status.is_success() {
        return Err(Ended::Refused(format!(
            "POST /stream/token answered HTTP {}",
            status.as_u16()
        )));
    }
    let token = match serde_json::from_str::<Value>(&body) {
        Ok(v) => v
            .get("token")
            .or_else(|| v.pointer("/data/token"))
            .and_then(Value::as_str)
            .map(str::to_string),
        Err(_) => Some(body.trim().to_string())
            .filter(|t| !t.is_empty() && !t.contains(char::is_whitespace)),
    };
    token
        .map(Secret::new)
        .ok_or_else(|| Ended::Refused("POST /stream/token answered without a `token`".into()))
}

async fn connect(ctx: &StreamContext, token: Option<&Secret>) -> Connected {
    let mut url = ctx.settings.url().to_string();
    if let Some(token) = token {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("token=");
        url.push_str(token.expose());
    }
    let url = scrapest::with_options(
        &url,
        ctx.settings.use_fast_x,
        ctx.settings.ignore_full_payload,
    );
    let mut request = ctx.http.get(url).header("Accept", "text/event-stream");
    if let Some(id) = ctx.sse.last_event_id.lock().expect("lock").clone() {
        request = request.header("Last-Event-ID", id);
    }
    let limit = Duration::from_secs(ctx.streaming.connect_timeout_secs.max(1));
    let response = tokio::select! {
        _ = ctx.stop.cancelled() => return Connected::Failed(Ended::Stopped),
        r = timeout(limit, request.send()) => r,
    };
    match response {
        Err(_) => Connected::Failed(Ended::Refused(format!(
            "no response within {} s",
            limit.as_secs()
        ))),
        Ok(Err(e)) => {
            let detail = ctx.scrub(&e.to_string());
            let detail = token.map_or(detail.clone(), |t| detail.replace(t.expose(), "***"));
            Connected::Failed(Ended::Refused(detail))
        }
        Ok(Ok(r)) if r.status().is_success() => Connected::Open(r),
        Ok(Ok(r)) => Connected::Refused(r.status().as_u16()),
    }
}

/// Reads events until the stream ends, is silent too long, or `stop`.
async fn read(ctx: &StreamContext, response: reqwest::Response) -> Ended {
    let channel = if ctx.settings.api_key.is_some() {
        event::CHANNEL_SCRAPEST_SSE
    } else {
        event::CHANNEL_SCRAPEST_SSE_PUBLIC
    };
    ctx.status().connected();
    tracing::info!(stream = %ctx.settings.name, kind = "scrapest_sse", "Stream connected");
    let idle = Duration::from_secs(ctx.settings.idle_timeout_secs());
    let activity = std::sync::Arc::new(Mutex::new(Instant::now()));
    let seen = activity.clone();
    // Every chunk, comments included, is a sign of life.
    let bytes = response
        .bytes_stream()
        .inspect(move |_| *seen.lock().expect("lock") = Instant::now());
    let mut events = bytes.eventsource();
    loop {
        let deadline = *activity.lock().expect("lock") + idle;
        tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => return Ended::Stopped,
            next = events.next() => match next {
                None => return Ended::Dropped("the server ended the event stream".into()),
                Some(Err(e)) => return Ended::Dropped(ctx.scrub(&e.to_string())),
                Some(Ok(ev)) => {
                    if !ev.id.is_empty() {
                        *ctx.sse.last_event_id.lock().expect("lock") = Some(ev.id.clone());
                    }
                    if ev.data.trim().is_empty() {
                        continue;
                    }
                    let at = OffsetDateTime::now_utc();
                    let outcome: Result<Option<NewEvent>, _> =
                        scrapest::read(&ev.data, at, channel, Some(&ctx.settings.name)).map(Some);
                    ctx.ingest.accept(outcome, &ev.data, at).await;
                }
            },
            _ = sleep_until(deadline) => {
                if *activity.lock().expect("lock") + idle <= Instant::now() {
                    return Ended::Idle(idle);
                }
            }
        }
    }
}
