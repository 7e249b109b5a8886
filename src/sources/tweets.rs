//! A tweet as an event, the same on every vendor's channel.

use crate::event::{NewEvent, Sighting};
use crate::tweet::Tweet;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A tweet as an event of kind `tweet`, keyed by its id on every channel.
pub fn tweet_event(
    source: &'static str,
    tweet: Tweet,
    received_at: OffsetDateTime,
    channel: &'static str,
    sighting: Option<Box<Sighting>>,
) -> NewEvent {
    let vendor_ts = tweet
        .created_at
        .as_deref()
        .and_then(|c| OffsetDateTime::parse(c, &Rfc3339).ok());
    NewEvent {
        source,
        kind: "tweet".into(),
        dedupe_key: tweet.dedupe_key(),
        vendor_ts,
        received_at,
        channel,
        quality: tweet.quality.map_or(0, |q| q as i16),
        payload: serde_json::to_string(&tweet).expect("a tweet serializes"),
        sighting,
        intent: None,
    }
}
