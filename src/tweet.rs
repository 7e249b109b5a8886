//! One tweet model, whatever channel a tweet arrives on.
//!
//! Each vendor shape has its own reader here — Scrapest's `ResolvedTweet` (seed
//! `000`, also the payload of a SourceEvent from `x` or `fast-x`, seed `002`),
//! the subscription WebSocket's `{id, text, user, metrics}` (seed `001`) and
//! ScrapeBadger's `tweet.detected` (seed `003`) — and all of them produce a
//! [`Tweet`]. Rules see that object as `data` (and `tweet`). Only the id is
//! required: a field a channel does not carry, or carries with another type, is
//! null, never a reason to drop the tweet.
//!
//! [`Quality`] ranks how complete a version is. A later sighting of better
//! quality (the enriched `x` payload after a `fast-x` one) replaces the stored
//! tweet and lets rules that have not yet decided on it decide again.

use serde::Serialize;
use serde_json::{Map, Value};

/// How complete a tweet version is; higher replaces lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quality {
    /// Public SSE: text cut at 100 characters.
    Truncated = 1,
    /// fast-x (not yet enriched) or a ScrapeBadger detection: text and author only.
    Partial = 2,
    /// The subscription WebSocket: text, author, a few counts.
    Basic = 3,
    /// An enriched ResolvedTweet: every field.
    Full = 4,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Author {
    pub id: Option<String>,
    pub screen_name: Option<String>,
    pub name: Option<String>,
    pub verified: Option<bool>,
    pub is_blue_verified: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub likes: Option<u64>,
    pub retweets: Option<u64>,
    pub replies: Option<u64>,
    pub quotes: Option<u64>,
    pub bookmarks: Option<u64>,
}

/// Where this version of the tweet came from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Origin {
    /// The configured stream's name (`null` for webhooks).
    pub stream: Option<String>,
    /// `scrapest` or `scrapebadger`.
    pub vendor: &'static str,
    /// e.g. `scrapest.ws`, `scrapebadger.webhook`.
    pub channel: &'static str,
    /// ScrapeBadger's monitor.
    pub monitor: Option<String>,
    pub monitor_id: Option<String>,
    /// When the vendor detected the tweet, and how long after posting (ms).
    pub detected_at: Option<String>,
    pub latency_ms: Option<i64>,
}

