//! The WebSocket loop shared by `scrapest`, `scrapest_filter` and `scrapebadger`:
//! handshake (401 told apart), messages to send once open (subscriptions), then
//! read until the connection ends. Ping frames are answered by tungstenite as it
//! reads; a text `ping` goes out every `text_ping_secs` where configured (the
//! server's text `pong` is not a message); silence past `idle_timeout_secs` —
//! no frame of any kind — ends the connection as dead.

use super::Rejection;
use super::{Ended, StreamContext};
use crate::event::NewEvent;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message, client::ClientRequestBuilder};

/// Reads one text message into an event to store, nothing, or a rejection.
pub type Reader = fn(&StreamContext, &str, OffsetDateTime) -> Result<Option<NewEvent>, Rejection>;

/// Connects with `request`, sends `on_open`, then reads with `read` until the end.
pub async fn run(
    ctx: &StreamContext,
    request: ClientRequestBuilder,
    on_open: Vec<String>,
    read: Reader,
) -> Ended {
    let connect = tokio_tungstenite::connect_async(request);
    let limit = Duration::from_secs(ctx.streaming.connect_timeout_secs.max(1));
    let mut ws = tokio::select! {
        _ = ctx.stop.cancelled() => return Ended::Stopped,
        result = timeout(limit, connect) => match result {
            Err(_) => return Ended::Refused(format!("no handshake within {} s", limit.as_secs())),
            Ok(Err(error)) => return handshake_error(ctx, error),
            Ok(Ok((ws, _response))) => ws,
        },
    };
    ctx.status().connected();
    tracing::info!(stream = %ctx.settings.name, kind = ctx.settings.kind.as_str(), "Stream connected");
    for message in on_open {
        if let Err(error) = send(ctx, &mut ws, message).await {
            return Ended::Dropped(ctx.scrub(&error.to_string()));
        }
    }
    let idle = Duration::from_secs(ctx.settings.idle_timeout_secs());
    let mut deadline = Instant::now() + idle;
    let ping_secs = ctx.settings.text_ping_secs();
    let mut ping = tokio::time::interval(Duration::from_secs(ping_secs.max(1)));
    ping.tick().await;
    loop {
        tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => {
                let frame = CloseFrame { code: CloseCode::Normal, reason: "client shutting down".into() };
                let _ = timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
                return Ended::Stopped;
            }
            next = ws.next() => {
                deadline = Instant::now() + idle;
                match next {
                    None => return Ended::Dropped("the connection ended without a close frame".into()),
                    Some(Err(error)) => return Ended::Dropped(ctx.scrub(&error.to_string())),
                    Some(Ok(message)) => {
                        if let Some(ended) = on_message(ctx, message, read).await {
                            return ended;
                        }
                    }
                }
            }
            _ = sleep_until(deadline) => return Ended::Idle(idle),
            _ = ping.tick(), if ping_secs > 0 => {
                if let Err(error) = send(ctx, &mut ws, "ping".into()).await {
                    return Ended::Dropped(ctx.scrub(&error.to_string()));
                }
            }
        }
    }
}

async fn on_message(ctx: &StreamContext, message: Message, read: Reader) -> Option<Ended> {
    let text = match message {
        Message::Text(text) => text.to_string(),
        Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        // tungstenite queues the pong and sends it with the next read.
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return None,
        Message::Close(frame) => {
            let (code, reason) = frame.map_or((1005, String::new()), |f| {
                (u16::from(f.code), f.reason.to_string())
            });
            return Some(Ended::Closed { code, reason });
        }
    };
    if text.trim().eq_ignore_ascii_case("pong") || text.trim().eq_ignore_ascii_case("ping") {
        return None;
    }
    let received_at = OffsetDateTime::now_utc();
    let outcome = read(ctx, &text, received_at);
    ctx.ingest.accept(outcome, &text, received_at).await;
    None
}

async fn send<S>(ctx: &StreamContext, ws: &mut S, text: String) -> Result<(), tungstenite::Error>
where
    S: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    if let Some(limiter) = &ctx.send_limit {
        limiter.wait().await;
    }
    ws.send(Message::text(text)).await
}

fn handshake_error(ctx: &StreamContext, error: tungstenite::Error) -> Ended {
    match error {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(|b| {
                    String::from_utf8_lossy(&b[..b.len().min(200)])
                        .trim()
                        .to_string()
                })
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
            let body = ctx.scrub(&body);
            if status == http::StatusCode::UNAUTHORIZED {
                Ended::Unauthorized(body)
            } else {
                Ended::Refused(format!("HTTP {} at the handshake: {body}", status.as_u16()))
            }
        }
        other => Ended::Refused(ctx.scrub(&other.to_string())),
    }
}
