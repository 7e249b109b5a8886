//! YAML nodes as the loader reads them: where a node starts (line and column,
//! and byte offsets of line starts), YAML syntax errors as problems, unknown
//! keys with a did-you-mean, single values and lists of values, and scalars as
//! JSON (numbers and booleans only when unquoted).

use super::{Loader, Src};
use crate::rules::error::{Pos, did_you_mean};
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, Node};
use serde_json::Value;

/// Where a node starts; for a mapping, its first key (YAML marks the first `:`).
pub(super) fn pos_of(node: &Node) -> Pos {
    if let Some(first) = node.as_mapping().and_then(|m| m.keys().next()) {
        return scalar_pos(first);
    }
    node.span()
        .start()
        .map(|m| Pos {
            line: m.line(),
            column: m.column(),
        })
        .unwrap_or_default()
}

pub(super) fn scalar_pos(node: &MarkedScalarNode) -> Pos {
    node.span()
        .start()
        .map(|m| Pos {
            line: m.line(),
            column: m.column(),
        })
        .unwrap_or_default()
}

/// Byte offsets of line starts, to turn (line, column) into a byte offset in O(line length).
pub(super) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, starts }
    }

    /// Byte offset of 1-based `line` and `column` (columns count characters).
    pub(super) fn byte_offset(&self, line: usize, column: usize) -> usize {
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len());
        let rest = &self.text[start..];
        start
            + rest
                .char_indices()
                .nth(column.saturating_sub(1))
                .map(|(b, _)| b)
                .unwrap_or(rest.len())
    }
}

impl Loader {
    pub(super) fn yaml_error(&mut self, src: Src, e: LoadError) {
        let at = |m: &marked_yaml::Marker| Pos {
            line: m.line(),
            column: m.column(),
        };
        let (pos, message) = match &e {
            LoadError::TopLevelMustBeSequence(m) => (
                Pos {
                    line: m.line(),
                    column: 1,
                },
                "expected a list of rules, each item starting with `- name:`".to_string(),
            ),
            LoadError::ScanError(m, scan) => (at(m), format!("YAML syntax error: {}", scan.info())),
            LoadError::DuplicateKey(inner) => (
                scalar_pos(&inner.key),
                format!(
                    "duplicate key `{}` (first at line {})",
                    inner.key.as_str(),
                    inner.prev_key.span().start().map(|m| m.line()).unwrap_or(0)
                ),
            ),
            other => (Pos { line: 1, column: 1 }, format!("YAML error: {other}")),
        };
        self.error(src, pos, message);
    }

    /// Reports keys of `map` not in `allowed`, with a suggestion.
    pub(super) fn check_keys(
        &mut self,
        src: Src,
        map: &MarkedMappingNode,
        allowed: &[&str],
        what: &str,
    ) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = did_you_mean(key.as_str(), allowed)
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                let message = format!(
                    "unknown key `{}` in {what}; {hint}expected one of: {}",
                    key.as_str(),
                    allowed.join(", ")
                );
                self.error(src, scalar_pos(key), message);
            }
        }
    }

    pub(super) fn scalar<'n>(
        &mut self,
        src: Src,
        node: &'n Node,
        what: &str,
    ) -> Option<&'n MarkedScalarNode> {
        let scalar = node.as_scalar();
        if scalar.is_none() {
            self.error(
                src,
                pos_of(node),
                format!("{what}: expected a single value, not a list or mapping"),
            );
        }
        scalar
    }

    /// A scalar or a list of scalars.
    pub(super) fn strings<'n>(
        &mut self,
        src: Src,
        node: &'n Node,
        what: &str,
    ) -> Vec<&'n MarkedScalarNode> {
        match node {
            Node::Scalar(s) => vec![s],
            Node::Sequence(items) => items
                .iter()
                .filter_map(|n| self.scalar(src, n, what))
                .collect(),
            Node::Mapping(_) => {
                self.error(
                    src,
                    pos_of(node),
                    format!("{what}: expected a value or a list of values"),
                );
                Vec::new()
            }
        }
    }
}

/// A scalar as JSON: numbers and booleans when unquoted, else a string.
pub(super) fn scalar_json(s: &MarkedScalarNode) -> Value {
    if s.may_coerce() {
        if let Some(b) = s.as_bool() {
            return Value::Bool(b);
        }
        if let Some(i) = s.as_i64() {
            return Value::from(i);
        }
        if let Some(f) = s.as_f64() {
            return Value::from(f);
        }
        if matches!(s.as_str(), "null" | "Null" | "NULL" | "~" | "") {
            return Value::Null;
        }
    }
    Value::String(s.as_str().to_string())
}

/// A YAML node as JSON (test events and expected parameters).
pub fn node_json(node: &Node) -> Value {
    match node {
        Node::Scalar(s) => scalar_json(s),
        Node::Sequence(items) => Value::Array(items.iter().map(node_json).collect()),
        Node::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().to_string(), node_json(v)))
                .collect(),
        ),
    }
}
