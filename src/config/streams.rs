//! `[[streams]]` (one table per stream connection) and `[streaming]` (what they share).

use super::ConfigError;
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::HashMap;

/// Scrapest allows this many concurrent connections per API key (seed `001`). Every
/// connection Starling makes with a Scrapest key counts: `scrapest`,
/// `scrapest_filter` and the private `scrapest_sse` stream (the public one has no key).
pub const SCRAPEST_CONNECTIONS_PER_KEY: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// `wss://scrape.st/ws`, `x-api-key` header (seeds `000`, `002`).
    Scrapest,
    /// `https://scrape.st/stream`: public without a key, private with one (seed `002`).
    ScrapestSse,
    /// `wss://api.scrape.st/ws`, Bearer key, subscription filters (seed `001`).
    ScrapestFilter,
    /// `wss://scrapebadger.com/v1/twitter/stream?api_key=…` (seed `003`).
    Scrapebadger,
}

impl<'de> Deserialize<'de> for StreamKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let kinds = StreamKind::ALL.map(|k| (k.as_str(), k));
        super::values::one_of(d, &kinds)
    }
}

impl StreamKind {
    pub const ALL: [StreamKind; 4] = [
        StreamKind::Scrapest,
        StreamKind::ScrapestSse,
        StreamKind::ScrapestFilter,
        StreamKind::Scrapebadger,
    ];

    /// Whether a stream of this kind with an API key is a connection on a Scrapest key.
    pub fn uses_scrapest_key(self) -> bool {
        matches!(
            self,
            StreamKind::Scrapest | StreamKind::ScrapestFilter | StreamKind::ScrapestSse
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Scrapest => "scrapest",
            StreamKind::ScrapestSse => "scrapest_sse",
            StreamKind::ScrapestFilter => "scrapest_filter",
            StreamKind::Scrapebadger => "scrapebadger",
        }
    }

    pub fn default_url(self) -> &'static str {
        match self {
            StreamKind::Scrapest => "wss://scrape.st/ws",
            StreamKind::ScrapestSse => "https://scrape.st/stream",
            StreamKind::ScrapestFilter => "wss://api.scrape.st/ws",
            StreamKind::Scrapebadger => "wss://scrapebadger.com/v1/twitter/stream",
        }
    }

    /// Silence after which a connection is taken for dead: Scrapest drops a
    /// client silent for 60 s; the others ping every 30 s (two missed, then gone).
    fn default_idle_secs(self) -> u64 {
        match self {
            StreamKind::Scrapest => 60,
            StreamKind::Scrapebadger => 75,
            StreamKind::ScrapestFilter | StreamKind::ScrapestSse => 90,
        }
    }
}

/// One subscription of the filter WebSocket: `{"action":"subscribe","filters":{…}}`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_retweets: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// Unique; names the stream in `starling streams`, `/readyz` and sightings.
    pub name: String,
    pub kind: StreamKind,
    /// Not needed for the public SSE stream.
    pub api_key: Option<Secret>,
    /// Defaults to the vendor's endpoint; override for tests and proxies.
    pub url: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Scrapest (`scrapest`, `scrapest_sse`): `useFastX`, fast-x events before enrichment.
    #[serde(default)]
    pub use_fast_x: bool,
    /// Scrapest: `ignoreFullPayload`, skip the enriched X payloads.
    #[serde(default)]
    pub ignore_full_payload: bool,
    /// Send a text `ping` this often (0: never). Default: 25 for `scrapest`, else 0.
    pub text_ping_secs: Option<u64>,
    /// Silence after which the connection is dropped and made again.
    pub idle_timeout_secs: Option<u64>,
    /// `scrapest_filter`: each entry is sent as one `subscribe` after every connect.
    #[serde(default)]
    pub filters: Vec<Filter>,
}

fn yes() -> bool {
    true
}

impl StreamSettings {
    pub fn url(&self) -> &str {
        self.url.as_deref().unwrap_or(self.kind.default_url())
    }

    pub fn text_ping_secs(&self) -> u64 {
        self.text_ping_secs
            .unwrap_or(if self.kind == StreamKind::Scrapest {
                25
            } else {
                0
            })
    }

    pub fn idle_timeout_secs(&self) -> u64 {
        self.idle_timeout_secs
            .unwrap_or(self.kind.default_idle_secs())
            .max(1)
    }
}

