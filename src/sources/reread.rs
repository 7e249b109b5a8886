//! Reading a quarantined body again (`starling quarantine replay`): the body goes
//! through the normalizer of the source and channel it arrived on, exactly as a
//! new delivery would — a webhook through its vendor's `normalize`, a stream
//! message through its protocol's reader — so a fix or an upgrade that accepts
//! the shape accepts the kept body too, and anything still wrong is said in the
//! normalizer's own words.

use super::{Rejection, scrapebadger, scrapely, scrapest};
use crate::event::{self, NewEvent};
use time::OffsetDateTime;

/// The `(source, channel)` pairs a quarantine row can name, as in the table.
pub const KNOWN: &[(&str, &str)] = &[
    (scrapely::SOURCE, event::CHANNEL_WEBHOOK),
    (scrapest::SOURCE, event::CHANNEL_WEBHOOK),
    (scrapebadger::SOURCE, event::CHANNEL_WEBHOOK),
    (scrapest::SOURCE, event::CHANNEL_SCRAPEST_WS),
    (scrapest::SOURCE, event::CHANNEL_SCRAPEST_SSE),
    (scrapest::SOURCE, event::CHANNEL_SCRAPEST_SSE_PUBLIC),
    (scrapest::SOURCE, event::CHANNEL_SCRAPEST_FILTER),
    (scrapebadger::SOURCE, event::CHANNEL_SCRAPEBADGER_WS),
];

/// Reads `body`, kept from `source` over `channel`, as if it arrived at `at`.
/// `Ok(None)`: today's reader takes the message but it carries no event (an
/// acknowledgement, a ScrapeBadger message that is not a tweet). A stream
/// message is read without its stream's name, which the quarantine does not keep.
pub fn reread(
    source: &str,
    channel: &str,
    body: &[u8],
    at: OffsetDateTime,
) -> Result<Option<NewEvent>, Rejection> {
    let text = || Rejection::utf8(body, "expected the stream's JSON message");
    match (source, channel) {
        ("scrapely", event::CHANNEL_WEBHOOK) => scrapely::normalize(body, at).map(Some),
        ("scrapest", event::CHANNEL_WEBHOOK) => scrapest::normalize_webhook(body, at).map(Some),
        ("scrapebadger", event::CHANNEL_WEBHOOK) => {
            scrapebadger::normalize_webhook(body, at).map(Some)
        }
        ("scrapest", event::CHANNEL_SCRAPEST_FILTER) => scrapest::filter::read(text()?, at, None),
        ("scrapest", channel) => {
            let channel = [
                event::CHANNEL_SCRAPEST_WS,
                event::CHANNEL_SCRAPEST_SSE,
                event::CHANNEL_SCRAPEST_SSE_PUBLIC,
            ]
            .into_iter()
            .find(|c| *c == channel)
            .ok_or_else(|| unknown(source, channel))?;
            scrapest::read(text()?, at, channel, None).map(Some)
        }
        ("scrapebadger", event::CHANNEL_SCRAPEBADGER_WS) => {
            scrapebadger::read(text()?, at, event::CHANNEL_SCRAPEBADGER_WS, None)
        }
        _ => Err(unknown(source, channel)),
    }
}

fn unknown(source: &str, channel: &str) -> Rejection {
    let known: Vec<String> = KNOWN.iter().map(|(s, c)| format!("{s}/{c}")).collect();
    Rejection::Malformed(format!(
        "no reader for source `{source}` over channel `{channel}`; expected one of {}",
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_known_channel_has_a_reader_and_an_unknown_one_is_named() {
        let now = OffsetDateTime::now_utc();
        for (source, channel) in KNOWN {
            // Not JSON: every reader refuses it in its own words, none is unknown.
            let refused = reread(source, channel, b"{not json", now).unwrap_err();
            assert!(
                matches!(refused, Rejection::NotJson(_)),
                "{source}/{channel}: {refused:?}"
            );
        }
        let Rejection::Malformed(why) = reread("slack", "webhook", b"{}", now).unwrap_err() else {
            panic!("an unknown source is malformed")
        };
        assert!(
            why.contains("`slack`") && why.contains("scrapely/webhook"),
            "{why}"
        );
    }

    #[test]
    fn a_stream_message_is_read_by_its_protocol() {
        let now = OffsetDateTime::now_utc();
        let detected = br#"{"event":"tweet.detected","tweet_id":"42","author_username":"a","tweet_text":"hi"}"#;
        let event = reread("scrapebadger", "scrapebadger.ws", detected, now)
            .unwrap()
            .unwrap();
        assert_eq!(event.dedupe_key, "tweet:42");
        assert_eq!(event.channel, event::CHANNEL_SCRAPEBADGER_WS);
        let heartbeat = br#"{"event":"heartbeat"}"#;
        assert!(
            reread("scrapebadger", "scrapebadger.ws", heartbeat, now)
                .unwrap()
                .is_none()
        );
    }
}
