//! `[audit]`: how `starling audit` connects and how long a query may run.
//!
//! Keys (env `STARLING__AUDIT__…`):
//! - `database_url` — the URL audit connects with; on PostgreSQL a login role
//!   that may only SELECT (see the README's "Audit roles"); unset: `database.url`,
//!   which on PostgreSQL is refused if it is a superuser or may run programs,
//!   touch server files or signal backends;
//! - `reader_role` — the role Starling grants SELECT on its tables and views to,
//!   at every start and `starling migrate` (and by default privileges for tables
//!   added later); skipped while no such role exists;
//! - `statement_timeout_secs` — a query running longer is cancelled (0: never).

use crate::secret::{Secret, redact_url};
use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The URL `starling audit` connects with (secret: its password is redacted).
    pub database_url: Option<Secret>,
    /// The PostgreSQL role granted SELECT on Starling's tables and views.
    pub reader_role: String,
    /// Longest a user's query may run, in seconds; 0 disables the limit.
    pub statement_timeout_secs: u64,
}

impl std::fmt::Debug for AuditSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSettings")
            .field(
                "database_url",
                &self.database_url.as_ref().map(|u| redact_url(u.expose())),
            )
            .field("reader_role", &self.reader_role)
            .field("statement_timeout_secs", &self.statement_timeout_secs)
            .finish()
    }
}

impl AuditSettings {
    /// The URL audit uses: its own, or the main one.
    pub fn url<'a>(&'a self, main: &'a Secret) -> &'a str {
        self.database_url.as_ref().unwrap_or(main).expose()
    }

    /// `reader_role` is spliced into GRANT statements as an identifier, so it is
    /// held to PostgreSQL's unquoted-identifier shape.
    pub fn validate(&self, main_url: &str) -> Result<(), super::ConfigError> {
        let role = &self.reader_role;
        let shaped = role.len() <= 63
            && role
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && role
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !shaped {
            return Err(super::key_error(
                "audit.reader_role",
                "expected a lower-case PostgreSQL role name (a-z, 0-9, _; at most 63 characters)",
            ));
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            let same_backend = url.starts_with("sqlite:") == main_url.starts_with("sqlite:");
            let known = url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://");
            if !(known && same_backend) {
                return Err(super::ConfigError::Key {
                    key: "audit.database_url".into(),
                    message: format!(
                        "expected a URL of the same backend as database.url, got `{}`",
                        redact_url(url)
                    ),
                });
            }
        }
        Ok(())
    }
}