/// What every stream shares: reconnection and leases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamingSettings {
    /// Reconnect backoff: attempt n waits a random time in `[0, min(cap, base × 2^n)]`.
    pub backoff_base_ms: u64,
    pub backoff_cap_secs: u64,
    /// A connection that lasted this long resets the backoff.
    pub stable_secs: u64,
    /// After HTTP 401 at the handshake (a bad key): wait this long, never hammer.
    pub unauthorized_retry_secs: u64,
    /// After close code 1008 (a vendor limit was broken): wait at least this long.
    pub policy_retry_secs: u64,
    pub connect_timeout_secs: u64,
    /// A stream is held by one process at a time; its lease is renewed every
    /// second and taken over by another process when it lapses.
    pub lease_secs: u64,
}

/// Checks that serde cannot express: unique names, keys where needed, URL
/// schemes, and Scrapest's connection limit per key.
pub fn validate(streams: &[StreamSettings]) -> Result<(), ConfigError> {
    let mut names = HashMap::new();
    // The enabled Scrapest connections of each key, in configuration order.
    let mut per_key: Vec<(&str, Vec<&StreamSettings>)> = Vec::new();
    for (i, s) in streams.iter().enumerate() {
        let key = |field: &str| format!("streams[{i}].{field}");
        let bad = |field: &str, message: String| ConfigError::Key {
            key: key(field),
            message,
        };
        if s.name.is_empty() || names.insert(s.name.as_str(), i).is_some() {
            return Err(bad(
                "name",
                format!("expected a unique non-empty name, got `{}`", s.name),
            ));
        }
        if s.api_key.as_ref().is_some_and(|k| k.expose().is_empty()) {
            return Err(bad(
                "api_key",
                "expected a non-empty key, or leave it unset".into(),
            ));
        }
        if s.api_key.is_none() && s.kind != StreamKind::ScrapestSse {
            return Err(bad(
                "api_key",
                format!("a `{}` stream needs the vendor's API key", s.kind.as_str()),
            ));
        }
        let schemes: &[&str] = match s.kind {
            StreamKind::ScrapestSse => &["https://", "http://"],
            _ => &["wss://", "ws://"],
        };
        if !schemes.iter().any(|p| s.url().starts_with(p)) {
            return Err(bad(
                "url",
                format!("expected a URL starting with {}", schemes.join(" or ")),
            ));
        }
        let scrapest_options = matches!(s.kind, StreamKind::Scrapest | StreamKind::ScrapestSse);
        if (s.use_fast_x || s.ignore_full_payload) && !scrapest_options {
            return Err(bad(
                "use_fast_x",
                "only `scrapest` and `scrapest_sse` streams take use_fast_x / ignore_full_payload"
                    .into(),
            ));
        }
        if !s.filters.is_empty() && s.kind != StreamKind::ScrapestFilter {
            return Err(bad(
                "filters",
                "only `scrapest_filter` streams take filters".into(),
            ));
        }
        if let (true, true, Some(api_key)) = (s.kind.uses_scrapest_key(), s.enabled, &s.api_key) {
            let api_key = api_key.expose();
            match per_key.iter_mut().find(|(k, _)| *k == api_key) {
                Some((_, on_key)) => on_key.push(s),
                None => per_key.push((api_key, vec![s])),
            }
        }
    }
    match per_key
        .iter()
        .find(|(_, on_key)| on_key.len() > SCRAPEST_CONNECTIONS_PER_KEY)
    {
        Some((_, on_key)) => Err(too_many_connections(on_key)),
        None => Ok(()),
    }
}