impl Origin {
    /// Where a message came in; the vendor's own details are filled by its reader.
    pub fn new(stream: Option<&str>, vendor: &'static str, channel: &'static str) -> Self {
        Origin {
            stream: stream.map(str::to_string),
            vendor,
            channel,
            ..Origin::default()
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tweet {
    pub id: String,
    pub url: String,
    pub text: Option<String>,
    pub lang: Option<String>,
    pub created_at: Option<String>,
    pub conversation_id: Option<String>,
    pub author: Author,
    pub counts: Counts,
    pub is_retweet: Option<bool>,
    pub retweeted_id: Option<String>,
    pub is_reply: Option<bool>,
    pub in_reply_to_id: Option<String>,
    pub is_quote: Option<bool>,
    pub quoted_id: Option<String>,
    pub media: Option<Value>,
    pub entities: Option<Value>,
    /// The text is cut short (public SSE keeps the first 100 characters).
    pub truncated: bool,
    /// A fast-x version, before enrichment.
    pub fast: bool,
    pub origin: Origin,
    #[serde(skip)]
    pub quality: Option<Quality>,
}

/// Why a message could not be read as a tweet (the message is quarantined).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotATweet(pub String);

fn string(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn count(obj: &Map<String, Value>, key: &str) -> Option<u64> {
    obj.get(key).and_then(Value::as_u64)
}

fn flag(obj: &Map<String, Value>, key: &str) -> Option<bool> {
    obj.get(key).and_then(Value::as_bool)
}

fn object<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    obj.get(key).and_then(Value::as_object)
}

/// Any non-null value of `key` (media, entities: kept as the vendor sent them).
fn present(obj: &Map<String, Value>, key: &str) -> Option<Value> {
    obj.get(key).filter(|v| !v.is_null()).cloned()
}

fn id_of(obj: &Map<String, Value>, key: &str, what: &str) -> Result<String, NotATweet> {
    string(obj, key)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| NotATweet(format!("{what}: expected a tweet id string in `{key}`")))
}

fn status_url(screen_name: Option<&str>, id: &str) -> String {
    match screen_name {
        Some(name) => format!("https://x.com/{name}/status/{id}"),
        None => format!("https://x.com/i/status/{id}"),
    }
}

impl Tweet {
    fn new(id: String, author: Author, quality: Quality, origin: Origin) -> Self {
        Tweet {
            url: status_url(author.screen_name.as_deref(), &id),
            id,
            text: None,
            lang: None,
            created_at: None,
            conversation_id: None,
            author,
            counts: Counts::default(),
            is_retweet: None,
            retweeted_id: None,
            is_reply: None,
            in_reply_to_id: None,
            is_quote: None,
            quoted_id: None,
            media: None,
            entities: None,
            truncated: quality == Quality::Truncated,
            fast: false,
            origin,
            quality: Some(quality),
        }
    }

    /// A Scrapest `ResolvedTweet` (seed `000`), or the payload of a SourceEvent
    /// from `x` / `fast-x`. `fast` marks a fast-x version; `truncated` the public SSE.
    pub fn from_resolved(
        value: &Value,
        origin: Origin,
        fast: bool,
        truncated: bool,
    ) -> Result<Tweet, NotATweet> {
        let obj = value
            .as_object()
            .ok_or_else(|| NotATweet("expected a tweet object".into()))?;
        let id = id_of(obj, "id", "tweet")?;
        let author = object(obj, "author").map_or_else(Author::default, |a| Author {
            id: string(a, "id"),
            screen_name: string(a, "screen_name").or_else(|| string(a, "username")),
            name: string(a, "name"),
            verified: flag(a, "verified"),
            is_blue_verified: flag(a, "is_blue_verified"),
        });
        let quality = match (truncated, fast) {
            (true, _) => Quality::Truncated,
            (false, true) => Quality::Partial,
            (false, false) => Quality::Full,
        };
        let mut tweet = Tweet::new(id, author, quality, origin);
        tweet.fast = fast;
        tweet.text = string(obj, "note_tweet_text").or_else(|| string(obj, "text"));
        tweet.lang = string(obj, "lang");
        tweet.created_at = string(obj, "created_at");
        tweet.conversation_id = string(obj, "conversation_id");
        tweet.counts = Counts {
            likes: count(obj, "favorite_count"),
            retweets: count(obj, "retweet_count"),
            replies: count(obj, "reply_count"),
            quotes: count(obj, "quote_count"),
            bookmarks: count(obj, "bookmark_count"),
        };
        let related = |key: &str| object(obj, key).and_then(|t| string(t, "id"));
        tweet.retweeted_id = related("retweeted");
        tweet.is_retweet =
            flag(obj, "retweeted_tweet").or(tweet.retweeted_id.as_ref().map(|_| true));
        tweet.quoted_id = related("quoted_tweet");
        tweet.is_quote = match obj.get("quoted_tweet") {
            Some(Value::Null) => Some(false),
            Some(_) => Some(true),
            None => None,
        };
        tweet.in_reply_to_id = string(obj, "in_reply_to_status_id");
        tweet.is_reply = match obj.get("in_reply_to_status_id") {
            Some(Value::Null) => Some(false),
            Some(_) => Some(true),
            None => None,
        };
        tweet.media = present(obj, "media");
        tweet.entities = present(obj, "entities");
        Ok(tweet)
    }

    /// The subscription WebSocket's `data` (seed `001`): `{id, text, user, created_at, metrics}`.
    pub fn from_filter(value: &Value, origin: Origin) -> Result<Tweet, NotATweet> {
        let obj = value
            .as_object()
            .ok_or_else(|| NotATweet("data: expected a tweet object".into()))?;
        let id = id_of(obj, "id", "data")?;
        let author = object(obj, "user").map_or_else(Author::default, |u| Author {
            id: string(u, "id"),
            screen_name: string(u, "username"),
            name: string(u, "name"),
            ..Author::default()
        });
        let mut tweet = Tweet::new(id, author, Quality::Basic, origin);
        tweet.text = string(obj, "text");
        tweet.created_at = string(obj, "created_at");
        tweet.lang = string(obj, "lang");
        if let Some(m) = object(obj, "metrics") {
            tweet.counts.likes = count(m, "likes");
            tweet.counts.retweets = count(m, "retweets");
            tweet.counts.replies = count(m, "replies");
        }
        Ok(tweet)
    }

    /// A ScrapeBadger `tweet.detected` event (seed `003`).
    pub fn from_detected(value: &Value, mut origin: Origin) -> Result<Tweet, NotATweet> {
        let obj = value
            .as_object()
            .ok_or_else(|| NotATweet("expected a tweet.detected object".into()))?;
        let id = id_of(obj, "tweet_id", "tweet.detected")?;
        origin.monitor = string(obj, "monitor_name");
        origin.monitor_id = string(obj, "monitor_id");
        origin.detected_at = string(obj, "detected_at");
        origin.latency_ms = obj.get("latency_ms").and_then(Value::as_i64);
        let author = Author {
            screen_name: string(obj, "author_username"),
            ..Author::default()
        };
        let mut tweet = Tweet::new(id, author, Quality::Partial, origin);
        tweet.text = string(obj, "tweet_text");
        tweet.created_at = string(obj, "tweet_published_at");
        if let Some(url) = string(obj, "tweet_url") {
            tweet.url = url;
        }
        Ok(tweet)
    }

    pub fn dedupe_key(&self) -> String {
        format!("tweet:{}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin() -> Origin {
        Origin {
            vendor: "scrapest",
            channel: "scrapest.ws",
            ..Origin::default()
        }
    }

    #[test]
    fn seed_resolved_tweet_fills_the_model() {
        let seed = json!({
            "id": "1760123456789012345", "text": "short", "created_at": "2024-02-21T00:00:00.000Z",
            "lang": "en", "favorite_count": 42, "retweet_count": 5, "reply_count": 3,
            "quote_count": 1, "bookmark_count": 10,
            "author": {"id": "44196397", "name": "Elon Musk", "screen_name": "elonmusk",
                       "verified": false, "is_blue_verified": true},
            "entities": {"hashtags": [], "user_mentions": [], "urls": []},
            "media": null, "retweeted_tweet": false, "retweeted": null, "quoted_tweet": null,
            "note_tweet_text": "the long version", "in_reply_to_status_id": null,
            "conversation_id": "1760123456789012345"
        });
        let t = Tweet::from_resolved(&seed, origin(), false, false).unwrap();
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["text"], "the long version");
        assert_eq!(
            v["url"],
            "https://x.com/elonmusk/status/1760123456789012345"
        );
        assert_eq!(v["counts"]["likes"], 42);
        assert_eq!(v["author"]["is_blue_verified"], true);
        assert_eq!(v["is_reply"], false);
        assert_eq!(v["is_quote"], false);
        assert_eq!(v["is_retweet"], false);
        assert_eq!(v["media"], Value::Null);
        assert_eq!(v["fast"], false);
        assert_eq!(t.quality, Some(Quality::Full));
    }

    #[test]
    fn missing_or_mistyped_fields_are_null_but_the_id_is_required() {
        let t = Tweet::from_resolved(
            &json!({"id": "1", "favorite_count": "many"}),
            origin(),
            true,
            false,
        )
        .unwrap();
        assert_eq!(t.counts.likes, None);
        assert_eq!(t.url, "https://x.com/i/status/1");
        assert!(t.fast);
        assert!(Tweet::from_resolved(&json!({"text": "no id"}), origin(), false, false).is_err());
        assert!(Tweet::from_filter(&json!([1]), origin()).is_err());
    }

    #[test]
    fn filter_and_scrapebadger_shapes_map_onto_the_model() {
        let f = Tweet::from_filter(
            &json!({"id": "9", "text": "t", "user": {"id": "u", "username": "bob", "name": "Bob"},
                    "metrics": {"retweets": 10, "likes": 25, "replies": 5}}),
            origin(),
        )
        .unwrap();
        assert_eq!(f.author.screen_name.as_deref(), Some("bob"));
        assert_eq!(f.counts.likes, Some(25));
        assert_eq!(f.quality, Some(Quality::Basic));
        let b = Tweet::from_detected(
            &json!({"event": "tweet.detected", "monitor_id": "abc-123", "monitor_name": "Tech Leaders",
                    "tweet_id": "1234567890", "author_username": "elonmusk", "tweet_text": "Just announced...",
                    "tweet_url": "https://x.com/elonmusk/status/1234567890", "latency_ms": 150}),
            origin(),
        )
        .unwrap();
        assert_eq!(b.origin.monitor.as_deref(), Some("Tech Leaders"));
        assert_eq!(b.origin.latency_ms, Some(150));
        assert_eq!(b.dedupe_key(), "tweet:1234567890");
        assert!(Quality::Full > Quality::Partial && Quality::Partial > Quality::Truncated);
    }
}
