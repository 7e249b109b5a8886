//! What rules can see of each event kind: the documented fields of `data` (seed
//! `004`'s webhook payloads, the README's tweet model) and of `event`, so
//! `rules check` can refuse a path no event of the rule's kinds ever has
//! (`data.mesage.text`) instead of failing on every event at run time.

/// Fields of `event` (every kind).
pub const EVENT_FIELDS: &[&str] = &[
    "id",
    "source",
    "kind",
    "dedupe_key",
    "received_at",
    "channels",
];

/// Variables a template may use besides `data`, `event` and `tweet`: the time,
/// secret references, and minijinja's global functions.
pub const OTHER_ROOTS: &[&str] = &[
    "now",
    "secrets",
    "intent",
    "range",
    "dict",
    "namespace",
    "debug",
];

/// The dotted paths under `data` of a kind; a path ending in `.*` is open (as
/// sent: anything below it). `None` for kinds whose payload is taken as sent.
pub fn data_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "scrapely.new_reply" => &[
            "conversation_id",
            "account_handle",
            "receiver.screen_name",
            "receiver.name",
            "receiver.profile_image_url",
            "receiver.id",
            "message.id",
            "message.text",
            "message.created_at",
            // Added by Starling: the reply's intent (`crate::intent`).
            "intent.label",
            "intent.confidence",
            "intent.evidence",
        ],
        "scrapely.account_paused" => &["account_id", "account_handle", "reason"],
        "scrapely.leads_exhausted" => &[
            "campaign_id",
            "campaign_name",
            "account_handle",
            "total_sent",
        ],
        "tweet" => TWEET,
        kind => crate::event::internal::InternalKind::parse(kind)?.data_fields(),
    })
}

/// The README's tweet model.
const TWEET: &[&str] = &[
    "id",
    "url",
    "text",
    "lang",
    "created_at",
    "conversation_id",
    "author.id",
    "author.name",
    "author.screen_name",
    "author.verified",
    "author.is_blue_verified",
    "counts.likes",
    "counts.retweets",
    "counts.replies",
    "counts.quotes",
    "counts.bookmarks",
    "is_retweet",
    "retweeted_id",
    "is_reply",
    "in_reply_to_id",
    "is_quote",
    "quoted_id",
    "media.*",
    "entities.*",
    "truncated",
    "fast",
    "origin.stream",
    "origin.vendor",
    "origin.channel",
    "origin.monitor",
    "origin.monitor_id",
    "origin.detected_at",
    "origin.latency_ms",
];

/// Whether `path` (segments below the root) is in `fields`: a documented field,
/// a prefix of one (an object), or anything below an open one.
pub fn has_path(fields: &[&str], path: &[&str]) -> bool {
    if path.is_empty() {
        return true;
    }
    let joined = path.join(".");
    fields.iter().any(|f| match f.strip_suffix(".*") {
        Some(open) => joined == open || joined.starts_with(&format!("{open}.")),
        None => *f == joined || f.starts_with(&format!("{joined}.")),
    })
}

/// Whether a template may read `path`: [`has_path`], or below a documented leaf
/// (a method of its value: `data.message.text.lower()`; a wrong attribute of a
/// string is left to run time).
pub fn may_read(fields: &[&str], path: &[&str]) -> bool {
    has_path(fields, path)
        || (1..path.len()).any(|n| {
            let prefix = path[..n].join(".");
            fields.contains(&prefix.as_str())
        })
}

/// The documented fields at the level of `path`'s last segment, for a did-you-mean.
pub fn siblings(fields: &[&str], path: &[&str]) -> Vec<String> {
    let parent = &path[..path.len().saturating_sub(1)];
    let mut out: Vec<String> = fields
        .iter()
        .map(|f| f.trim_end_matches(".*"))
        .filter_map(|f| {
            let segments: Vec<&str> = f.split('.').collect();
            (segments.len() > parent.len() && segments[..parent.len()] == *parent)
                .then(|| segments[parent.len()].to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_paths_their_objects_and_open_fields_are_known() {
        let reply = data_fields("scrapely.new_reply").unwrap();
        assert!(has_path(reply, &["message", "text"]));
        assert!(has_path(reply, &["message"]));
        assert!(!has_path(reply, &["mesage", "text"]));
        assert!(!has_path(reply, &["message", "text", "deeper"]));
        assert!(may_read(reply, &["message", "text", "lower"]));
        assert!(!may_read(reply, &["message", "txt"]));
        assert!(has_path(TWEET, &["entities", "hashtags", "0"]));
        assert_eq!(
            siblings(reply, &["message", "txt"]),
            ["created_at", "id", "text"]
        );
        assert!(data_fields("telegram.message").is_none());
    }
}