/// Names the streams sharing one Scrapest key beyond its connection limit (never the key).
fn too_many_connections(on_key: &[&StreamSettings]) -> ConfigError {
    let names: Vec<&str> = on_key.iter().map(|s| s.name.as_str()).collect();
    let kinds: Vec<String> = [
        StreamKind::Scrapest,
        StreamKind::ScrapestFilter,
        StreamKind::ScrapestSse,
    ]
    .into_iter()
    .filter_map(|kind| {
        let n = on_key.iter().filter(|s| s.kind == kind).count();
        (n > 0).then(|| format!("{n} `{}`", kind.as_str()))
    })
    .collect();
    ConfigError::Invalid(format!(
        "Scrapest allows at most {SCRAPEST_CONNECTIONS_PER_KEY} connections per API key, counting \
         every `scrapest`, `scrapest_filter` and private `scrapest_sse` stream on it, and {} \
         enabled streams share one key: {} ({}); Scrapest would refuse the connections beyond \
         {SCRAPEST_CONNECTIONS_PER_KEY}: give some of them another key, disable some \
         (`enabled = false`), or put several subscriptions in one `scrapest_filter` stream's `filters`",
        on_key.len(),
        names.join(", "),
        kinds.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        streams: Vec<StreamSettings>,
    }

    fn check(toml_text: &str) -> Result<(), String> {
        let file: File = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        validate(&file.streams).map_err(|e| e.to_string())
    }

    #[test]
    fn each_mistake_is_named() {
        let ok = "[[streams]]\nname = \"a\"\nkind = \"scrapest\"\napi_key = \"k\"\n";
        check(ok).unwrap();
        check("[[streams]]\nname = \"p\"\nkind = \"scrapest_sse\"\n")
            .expect("the public SSE stream needs no key");
        let cases = [
            (format!("{ok}{ok}"), "streams[1].name"),
            ("[[streams]]\nname = \"a\"\nkind = \"scrapebadger\"\n".to_string(), "needs the vendor's API key"),
            (format!("{ok}url = \"https://scrape.st/ws\"\n"), "wss:// or ws://"),
            (format!("{ok}[[streams.filters]]\nkeywords = [\"x\"]\n"), "only `scrapest_filter` streams take filters"),
            (
                "[[streams]]\nname = \"b\"\nkind = \"scrapebadger\"\napi_key = \"k\"\nuse_fast_x = true\n".to_string(),
                "only `scrapest` and `scrapest_sse`",
            ),
            ("[[streams]]\nname = \"a\"\nkind = \"twitter\"\napi_key = \"k\"\n".to_string(), "expected one of `scrapest`, `scrapest_sse`, `scrapest_filter`, `scrapebadger`, got `twitter`"),
        ];
        for (text, expected) in cases {
            let error = check(&text).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    /// A stream table: `key` empty for none, `extra` appended.
    fn table(name: &str, kind: &str, key: &str, extra: &str) -> String {
        let key = if key.is_empty() {
            String::new()
        } else {
            format!("api_key = \"{key}\"\n")
        };
        format!("[[streams]]\nname = \"{name}\"\nkind = \"{kind}\"\n{key}{extra}")
    }

    #[test]
    fn every_scrapest_connection_on_one_key_counts_toward_its_five() {
        let kinds = [
            "scrapest",
            "scrapest_filter",
            "scrapest_sse",
            "scrapest",
            "scrapest_filter",
            "scrapest_sse",
        ];
        let six: String = kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| table(&format!("s{i}"), kind, "sk_secret_key", ""))
            .collect();
        let error = check(&six).unwrap_err();
        assert!(
            error.contains("at most 5 connections per API key"),
            "{error}"
        );
        assert!(error.contains("s0, s1, s2, s3, s4, s5"), "{error}");
        assert!(
            error.contains("2 `scrapest`, 2 `scrapest_filter`, 2 `scrapest_sse`"),
            "{error}"
        );
        assert!(
            !error.contains("sk_secret_key"),
            "the key is never shown: {error}"
        );

        let five: String = kinds[..5]
            .iter()
            .enumerate()
            .map(|(i, kind)| table(&format!("s{i}"), kind, "sk_secret_key", ""))
            .collect();
        check(&five).expect("five connections on one key are allowed");
        // What is not a connection on that key does not count: the public SSE stream
        // (no key), another key, a disabled stream, another vendor with the same string.
        for sixth in [
            table("public", "scrapest_sse", "", ""),
            table("other", "scrapest", "sk_other_key", ""),
            table(
                "off",
                "scrapest_filter",
                "sk_secret_key",
                "enabled = false\n",
            ),
            table("badger", "scrapebadger", "sk_secret_key", ""),
        ] {
            check(&format!("{five}{sixth}")).unwrap_or_else(|e| panic!("{sixth}: {e}"));
        }
        // Six filter streams alone, as before.
        let filters: String = (1..=6)
            .map(|i| table(&format!("f{i}"), "scrapest_filter", "k", ""))
            .collect();
        let error = check(&filters).unwrap_err();
        assert!(
            error.contains("f1, f2, f3, f4, f5, f6 (6 `scrapest_filter`)"),
            "{error}"
        );
    }

    #[test]
    fn defaults_follow_the_kind() {
        let file: File = toml::from_str(
            "[[streams]]\nname = \"a\"\nkind = \"scrapest\"\napi_key = \"k\"\n\
             [[streams]]\nname = \"b\"\nkind = \"scrapebadger\"\napi_key = \"k\"\n",
        )
        .unwrap();
        let (a, b) = (&file.streams[0], &file.streams[1]);
        assert_eq!(
            (a.url(), a.text_ping_secs(), a.idle_timeout_secs()),
            ("wss://scrape.st/ws", 25, 60)
        );
        assert_eq!(
            (b.url(), b.text_ping_secs(), b.idle_timeout_secs()),
            ("wss://scrapebadger.com/v1/twitter/stream", 0, 75)
        );
        assert!(a.enabled);
    }
}
