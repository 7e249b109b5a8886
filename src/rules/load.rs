//! Reading rule files: YAML (with a position on every node) → checked [`Rule`]s.
//!
//! Loading never stops at the first problem: every problem of every file is
//! collected with its file, line and column, what is wrong and what was expected.
//! A set with any problem is refused as a whole.
//!
//! Secrets: a template naming `secrets.NAME` that the configuration lacks is a
//! problem (when the caller says which names exist, [`Known`]); a credential
//! written literally (see `crate::secret::credential`) is a warning, and the
//! set keeps it to mask it in every stored copy and reveal it when sent.

mod action_params;
mod conditions;
mod jinja;
mod secrets;
mod static_check;
mod tests_block;

use super::error::{Pos, RuleError, RuleErrors, did_you_mean};
use super::template::{self, CONDITION_PREFIX, CONDITION_SUFFIX};
use super::{Rule, RuleSet};
use crate::secret::Secret;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// What rules are checked against besides their files.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Configured secret names, lowercased; `None`: references are not checked.
    pub secrets: Option<BTreeSet<String>>,
}

impl Known {
    /// The secrets configured in `settings`.
    pub fn of(settings: &crate::config::Settings) -> Self {
        Self {
            secrets: Some(settings.secrets.keys().cloned().collect()),
        }
    }
}

const RULE_KEYS: &[&str] = &[
    "name",
    "description",
    "enabled",
    "on",
    "keywords",
    "unless_keywords",
    "not_keywords",
    "intent",
    "min_confidence",
    "match",
    "when",
    "cooldown",
    "group",
    "priority",
    "do",
    "tests",
];

/// The rule files of `dir` (`*.yaml`, `*.yml`), sorted by name.
pub fn rule_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Loads every rule file of `dir`, secret names unchecked.
pub fn load_dir(dir: &Path) -> Result<RuleSet, RuleErrors> {
    load_dir_with(dir, &Known::default())
}

/// Loads every rule file of `dir`, checking them against `known`.
pub fn load_dir_with(dir: &Path, known: &Known) -> Result<RuleSet, RuleErrors> {
    let display = dir.display().to_string();
    let files = rule_files(dir).map_err(|e| {
        RuleErrors(vec![RuleError {
            file: display.clone(),
            pos: Pos::default(),
            message: format!("cannot read the rules directory: {e}"),
        }])
    })?;
    let mut sources = Vec::new();
    for file in files {
        let name = file.display().to_string();
        match std::fs::read_to_string(&file) {
            Ok(text) => sources.push((name, text)),
            Err(e) => {
                return Err(RuleErrors(vec![RuleError {
                    file: name,
                    pos: Pos::default(),
                    message: format!("cannot read: {e}"),
                }]));
            }
        }
    }
    load_sources_with(&sources, known)
}

/// Loads rules from `(file name, YAML text)` pairs, secret names unchecked.
pub fn load_sources(sources: &[(String, String)]) -> Result<RuleSet, RuleErrors> {
    load_sources_with(sources, &Known::default())
}

/// Loads rules from `(file name, YAML text)` pairs, checking them against `known`.
pub fn load_sources_with(
    sources: &[(String, String)],
    known: &Known,
) -> Result<RuleSet, RuleErrors> {
    let mut loader = Loader {
        env: template::environment(),
        rules: Vec::new(),
        errors: Vec::new(),
        names: HashMap::new(),
        known: known.clone(),
        warnings: Vec::new(),
        literals: HashMap::new(),
        action_literals: Vec::new(),
        current_on: Vec::new(),
    };
    for (index, (file, text)) in sources.iter().enumerate() {
        loader.file(index, file, text);
    }
    if loader.errors.is_empty() {
        let mut set = RuleSet::new(loader.rules, loader.env);
        set.literals = loader.literals;
        set.warnings = loader.warnings;
        set.warnings
            .extend(super::select::tag_conflicts(&set.rules));
        Ok(set)
    } else {
        Err(RuleErrors(loader.errors))
    }
}

struct Loader {
    env: minijinja::Environment<'static>,
    rules: Vec<Rule>,
    errors: Vec<RuleError>,
    names: HashMap<String, (String, Pos)>,
    known: Known,
    /// Not problems, but worth saying (literal credentials).
    warnings: Vec<RuleError>,
    /// Every literal credential of the set, by marker id.
    literals: HashMap<String, Secret>,
    /// The literal credentials of the action being read.
    action_literals: Vec<Secret>,
    /// The event kinds (`on:`) of the rule being read: what its templates may read.
    current_on: Vec<String>,
}

/// The file being read.
#[derive(Clone, Copy)]
struct Src<'a> {
    file: &'a str,
    text: &'a str,
}

