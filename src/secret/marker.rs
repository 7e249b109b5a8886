//! Markers: what Starling writes in place of a credential in every rendered
//! action it keeps or shows (`actions.params`, `rule_matches`, attempts, the
//! audit log, `jobs show`, `rules test`, backtests), and how an action's
//! request gets the clear values back at the moment it is sent.
//!
//! - `«secret:NAME»` stands for `secrets.NAME` of the configuration (what a rule
//!   writes as `{{ secrets.NAME }}`); names are case-insensitive.
//! - `«literal:ID»` stands for a credential written literally in a rule file (an
//!   `Authorization` header, an `api_key=` query value, a Slack webhook URL). `ID`
//!   is a truncated SHA-256 of the value: it names the value without showing it,
//!   and resolves from the rule files loaded *now*, so it survives restarts and
//!   works on every replica that loaded the same rules. Once an edit removes the
//!   literal, a pending action that needs it fails (dead, never sent without it).

use super::Secret;
use sha2::{Digest, Sha256};

const OPEN: &str = "«";
const CLOSE: &str = "»";

/// The marker of configured secret `name`.
pub fn secret_marker(name: &str) -> String {
    format!("{OPEN}secret:{name}{CLOSE}")
}

/// The id of a literal credential: stable across processes and restarts.
pub fn literal_id(value: &str) -> String {
    let digest = Sha256::digest(format!("starling literal credential\0{value}").as_bytes());
    hex::encode(&digest[..8])
}

/// The marker of a credential written literally in a rule file.
pub fn literal_marker(value: &str) -> String {
    format!("{OPEN}literal:{}{CLOSE}", literal_id(value))
}

/// Whether `text` holds any marker.
pub fn has_marker(text: &str) -> bool {
    text.contains(OPEN)
}

/// Why a marker could not be turned back into its value. Permanent: the
/// configuration or the rules must change first. Names a secret, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    #[error(
        "secret `{0}` is not configured: add it to [secrets] in the configuration file (or set STARLING__SECRETS__{upper}), then `starling jobs retry`",
        upper = .0.to_ascii_uppercase()
    )]
    UnknownSecret(String),
    #[error(
        "the literal credential «literal:{0}» this action was rendered with is no longer in the rule files (edited since?): put it back, or better move it to [secrets] and write {{{{ secrets.NAME }}}}, then `starling jobs retry`"
    )]
    LiteralGone(String),
}

/// Where credentials are looked up when a request is sent.
pub trait Lookup {
    /// Configured secret `name` (already lowercased).
    fn secret(&self, name: &str) -> Option<Secret>;
    /// The literal credential with id `id` in the rule files loaded now.
    fn literal(&self, id: &str) -> Option<Secret>;
}

/// The literal credentials of the rules loaded now (the live rule set).
pub trait Literals: Send + Sync {
    fn literal(&self, id: &str) -> Option<Secret>;
}

/// What markers resolve against when a request is sent: the configured
/// `[secrets]` and the loaded rules' literal credentials.
#[derive(Clone, Default)]
pub struct Vault {
    secrets: std::sync::Arc<std::collections::HashMap<String, Secret>>,
    literals: Option<std::sync::Arc<dyn Literals>>,
}

impl Vault {
    /// `secrets` by lowercased name (as `Settings::secrets` holds them).
    pub fn new(
        secrets: std::collections::HashMap<String, Secret>,
        literals: Option<std::sync::Arc<dyn Literals>>,
    ) -> Self {
        Self {
            secrets: std::sync::Arc::new(secrets),
            literals,
        }
    }
}

impl Lookup for Vault {
    fn secret(&self, name: &str) -> Option<Secret> {
        self.secrets.get(name).cloned()
    }

    fn literal(&self, id: &str) -> Option<Secret> {
        self.literals.as_ref()?.literal(id)
    }
}

/// A value put into a request, kept to scrub it out of what the receiver answers.
#[derive(Clone)]
pub struct Revealed {
    pub marker: String,
    pub value: Secret,
}

