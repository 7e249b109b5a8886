//! Credentials in rule files: `{{ secrets.NAME }}` must name a configured
//! secret (an error otherwise, with a did-you-mean), and a credential written
//! literally is a warning — kept by the set to be masked and revealed.

use super::yaml::scalar_pos;
use super::{Loader, Src};
use crate::rules::error::{RuleError, did_you_mean};
use crate::rules::template::ScalarPlace;
use crate::secret::credential::{is_credential_header, literal_in_header, literals_in_url};
use crate::secret::{Secret, marker};
use marked_yaml::Node;
use marked_yaml::types::MarkedScalarNode;
use std::sync::LazyLock;

/// `secrets.NAME` or `secrets['NAME']` in a template.
static REFERENCE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r#"\bsecrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:"([^"]*)"|'([^']*)')\s*\])"#,
    )
    .expect("valid")
});

impl Loader {
    /// Each `secrets.NAME` of a template must be configured (when names are known).
    pub(super) fn check_secret_refs(&mut self, src: Src, scalar: &MarkedScalarNode, what: &str) {
        let Some(known) = self.known.secrets.clone() else {
            return;
        };
        let text = scalar.as_str();
        for caps in REFERENCE.captures_iter(text) {
            let Some(m) = caps.get(1).or_else(|| caps.get(2)).or_else(|| caps.get(3)) else {
                continue;
            };
            let name = m.as_str();
            if known.contains(&name.to_ascii_lowercase()) {
                continue;
            }
            let at = scalar_pos(scalar);
            let pos = ScalarPlace::new(src.text, at.line, at.column).locate(text, m.start());
            let names: Vec<&str> = known.iter().map(String::as_str).collect();
            let hint = match did_you_mean(&name.to_ascii_lowercase(), &names) {
                Some(close) => format!("did you mean `{}`? ", close.to_ascii_uppercase()),
                None => String::new(),
            };
            let have = if names.is_empty() {
                "none are configured".to_string()
            } else {
                format!(
                    "configured: {}",
                    names
                        .iter()
                        .map(|n| n.to_ascii_uppercase())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            self.error(
                src,
                pos,
                format!(
                    "{what}: unknown secret `{name}`; {hint}expected a key of [secrets] in the configuration or a STARLING__SECRETS__{} variable ({have})",
                    name.to_ascii_uppercase()
                ),
            );
        }
    }

    /// Notes credentials written literally in parameter `name` of an action
    /// (its URL, Slack webhook URL or credential headers): a warning each, and
    /// kept to be masked in the rendered parameters.
    pub(super) fn note_literal_credentials(&mut self, src: Src, name: &str, value: &Node) {
        let mut found: Vec<(String, &MarkedScalarNode, String)> = Vec::new();
        match (name, value) {
            ("url" | "webhook_url", Node::Scalar(s)) => {
                for literal in literals_in_url(s.as_str(), name == "webhook_url") {
                    found.push((literal, s, format!("with.{name}")));
                }
            }
            ("headers", Node::Mapping(map)) => {
                for (header, v) in map.iter() {
                    if let Node::Scalar(s) = v
                        && is_credential_header(header.as_str())
                        && let Some(literal) = literal_in_header(s.as_str())
                    {
                        found.push((literal, s, format!("with.headers.{}", header.as_str())));
                    }
                }
            }
            _ => {}
        }
        for (literal, scalar, what) in found {
            // Pointed at the credential itself, inside its scalar.
            let at = scalar_pos(scalar);
            let offset = scalar.as_str().find(&literal).unwrap_or(0);
            let pos =
                ScalarPlace::new(src.text, at.line, at.column).locate(scalar.as_str(), offset);
            self.warnings.push(RuleError {
                file: src.file.to_string(),
                pos,
                message: format!(
                    "warning: {what} holds a credential written in the rule file (sent, but stored and shown as {}); move it to [secrets] and write {{{{ secrets.NAME }}}}",
                    marker::literal_marker(&literal)
                ),
            });
            self.literals
                .insert(marker::literal_id(&literal), Secret::new(literal.clone()));
            self.action_literals.push(Secret::new(literal));
        }
    }

    /// The literal credentials of the action just read, longest first (so a
    /// shorter one inside a longer one never breaks the longer one's mask).
    pub(super) fn take_action_literals(&mut self) -> Vec<Secret> {
        let mut literals = std::mem::take(&mut self.action_literals);
        literals.sort_by_key(|s| (std::cmp::Reverse(s.expose().len()), s.expose().to_string()));
        literals.dedup_by(|a, b| a.expose() == b.expose());
        literals
    }
}