/// Where a node starts; for a mapping, its first key (YAML marks the first `:`).
fn pos_of(node: &Node) -> Pos {
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

fn scalar_pos(node: &MarkedScalarNode) -> Pos {
    node.span()
        .start()
        .map(|m| Pos {
            line: m.line(),
            column: m.column(),
        })
        .unwrap_or_default()
}

/// Byte offsets of line starts, to turn (line, column) into a byte offset in O(line length).
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, starts }
    }

    /// Byte offset of 1-based `line` and `column` (columns count characters).
    fn byte_offset(&self, line: usize, column: usize) -> usize {
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
    fn error(&mut self, src: Src, pos: Pos, message: impl Into<String>) {
        self.errors.push(RuleError {
            file: src.file.to_string(),
            pos,
            message: message.into(),
        });
    }

    fn file(&mut self, index: usize, file: &str, text: &str) {
        let src = Src { file, text };
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return;
        }
        let options = LoaderOptions::default()
            .toplevel_sequence()
            .error_on_duplicate_keys(true)
            // Quoted scalars stay strings: `id: "1"` is text, `total: 500` a number.
            .prevent_coercion(true);
        let root = match marked_yaml::parse_yaml_with_options(index, text, options) {
            Ok(root) => root,
            Err(e) => return self.yaml_error(src, e),
        };
        let Some(items) = root.as_sequence() else {
            return;
        };
        let lines = LineIndex::new(text);
        let starts: Vec<usize> = items
            .iter()
            .map(|n| {
                n.span()
                    .start()
                    .map(|m| lines.byte_offset(m.line(), m.column()))
                    .unwrap_or(0)
            })
            .chain(std::iter::once(text.len()))
            .collect();
        for (i, item) in items.iter().enumerate() {
            let item_text = &text[starts[i]..starts[i + 1].max(starts[i])];
            match item.as_mapping() {
                Some(map) => self.rule(src, map, pos_of(item), item_text),
                None => self.error(
                    src,
                    pos_of(item),
                    "expected a rule (a mapping with name, on and do)",
                ),
            }
        }
    }

    fn yaml_error(&mut self, src: Src, e: LoadError) {
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
    fn check_keys(&mut self, src: Src, map: &MarkedMappingNode, allowed: &[&str], what: &str) {
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

    fn scalar<'n>(&mut self, src: Src, node: &'n Node, what: &str) -> Option<&'n MarkedScalarNode> {
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
    fn strings<'n>(&mut self, src: Src, node: &'n Node, what: &str) -> Vec<&'n MarkedScalarNode> {
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

    fn rule(&mut self, src: Src, map: &MarkedMappingNode, at: Pos, text: &str) {
        self.check_keys(src, map, RULE_KEYS, "a rule");
        let id = self.rules.len();
        let name = match map.get_node("name") {
            Some(node) => self
                .scalar(src, node, "name")
                .map(|s| (s.as_str().trim().to_string(), scalar_pos(s))),
            None => {
                self.error(
                    src,
                    at,
                    "missing `name`; expected a unique name for the rule",
                );
                None
            }
        };
        let mut ok = true;
        if let Some((name, pos)) = &name {
            if name.is_empty() {
                self.error(src, *pos, "name: expected a non-empty name");
            } else if let Some((file, first)) = self.names.get(name).cloned() {
                self.error(
                    src,
                    *pos,
                    format!(
                        "duplicate rule name `{name}`; also defined at {file}:{}:{}",
                        first.line, first.column
                    ),
                );
                self.errors.push(RuleError {
                    file,
                    pos: first,
                    message: format!(
                        "duplicate rule name `{name}`; also defined at {}:{}:{}",
                        src.file, pos.line, pos.column
                    ),
                });
                ok = false;
            } else {
                self.names
                    .insert(name.clone(), (src.file.to_string(), *pos));
            }
        }
        let name_or = name.as_ref().map(|(n, _)| n.clone()).unwrap_or_default();

        let on = self.on(src, map, at);
        self.current_on = on.clone();
        let description = map
            .get_node("description")
            .and_then(|n| self.scalar(src, n, "description"))
            .map(|s| s.as_str().to_string());
        let enabled = match map.get_node("enabled") {
            None => true,
            Some(node) => match self
                .scalar(src, node, "enabled")
                .map(|s| (s.as_bool(), scalar_pos(s)))
            {
                Some((Some(b), _)) => b,
                Some((None, pos)) => {
                    self.error(src, pos, "enabled: expected true or false");
                    true
                }
                None => true,
            },
        };
        let keywords = self.keywords(src, map, &on, "keywords");
        let unless_keywords = self.unless_keywords(src, map, &on);
        let intent = self.intent(src, map, &on);
        let (group, priority) = self.group(src, map);
        let matches = self.field_matches(src, map);
        let when = map.get_node("when").and_then(|node| {
            let scalar = self.scalar(src, node, "when")?;
            let name = format!("{}#{id}/when", src.file);
            let body = format!("{CONDITION_PREFIX}{}{CONDITION_SUFFIX}", scalar.as_str());
            self.compile(
                src,
                scalar,
                name.clone(),
                body,
                CONDITION_PREFIX.len(),
                "when",
            )
            .map(|n| (n, scalar.as_str().to_string()))
        });
        let cooldown = map
            .get_node("cooldown")
            .and_then(|node| self.cooldown(src, node, id));
        let actions = match map.get_node("do") {
            Some(node) => {
                // Parameters taken from a Scrapely event must be given on other events.
                let scrapely_only = !on.is_empty() && on.iter().all(|k| k.starts_with("scrapely."));
                self.actions(src, node, id, scrapely_only)
            }
            None => {
                self.error(
                    src,
                    at,
                    "missing `do`; expected a list of actions, e.g. `- action: slack.post`",
                );
                Vec::new()
            }
        };
        let tests = map
            .get_node("tests")
            .map(|node| self.tests(src, node))
            .unwrap_or_default();
        if !ok || name.is_none() {
            return;
        }
        self.rules.push(Rule {
            name: name_or,
            description,
            enabled,
            on,
            keywords,
            unless_keywords,
            intent,
            matches,
            when,
            cooldown,
            group,
            priority,
            actions,
            tests,
            hash: hex::encode(Sha256::digest(text.as_bytes())),
            file: src.file.to_string(),
            pos: at,
        });
    }
}

/// A scalar as JSON: numbers and booleans when unquoted, else a string.
fn scalar_json(s: &MarkedScalarNode) -> Value {
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
