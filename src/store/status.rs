//! The closed sets of the action lifecycle: an action's [`ActionStatus`] and an
//! attempt's [`AttemptOutcome`], stored as text (checked by the database: a CHECK
//! on PostgreSQL, triggers on SQLite, migration `…000040_lifecycle_checks`).
//! An attempt that failed also records its [`ErrorClass`].
//! Which status follows which is [`super::lifecycle`]'s table.

use std::fmt;

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Waiting for its time (or its job).
    Pending,
    /// Claimed by a worker until its lease ends.
    Running,
    /// Its last attempt failed; a retry is scheduled.
    Failed,
    /// Done: the vendor accepted it, or a check proved an earlier attempt did.
    Succeeded,
    /// No attempts left, or refused by the vendor for good.
    Dead,
    /// Waiting for its paused account to be resumed.
    Held,
    /// A call may or may not have reached the vendor and nobody could tell: a
    /// person decides (`jobs retry` / `jobs cancel`).
    OutcomeUnknown,
    /// Not sent, on purpose (no key, no conversation, protected tag, …).
    Skipped,
    /// Cancelled by a person (or a do-not-contact) before it was sent.
    Cancelled,
    /// Recorded by `serve --dry-run`; nothing was sent.
    DryRun,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 10] = [
        ActionStatus::Pending,
        ActionStatus::Running,
        ActionStatus::Failed,
        ActionStatus::Succeeded,
        ActionStatus::Dead,
        ActionStatus::Held,
        ActionStatus::OutcomeUnknown,
        ActionStatus::Skipped,
        ActionStatus::Cancelled,
        ActionStatus::DryRun,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Pending => "pending",
            ActionStatus::Running => "running",
            ActionStatus::Failed => "failed",
            ActionStatus::Succeeded => "succeeded",
            ActionStatus::Dead => "dead",
            ActionStatus::Held => "held",
            ActionStatus::OutcomeUnknown => "outcome_unknown",
            ActionStatus::Skipped => "skipped",
            ActionStatus::Cancelled => "cancelled",
            ActionStatus::DryRun => "dry_run",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether nothing will happen to the action unless a person acts.
    pub const fn is_final(self) -> bool {
        !matches!(
            self,
            ActionStatus::Pending
                | ActionStatus::Running
                | ActionStatus::Failed
                | ActionStatus::Held
        )
    }

    /// Whether retention may delete the action (and so its event): final, and
    /// not waiting for a person. `outcome_unknown` is final for the queue, but a
    /// person still has to decide on it, and `jobs retry` reconciles its
    /// attempts with the vendor before a resend: it stays, attempts and all.
    pub const fn may_be_pruned(self) -> bool {
        self.is_final() && !matches!(self, ActionStatus::OutcomeUnknown)
    }

    /// The statuses [`Self::may_be_pruned`] holds for.
    pub fn prunable() -> Vec<ActionStatus> {
        Self::ALL
            .into_iter()
            .filter(|s| s.may_be_pruned())
            .collect()
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// Done: the vendor accepted it, or a check proved an earlier attempt did.
    Succeeded,
    /// Failed; the action is retried later.
    Retry,
    Dead,
    /// A check with the vendor proved an earlier attempt got through.
    Reconciled,
    OutcomeUnknown,
    Skipped,
    DryRun,
    /// Its worker died mid-call and the kind is safe to run again: closed without
    /// an outcome of its own (the action's next attempt decides).
    Abandoned,
}

impl AttemptOutcome {
    pub const ALL: [AttemptOutcome; 8] = [
        AttemptOutcome::Succeeded,
        AttemptOutcome::Retry,
        AttemptOutcome::Dead,
        AttemptOutcome::Reconciled,
        AttemptOutcome::OutcomeUnknown,
        AttemptOutcome::Skipped,
        AttemptOutcome::DryRun,
        AttemptOutcome::Abandoned,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Succeeded => "succeeded",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Dead => "dead",
            AttemptOutcome::Reconciled => "reconciled",
            AttemptOutcome::OutcomeUnknown => "outcome_unknown",
            AttemptOutcome::Skipped => "skipped",
            AttemptOutcome::DryRun => "dry_run",
            AttemptOutcome::Abandoned => "abandoned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A status or outcome text the database holds but this build does not know
/// (a newer Starling wrote it, or a person edited the row).
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {text:?} in the database")]
pub struct UnknownValue {
    what: &'static str,
    text: String,
}

impl TryFrom<String> for ActionStatus {
    type Error = UnknownValue;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or(UnknownValue {
            what: "action status",
            text,
        })
    }
}

impl TryFrom<String> for AttemptOutcome {
    type Error = UnknownValue;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or(UnknownValue {
            what: "attempt outcome",
            text,
        })
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ActionStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `('a', 'b')`: a set of statuses as SQL text, for `status IN …`.
pub(crate) fn sql_set(statuses: &[ActionStatus]) -> String {
    let quoted: Vec<String> = statuses.iter().map(|s| format!("'{s}'")).collect();
    format!("({})", quoted.join(", "))
}

/// Why a call did not succeed, as recorded in `action_attempts.error_class`.
///
/// The split that matters is [`ErrorClass::may_have_reached_vendor`]: a call
/// that may have been acted on must be reconciled before it is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 429: the vendor refused the call before acting on it.
    RateLimited,
    /// 408: the request did not arrive whole.
    RequestTimeout,
    /// 5xx: a proxy's 502/504 often comes *after* the vendor acted.
    ServerError,
    /// No answer within the timeout, the request written.
    Timeout,
    /// Reset or closed after the request was written, before an answer.
    ConnectionLost,
    /// Refused, DNS, TLS handshake: nothing was written.
    Connect,
    /// Any other 4xx: the vendor refused the request.
    ClientError,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 7] = [
        ErrorClass::RateLimited,
        ErrorClass::RequestTimeout,
        ErrorClass::ServerError,
        ErrorClass::Timeout,
        ErrorClass::ConnectionLost,
        ErrorClass::Connect,
        ErrorClass::ClientError,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::RequestTimeout => "request_timeout",
            ErrorClass::ServerError => "server_error",
            ErrorClass::Timeout => "timeout",
            ErrorClass::ConnectionLost => "connection_lost",
            ErrorClass::Connect => "connect",
            ErrorClass::ClientError => "client_error",
        }
    }

    /// Whether the vendor may have acted although we saw no success.
    pub const fn may_have_reached_vendor(self) -> bool {
        matches!(
            self,
            ErrorClass::ServerError | ErrorClass::Timeout | ErrorClass::ConnectionLost
        )
    }

    /// The recorded text of a class that may have reached the vendor.
    pub fn recorded_may_have_reached_vendor(class: &str) -> bool {
        [
            ErrorClass::ServerError,
            ErrorClass::Timeout,
            ErrorClass::ConnectionLost,
        ]
        .iter()
        .any(|c| c.as_str() == class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_and_outcome_reads_back() {
        for s in ActionStatus::ALL {
            assert_eq!(ActionStatus::parse(s.as_str()), Some(s));
        }
        for o in AttemptOutcome::ALL {
            assert_eq!(AttemptOutcome::parse(o.as_str()), Some(o));
        }
        let err = ActionStatus::try_from("sent".to_string()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown action status \"sent\" in the database"
        );
    }

    /// The database's checks list exactly these enums (both migrations).
    #[test]
    fn the_database_checks_name_every_status_and_outcome() {
        let statuses = sql_set(&ActionStatus::ALL);
        let outcomes: Vec<String> = AttemptOutcome::ALL
            .iter()
            .map(|o| format!("'{o}'"))
            .collect();
        let outcomes = format!("({})", outcomes.join(", "));
        for migration in [
            include_str!("../../migrations/postgres/20261201000040_lifecycle_checks.sql"),
            include_str!("../../migrations/sqlite/20261201000040_lifecycle_checks.sql"),
        ] {
            assert!(
                migration.matches(&format!("IN {statuses}")).count() >= 1,
                "{migration}"
            );
            assert!(
                migration.matches(&format!("IN {outcomes}")).count() >= 1,
                "{migration}"
            );
        }
    }

    #[test]
    fn sets_render_as_sql() {
        assert_eq!(
            sql_set(&[ActionStatus::Pending, ActionStatus::OutcomeUnknown]),
            "('pending', 'outcome_unknown')"
        );
    }
}
