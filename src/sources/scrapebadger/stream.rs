//! ScrapeBadger's WebSocket `wss://scrapebadger.com/v1/twitter/stream?api_key=…`
//! (seed `003`): `tweet.detected` events from every monitor and filter rule of
//! the key, heartbeat pings every 30 s. The key travels in the URL, so the URL
//! is never logged (errors pass through [`StreamContext::scrub`]).

use super::read;
use crate::event::{self, NewEvent};
use crate::sources::websocket;
use crate::sources::{Ended, Rejection, StreamContext};
use time::OffsetDateTime;
use tokio_tungstenite::tungstenite::client::ClientRequestBuilder;

pub async fn run(ctx: &StreamContext) -> Ended {
    let key = ctx.settings.api_key.as_ref().map_or("", |k| k.expose());
    let base = ctx.settings.url();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}api_key={}", encode(key));
    let uri = match url.parse() {
        Ok(uri) => uri,
        Err(_) => return Ended::Refused("the stream URL with its key is not a valid URI".into()),
    };
    websocket::run(ctx, ClientRequestBuilder::new(uri), Vec::new(), read_ws).await
}

/// Percent-encodes a key for a query string (keys are usually URL-safe already).
fn encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn read_ws(
    ctx: &StreamContext,
    text: &str,
    at: OffsetDateTime,
) -> Result<Option<NewEvent>, Rejection> {
    read(
        text,
        at,
        event::CHANNEL_SCRAPEBADGER_WS,
        Some(&ctx.settings.name),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_percent_encoded() {
        assert_eq!(super::encode("a b/c"), "a%20b%2Fc");
    }
}