/// `text` with every marker replaced by its clear value; each value used is
/// pushed onto `revealed`.
pub fn reveal(
    text: &str,
    lookup: &dyn Lookup,
    revealed: &mut Vec<Revealed>,
) -> Result<String, Unresolved> {
    if !has_marker(text) {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &after[..end];
        let marker = &rest[start..start + OPEN.len() + end + CLOSE.len()];
        let value = if let Some(name) = inner.strip_prefix("secret:") {
            Some(
                lookup
                    .secret(&name.to_ascii_lowercase())
                    .ok_or_else(|| Unresolved::UnknownSecret(name.to_string()))?,
            )
        } else if let Some(id) = inner.strip_prefix("literal:") {
            Some(
                lookup
                    .literal(id)
                    .ok_or_else(|| Unresolved::LiteralGone(id.to_string()))?,
            )
        } else {
            None
        };
        match value {
            Some(value) => {
                out.push_str(value.expose());
                revealed.push(Revealed {
                    marker: marker.to_string(),
                    value,
                });
            }
            // Not ours (a user's own «…» text): left as written.
            None => out.push_str(marker),
        }
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `text` with every value of `revealed` put back as its marker (a receiver
/// that echoes a header back must not put it in the audit log).
pub fn scrub(text: &str, revealed: &[Revealed]) -> String {
    let mut out = text.to_string();
    for r in revealed {
        // Very short values would mask ordinary text; they are no credential anyway.
        if r.value.expose().len() >= 4 && out.contains(r.value.expose()) {
            out = out.replace(r.value.expose(), &r.marker);
        }
    }
    out
}

/// `text` with each of `literals` (clear credentials from a rule file) replaced
/// by its marker, longest first so one never breaks another.
pub fn mask_literals(text: &str, literals: &[Secret]) -> String {
    let mut out = text.to_string();
    for literal in literals {
        if !literal.expose().is_empty() && out.contains(literal.expose()) {
            out = out.replace(literal.expose(), &literal_marker(literal.expose()));
        }
    }
    out
}

/// [`mask_literals`] on every string of a JSON value (rendered parameters).
pub fn mask_literals_in(value: &mut serde_json::Value, literals: &[Secret]) {
    use serde_json::Value;
    match value {
        Value::String(s) => *s = mask_literals(s, literals),
        Value::Array(items) => items.iter_mut().for_each(|v| mask_literals_in(v, literals)),
        Value::Object(map) => map.values_mut().for_each(|v| mask_literals_in(v, literals)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Table(HashMap<String, Secret>, HashMap<String, Secret>);

    impl Lookup for Table {
        fn secret(&self, name: &str) -> Option<Secret> {
            self.0.get(name).cloned()
        }
        fn literal(&self, id: &str) -> Option<Secret> {
            self.1.get(id).cloned()
        }
    }

    #[test]
    fn markers_round_trip_and_unknown_ones_name_the_secret_only() {
        let literal = "sk_live_abc123";
        let table = Table(
            HashMap::from([("hook".to_string(), Secret::new("https://h/x"))]),
            HashMap::from([(literal_id(literal), Secret::new(literal))]),
        );
        let masked = mask_literals(&format!("Bearer {literal}"), &[Secret::new(literal)]);
        assert!(!masked.contains(literal), "{masked}");
        let mut used = Vec::new();
        let text = format!("{} {masked} «other»", secret_marker("HOOK"));
        assert_eq!(
            reveal(&text, &table, &mut used).unwrap(),
            format!("https://h/x Bearer {literal} «other»")
        );
        assert_eq!(used.len(), 2);
        assert_eq!(
            scrub(&format!("echo: Bearer {literal}"), &used),
            format!("echo: Bearer {}", literal_marker(literal))
        );
        let err = reveal("«secret:NOPE»", &table, &mut used).unwrap_err();
        assert_eq!(err, Unresolved::UnknownSecret("NOPE".into()));
        assert!(err.to_string().contains("STARLING__SECRETS__NOPE"));
        let gone = reveal("«literal:0011»", &table, &mut used).unwrap_err();
        assert!(gone.to_string().contains("no longer in the rule files"));
    }
}
