//! Who a DM is for, as the contact ledger names people, and why the ledger
//! refuses a DM ([`Refusal`], with the reason a person reads) — pure; the SQL is
//! in [`crate::store::contacts`].
//!
//! A person is a set of receiver keys: `id:<X user id>` when Starling knows the
//! id, `@<handle>` (lower-cased, without '@'), and — only for a DM that knows
//! neither — `conversation:<id>`. A DM's receiver comes from its rendered
//! parameters (`to`, `receiver_id`, `conversation_id`) and from its event: a
//! tweet's author (when `to` is that author) or a Scrapely reply's `receiver`
//! (when the DM goes into that reply's conversation) gives the id and the
//! handle together, which the ledger then remembers as one person.

use serde_json::Value;

/// A DM's receiver (or a do-not-contact target), as far as Starling can know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receiver {
    /// The X user id.
    pub user_id: Option<String>,
    /// The handle, lower-cased, without '@'.
    pub handle: Option<String>,
    /// The Scrapely conversation, used as a key only when neither is known.
    pub conversation: Option<String>,
}

/// A handle as the ledger keys it: without '@', lower-cased; `None` when it is
/// not a handle (X handles are letters, digits and '_').
pub fn normalize_handle(text: &str) -> Option<String> {
    let handle = text.trim().trim_start_matches('@');
    let valid = !handle.is_empty()
        && handle.len() <= 50
        && handle
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| handle.to_ascii_lowercase())
}

