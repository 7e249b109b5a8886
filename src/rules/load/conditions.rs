//! `on:`, `keywords:`, `match:`, `cooldown:` and durations: when a rule applies.

use super::yaml::{pos_of, scalar_json, scalar_pos};
use super::{Loader, Src};
use crate::event::KNOWN_KINDS;
use crate::rules::error::{Pos, did_you_mean};
use crate::rules::{Cooldown, FieldMatch, FieldPath, matcher};
use marked_yaml::Node;
use marked_yaml::types::MarkedMappingNode;
use std::time::Duration;

const COOLDOWN_KEYS: &[&str] = &["key", "for"];

impl Loader {
    pub(super) fn on(&mut self, src: Src, map: &MarkedMappingNode, at: Pos) -> Vec<String> {
        let Some(node) = map.get_node("on") else {
            self.error(
                src,
                at,
                format!(
                    "missing `on`; expected one or more event kinds: {}",
                    KNOWN_KINDS.join(", ")
                ),
            );
            return Vec::new();
        };
        let mut kinds = Vec::new();
        for kind in self.strings(src, node, "on") {
            if KNOWN_KINDS.contains(&kind.as_str()) {
                kinds.push(kind.as_str().to_string());
            } else {
                let hint = did_you_mean(kind.as_str(), KNOWN_KINDS)
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                self.error(
                    src,
                    scalar_pos(kind),
                    format!(
                        "unknown event kind `{}`; {hint}expected one of: {}",
                        kind.as_str(),
                        KNOWN_KINDS.join(", ")
                    ),
                );
            }
        }
        kinds
    }

    /// `keywords:` (or another list of whole words searched in the event's text).
    pub(super) fn keywords(
        &mut self,
        src: Src,
        map: &MarkedMappingNode,
        on: &[String],
        key: &str,
    ) -> Vec<String> {
        let Some(node) = map.get_node(key) else {
            return Vec::new();
        };
        let words: Vec<String> = self
            .strings(src, node, key)
            .iter()
            .map(|s| s.as_str().trim().to_string())
            .collect();
        if words.iter().any(String::is_empty) {
            self.error(
                src,
                pos_of(node),
                format!("{key}: expected non-empty words"),
            );
        }
        for kind in on {
            if matcher::text_path(kind).is_none() {
                self.error(src, pos_of(node), format!("{key}: events of kind `{kind}` carry no text to search; use `match:` or `when:`"));
            }
        }
        words
    }

    /// `unless_keywords:`, also spelled `not_keywords:` (not both).
    pub(super) fn unless_keywords(
        &mut self,
        src: Src,
        map: &MarkedMappingNode,
        on: &[String],
    ) -> Vec<String> {
        if let (Some(_), Some(second)) = (
            map.get_node("unless_keywords"),
            map.get_node("not_keywords"),
        ) {
            self.error(
                src,
                pos_of(second),
                "not_keywords: is another name for unless_keywords:; expected one of them, not both",
            );
        }
        let mut words = self.keywords(src, map, on, "unless_keywords");
        words.extend(self.keywords(src, map, on, "not_keywords"));
        words
    }

    /// `intent:` (labels of `crate::intent`) and `min_confidence:` (0 to 1).
    pub(super) fn intent(
        &mut self,
        src: Src,
        map: &MarkedMappingNode,
        on: &[String],
    ) -> Option<crate::rules::IntentMatch> {
        use crate::intent::IntentLabel;
        let min = map.get_node("min_confidence");
        let Some(node) = map.get_node("intent") else {
            if let Some(min) = min {
                self.error(
                    src,
                    pos_of(min),
                    "min_confidence: applies to `intent:`; expected an `intent:` next to it",
                );
            }
            return None;
        };
        let names: Vec<&str> = IntentLabel::ALL.iter().map(|l| l.as_str()).collect();
        let mut labels = Vec::new();
        for given in self.strings(src, node, "intent") {
            match given.as_str().trim().parse::<IntentLabel>() {
                Ok(label) => labels.push(label),
                Err(_) => {
                    let hint = did_you_mean(given.as_str(), &names)
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    self.error(
                        src,
                        scalar_pos(given),
                        format!(
                            "intent: unknown label `{}`; {hint}expected one of: {}",
                            given.as_str(),
                            names.join(", ")
                        ),
                    );
                }
            }
        }
        for kind in on {
            if matcher::text_path(kind).is_none() {
                self.error(
                    src,
                    pos_of(node),
                    format!("intent: events of kind `{kind}` carry no text to classify"),
                );
            }
        }
        let min_confidence = match min.and_then(|n| self.scalar(src, n, "min_confidence")) {
            None => 0.0,
            Some(s) => match s.as_str().trim().parse::<f32>() {
                Ok(v) if (0.0..=1.0).contains(&v) => v,
                _ => {
                    self.error(
                        src,
                        scalar_pos(s),
                        format!(
                            "min_confidence: `{}` is not a number from 0 to 1",
                            s.as_str()
                        ),
                    );
                    0.0
                }
            },
        };
        Some(crate::rules::IntentMatch {
            labels,
            min_confidence,
        })
    }

