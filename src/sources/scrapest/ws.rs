//! Scrapest's WebSocket `wss://scrape.st/ws` (seeds `000` and `002`): connect
//! with the key in the `x-api-key` header and the query options `useFastX` /
//! `ignoreFullPayload`; the server pings every 30 s and drops a client silent
//! for 60 s, and answers a text `ping` with `pong`. Messages are read by
//! [`super::read`].

use super::{read, with_options};
use crate::event::{self, NewEvent};
use crate::sources::websocket;
use crate::sources::{Ended, Rejection, StreamContext};
use time::OffsetDateTime;
use tokio_tungstenite::tungstenite::client::ClientRequestBuilder;

pub async fn run(ctx: &StreamContext) -> Ended {
    let url = with_options(
        ctx.settings.url(),
        ctx.settings.use_fast_x,
        ctx.settings.ignore_full_payload,
    );
    let uri = match url.parse() {
        Ok(uri) => uri,
        Err(e) => return Ended::Refused(format!("bad url: {e}")),
    };
    let key = ctx.settings.api_key.as_ref().map_or("", |k| k.expose());
    let request = ClientRequestBuilder::new(uri).with_header("x-api-key", key);
    websocket::run(ctx, request, Vec::new(), read_ws).await
}

fn read_ws(
    ctx: &StreamContext,
    text: &str,
    at: OffsetDateTime,
) -> Result<Option<NewEvent>, Rejection> {
    read(
        text,
        at,
        event::CHANNEL_SCRAPEST_WS,
        Some(&ctx.settings.name),
    )
    .map(Some)
}