fn normalize_id(text: &str) -> Option<String> {
    let id = text.trim();
    (!id.is_empty() && !id.chars().any(char::is_whitespace)).then(|| id.to_string())
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// A string or number field (X ids arrive as either).
fn id_of(value: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match value.get(*k)? {
        Value::String(s) => normalize_id(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

impl Receiver {
    /// Parses what a person types after `starling contacts …`: a handle
    /// (`prospect`, `@prospect`) or an X user id (`id:987654321`).
    pub fn parse(arg: &str) -> Result<Self, String> {
        if let Some(id) = arg.trim().strip_prefix("id:") {
            return normalize_id(id)
                .map(|id| Receiver {
                    user_id: Some(id),
                    ..Receiver::default()
                })
                .ok_or_else(|| format!("`{arg}`: expected an X user id after `id:`"));
        }
        normalize_handle(arg)
            .map(|handle| Receiver {
                handle: Some(handle),
                ..Receiver::default()
            })
            .ok_or_else(|| {
                format!("`{arg}` is not an X handle (letters, digits and _) nor `id:<X user id>`")
            })
    }

    /// The target of `starling.do_not_contact`: its `handle` and `user_id`
    /// parameters, completed from the event's person.
    pub fn of_block(params: &Value, event_kind: &str, data: &Value) -> Self {
        let mut r = Receiver {
            user_id: text(params, "user_id").and_then(normalize_id),
            handle: text(params, "handle").and_then(normalize_handle),
            conversation: None,
        };
        r.complete_from_event(event_kind, data, true);
        r
    }

    /// The receiver of a `scrapely.send_dm` with `params`, fired by an event of
    /// `event_kind` whose rule data is `data`.
    pub fn of_dm(params: &Value, event_kind: &str, data: &Value) -> Self {
        let conversation = text(params, "conversation_id").and_then(normalize_id);
        let mut r = Receiver {
            user_id: text(params, "receiver_id").and_then(normalize_id),
            handle: text(params, "to").and_then(normalize_handle),
            conversation: conversation.clone(),
        };
        // A reply's receiver is this DM's only when the DM goes into that reply's conversation.
        let same_conversation = event_kind.starts_with("scrapely.")
            && match (&conversation, text(data, "conversation_id")) {
                (Some(mine), Some(event)) => mine == event,
                _ => false,
            };
        r.complete_from_event(event_kind, data, same_conversation);
        r
    }

    /// Fills the id from the event's person when the handle is theirs (and the
    /// handle when the id is), or what is missing when `adopt` says the event's
    /// person is the receiver — never when what is known names someone else.
    fn complete_from_event(&mut self, event_kind: &str, data: &Value, adopt: bool) {
        let person = match event_kind {
            "tweet" => data.get("author"),
            k if k.starts_with("scrapely.") => data.get("receiver"),
            _ => None,
        };
        let Some(person) = person.filter(|p| p.is_object()) else {
            return;
        };
        let handle = text(person, "screen_name").and_then(normalize_handle);
        let id = id_of(person, &["user_id", "id", "id_str"]);
        let differ =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
        let agree =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a == b);
        let conflict = differ(&self.handle, &handle) || differ(&self.user_id, &id);
        let matched = agree(&self.handle, &handle) || agree(&self.user_id, &id);
        if !conflict && (matched || adopt) {
            self.handle = self.handle.take().or(handle);
            self.user_id = self.user_id.take().or(id);
        }
    }

    /// Whether Starling knows anything that names the person.
    pub fn is_known(&self) -> bool {
        !self.keys().is_empty()
    }

    /// The ledger keys of this receiver, sorted (claims take them in this
    /// order, so two replicas never wait on each other's keys in a cycle).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .user_id
            .iter()
            .map(|id| format!("id:{id}"))
            .chain(self.handle.iter().map(|h| format!("@{h}")))
            .collect();
        if keys.is_empty()
            && let Some(c) = &self.conversation
        {
            keys.push(format!("conversation:{c}"));
        }
        keys.sort();
        keys
    }

    /// The (id key, handle key) pair to remember as one person, when both are known.
    pub fn alias(&self) -> Option<(String, String)> {
        Some((
            format!("id:{}", self.user_id.as_ref()?),
            format!("@{}", self.handle.as_ref()?),
        ))
    }

    /// How messages name the person: `@handle`, else `id:…`, else the conversation.
    pub fn describe(&self) -> String {
        match (&self.handle, &self.user_id, &self.conversation) {
            (Some(h), _, _) => format!("@{h}"),
            (None, Some(id), _) => format!("id:{id}"),
            (None, None, Some(c)) => format!("conversation {c}"),
            (None, None, None) => "an unknown receiver".into(),
        }
    }
}

/// A past moment as "3 d", "5 h", "12 min" or "40 s" (for skip reasons).
pub fn ago(ms: i64) -> String {
    let secs = (ms / 1000).max(0);
    match secs {
        s if s >= 86_400 => format!("{} d", s / 86_400),
        s if s >= 3_600 => format!("{} h", s / 3_600),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The DM that holds a receiver's contact window.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Holder {
    pub receiver: String,
    pub action_id: i64,
    pub rule: String,
    pub claimed_at: i64,
    /// The holding action's status (`succeeded`, or still `failed`/`running`).
    pub status: Option<String>,
}

/// A do-not-contact mark.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Block {
    pub receiver: String,
    pub blocked_at: i64,
    pub reason: Option<String>,
    /// The rule whose `starling.do_not_contact` set it; `None`: `starling contacts block`.
    pub rule: Option<String>,
    pub action_id: Option<i64>,
}

impl Block {
    /// "do-not-contact: @x was marked do-not-contact 2 d ago by rule `stop`, action 5 (said stop)".
    pub fn describe(&self, now: i64) -> String {
        let by = match (&self.rule, self.action_id) {
            (Some(rule), Some(id)) => format!("by rule `{rule}`, action {id}"),
            (Some(rule), None) => format!("by rule `{rule}`"),
            _ => "by `starling contacts block`".to_string(),
        };
        let reason = self
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        format!(
            "do-not-contact: {} was marked do-not-contact {} ago {by}{reason}",
            self.receiver,
            ago(now - self.blocked_at)
        )
    }
}

/// Why a DM may not go out now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    DoNotContact(Block),
    Contacted(Holder),
}

impl Refusal {
    /// Every [`Refusal::error_class`] (the label set of `starling_dm_refused_total`).
    pub const ERROR_CLASSES: [&'static str; 2] = ["do_not_contact", "contacted"];

    /// The attempt's `error_class`.
    pub fn error_class(&self) -> &'static str {
        match self {
            Refusal::DoNotContact(_) => "do_not_contact",
            Refusal::Contacted(_) => "contacted",
        }
    }

    /// The skip reason, e.g. "contacted 3 d ago by rule `welcome`, action 17".
    pub fn reason(&self, now: i64) -> String {
        match self {
            Refusal::DoNotContact(block) => block.describe(now),
            Refusal::Contacted(h) => {
                let when = ago(now - h.claimed_at);
                let by = format!("by rule `{}`, action {}", h.rule, h.action_id);
                match h.status.as_deref() {
                    Some("succeeded" | "outcome_unknown") | None => format!(
                        "{} was contacted {when} ago {by} (outreach.contact_window)",
                        h.receiver
                    ),
                    Some(status) => format!(
                        "{} is being contacted (since {when}) {by}, now {status} (outreach.contact_window)",
                        h.receiver
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reply_dm_takes_the_replys_receiver_with_its_id() {
        let data = json!({"conversation_id": "c1", "receiver": {"screen_name": "Prospect", "user_id": "42"}});
        let r = Receiver::of_dm(
            &json!({"conversation_id": "c1"}),
            "scrapely.new_reply",
            &data,
        );
        assert_eq!(r.keys(), ["@prospect", "id:42"]);
        assert_eq!(r.alias(), Some(("id:42".into(), "@prospect".into())));
        // Into another conversation: the reply's receiver is not this DM's.
        let other = Receiver::of_dm(
            &json!({"conversation_id": "c2"}),
            "scrapely.new_reply",
            &data,
        );
        assert_eq!(other.keys(), ["conversation:c2"]);
    }

    #[test]
    fn a_tweet_dm_to_the_author_takes_the_authors_id() {
        let data = json!({"author": {"id": "7", "screen_name": "bob"}});
        let r = Receiver::of_dm(&json!({"to": "@Bob"}), "tweet", &data);
        assert_eq!(r.keys(), ["@bob", "id:7"]);
        let someone_else = Receiver::of_dm(&json!({"to": "carol"}), "tweet", &data);
        assert_eq!(someone_else.keys(), ["@carol"]);
        let given = Receiver::of_dm(&json!({"to": "carol", "receiver_id": "9"}), "tweet", &data);
        assert_eq!(given.keys(), ["@carol", "id:9"]);
    }

    #[test]
    fn a_block_by_id_learns_the_handle_from_its_event() {
        let data = json!({"conversation_id": "c1", "receiver": {"screen_name": "prospect"}});
        let r = Receiver::of_block(&json!({"user_id": "42"}), "scrapely.new_reply", &data);
        assert_eq!(r.keys(), ["@prospect", "id:42"]);
        let by_handle = Receiver::of_block(&json!({"handle": "@Prospect"}), "http", &json!({}));
        assert_eq!(by_handle.keys(), ["@prospect"]);
    }

    #[test]
    fn cli_arguments_are_handles_or_ids() {
        assert_eq!(Receiver::parse("@Prospect").unwrap().keys(), ["@prospect"]);
        assert_eq!(Receiver::parse("id:42").unwrap().keys(), ["id:42"]);
        assert!(Receiver::parse("not a handle").is_err());
        assert!(Receiver::parse("id:").is_err());
        assert!(Receiver::parse("@").is_err());
    }

    #[test]
    fn ages_read_as_the_largest_unit() {
        assert_eq!(ago(3 * 86_400_000 + 5), "3 d");
        assert_eq!(ago(2 * 3_600_000), "2 h");
        assert_eq!(ago(90_000), "1 min");
        assert_eq!(ago(1_500), "1 s");
    }

    fn holder(status: &str) -> Holder {
        Holder {
            receiver: "@prospect".into(),
            action_id: 17,
            rule: "welcome".into(),
            claimed_at: 0,
            status: Some(status.into()),
        }
    }

    #[test]
    fn a_skip_names_who_contacted_the_person_and_when() {
        let now = 3 * 86_400_000;
        let sent = Refusal::Contacted(holder("succeeded")).reason(now);
        assert_eq!(
            sent,
            "@prospect was contacted 3 d ago by rule `welcome`, action 17 (outreach.contact_window)"
        );
        let retrying = Refusal::Contacted(holder("failed")).reason(now);
        assert!(
            retrying.contains("being contacted") && retrying.contains("failed"),
            "{retrying}"
        );
        let block = Block {
            receiver: "@prospect".into(),
            blocked_at: now - 60_000,
            reason: Some("said stop".into()),
            rule: Some("stop".into()),
            action_id: Some(5),
        };
        assert_eq!(
            Refusal::DoNotContact(block).reason(now),
            "do-not-contact: @prospect was marked do-not-contact 1 min ago by rule `stop`, action 5 (said stop)"
        );
    }
}
