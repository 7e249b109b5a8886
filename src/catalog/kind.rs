//! The closed set of action kinds, and what each promises when a call's outcome
//! is unknown (a crash mid-call, a timeout, a reset after the request was
//! written, a 5xx). The README's per-kind table is this `match`.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    SendDm,
    UpdateCrm,
    ScheduleTweet,
    CancelScheduledTweet,
    SlackPost,
    HttpRequest,
    /// Marks a person do-not-contact in Starling's own ledger; calls no vendor.
    DoNotContact,
}

/// What a run does when an earlier attempt may have reached the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterUnknown {
    /// Ask the vendor whether it happened before sending again; never twice.
    Reconcile,
    /// Send again: the request is idempotent by construction.
    Resend,
    /// Park as `outcome_unknown` for a person (`at_most_once: true`).
    Park,
}

impl ActionKind {
    pub const ALL: [ActionKind; 7] = [
        ActionKind::SendDm,
        ActionKind::UpdateCrm,
        ActionKind::ScheduleTweet,
        ActionKind::CancelScheduledTweet,
        ActionKind::SlackPost,
        ActionKind::HttpRequest,
        ActionKind::DoNotContact,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ActionKind::SendDm => "scrapely.send_dm",
            ActionKind::UpdateCrm => "scrapely.update_crm",
            ActionKind::ScheduleTweet => "scrapely.schedule_tweet",
            ActionKind::CancelScheduledTweet => "scrapely.cancel_scheduled_tweet",
            ActionKind::SlackPost => "slack.post",
            ActionKind::HttpRequest => "http.request",
            ActionKind::DoNotContact => "starling.do_not_contact",
        }
    }

    /// Whether it calls Scrapely (and so draws from its rate-limit budget).
    pub const fn calls_scrapely(self) -> bool {
        matches!(
            self,
            ActionKind::SendDm
                | ActionKind::UpdateCrm
                | ActionKind::ScheduleTweet
                | ActionKind::CancelScheduledTweet
        )
    }

    /// Whether it waits while its account is paused.
    pub const fn held_when_paused(self) -> bool {
        matches!(self, ActionKind::SendDm | ActionKind::ScheduleTweet)
    }

    /// The crash semantics of this kind, for an action with `params`.
    pub fn after_unknown(self, params: &Value) -> AfterUnknown {
        let at_most_once = params.get("at_most_once").and_then(Value::as_bool) == Some(true);
        match self {
            ActionKind::SendDm | ActionKind::ScheduleTweet => AfterUnknown::Reconcile,
            // Marking a person twice is marking them once.
            ActionKind::UpdateCrm | ActionKind::CancelScheduledTweet | ActionKind::DoNotContact => {
                AfterUnknown::Resend
            }
            ActionKind::SlackPost | ActionKind::HttpRequest if at_most_once => AfterUnknown::Park,
            ActionKind::SlackPost | ActionKind::HttpRequest => AfterUnknown::Resend,
        }
    }
}

/// A kind name this build does not know (in a stored row or a rule).
#[derive(Debug, thiserror::Error)]
#[error("unknown action kind {0:?}")]
pub struct UnknownKind(pub String);

impl TryFrom<String> for ActionKind {
    type Error = UnknownKind;
    fn try_from(name: String) -> Result<Self, UnknownKind> {
        Self::parse(&name).ok_or(UnknownKind(name))
    }
}

impl serde::Serialize for ActionKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ActionKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::try_from(name).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_entry_is_a_kind_and_back() {
        for spec in super::super::CATALOG {
            assert_eq!(ActionKind::parse(spec.name()), Some(spec.kind));
        }
        assert_eq!(ActionKind::ALL.len(), super::super::CATALOG.len());
    }

    #[test]
    fn only_slack_and_http_can_ask_to_park() {
        let once = serde_json::json!({"at_most_once": true});
        assert_eq!(
            ActionKind::SlackPost.after_unknown(&once),
            AfterUnknown::Park
        );
        assert_eq!(
            ActionKind::HttpRequest.after_unknown(&once),
            AfterUnknown::Park
        );
        assert_eq!(
            ActionKind::SlackPost.after_unknown(&Value::Null),
            AfterUnknown::Resend
        );
        assert_eq!(
            ActionKind::SendDm.after_unknown(&Value::Null),
            AfterUnknown::Reconcile
        );
    }
}