    /// `group:` (a name) and `priority:` (an integer, higher first; default 0).
    pub(super) fn group(&mut self, src: Src, map: &MarkedMappingNode) -> (Option<String>, i64) {
        let group = map
            .get_node("group")
            .and_then(|n| self.scalar(src, n, "group"))
            .map(|s| (s.as_str().trim().to_string(), scalar_pos(s)));
        if let Some((name, pos)) = &group
            && name.is_empty()
        {
            self.error(
                src,
                *pos,
                "group: expected a non-empty name, e.g. `group: crm-tag`",
            );
        }
        let priority = match map.get_node("priority") {
            None => 0,
            Some(node) => match self.scalar(src, node, "priority") {
                Some(s) => match s.as_str().trim().parse::<i64>() {
                    Ok(p) => p,
                    Err(_) => {
                        self.error(
                            src,
                            scalar_pos(s),
                            format!("priority: `{}` is not an integer; expected e.g. `priority: 10` (higher first)", s.as_str()),
                        );
                        0
                    }
                },
                None => 0,
            },
        };
        if group.is_none()
            && let Some(node) = map.get_node("priority")
        {
            self.error(
                src,
                pos_of(node),
                "priority: orders the rules of a `group:`; expected a `group:` next to it",
            );
        }
        (group.map(|(name, _)| name), priority)
    }

    pub(super) fn field_matches(&mut self, src: Src, map: &MarkedMappingNode) -> Vec<FieldMatch> {
        let Some(node) = map.get_node("match") else {
            return Vec::new();
        };
        let Some(fields) = node.as_mapping() else {
            self.error(src, pos_of(node), "match: expected a mapping of field paths to values, e.g. `data.account_handle: [alice, bob]`");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (path, values) in fields.iter() {
            let segments: Vec<String> = path.as_str().split('.').map(str::to_string).collect();
            if !matches!(segments.first().map(String::as_str), Some("data" | "event"))
                || segments.iter().any(String::is_empty)
            {
                self.error(src, scalar_pos(path), format!("match: `{}` is not a field path; expected one starting with `data.` or `event.`", path.as_str()));
                continue;
            }
            let values = self
                .strings(src, values, "match")
                .iter()
                .map(|s| scalar_json(s))
                .map(|v| matcher::normalized(&v))
                .collect();
            out.push(FieldMatch {
                path: FieldPath(segments),
                values,
            });
        }
        out
    }

    pub(super) fn cooldown(&mut self, src: Src, node: &Node, id: usize) -> Option<Cooldown> {
        let Some(map) = node.as_mapping() else {
            self.error(
                src,
                pos_of(node),
                "cooldown: expected a mapping {key: \"{{ … }}\", for: 30d}",
            );
            return None;
        };
        self.check_keys(src, map, COOLDOWN_KEYS, "cooldown");
        let key = match map.get_node("key") {
            Some(n) => self.scalar(src, n, "cooldown.key").and_then(|s| {
                self.compile(
                    src,
                    s,
                    format!("{}#{id}/cooldown", src.file),
                    s.as_str().to_string(),
                    0,
                    "cooldown.key",
                )
            }),
            None => {
                self.error(src, pos_of(node), "cooldown: missing `key`; expected a template such as \"{{ data.receiver.screen_name }}\"");
                None
            }
        };
        let window = match map.get_node("for") {
            Some(n) => self.duration(src, n, "cooldown.for"),
            None => {
                self.error(
                    src,
                    pos_of(node),
                    "cooldown: missing `for`; expected a duration such as 30d",
                );
                None
            }
        };
        Some(Cooldown {
            key: key?,
            window: window?,
        })
    }

    pub(super) fn duration(&mut self, src: Src, node: &Node, what: &str) -> Option<Duration> {
        let scalar = self.scalar(src, node, what)?;
        match humantime::parse_duration(scalar.as_str().trim()) {
            Ok(d) => Some(d),
            Err(_) => {
                self.error(
                    src,
                    scalar_pos(scalar),
                    format!(
                        "{what}: `{}` is not a duration; expected e.g. 30s, 10m, 2h, 30d",
                        scalar.as_str()
                    ),
                );
                None
            }
        }
    }
}
