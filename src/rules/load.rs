//! Reading rule files: YAML (with a position on every node) → checked [`Rule`]s.
//!
//! Loading never stops at the first problem: every problem of every file is
//! collected with its file, line and column, what is wrong and what was expected.
//! A set with any problem is refused as a whole.

use super::error::{Pos, RuleError, RuleErrors, did_you_mean};
use super::template::{self, CONDITION_PREFIX, CONDITION_SUFFIX, ScalarPlace};
use super::{
    ActionTemplate, Cooldown, FieldMatch, FieldPath, Param, Rule, RuleSet, RuleTest, matcher,
};
use crate::actions::{self, ParamKind};
use crate::event::KNOWN_KINDS;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

const RULE_KEYS: &[&str] = &[
    "name",
    "description",
    "enabled",
    "on",
    "keywords",
    "match",
    "when",
    "cooldown",
    "do",
    "tests",
];
const ACTION_KEYS: &[&str] = &["action", "with", "delay"];
const COOLDOWN_KEYS: &[&str] = &["key", "for"];
const TEST_KEYS: &[&str] = &["name", "event", "expect"];
const EXPECT_KEYS: &[&str] = &["match", "actions"];
const EXPECTED_ACTION_KEYS: &[&str] = &["action", "with"];

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

/// Loads every rule file of `dir`.
pub fn load_dir(dir: &Path) -> Result<RuleSet, RuleErrors> {
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
    load_sources(&sources)
}

/// Loads rules from `(file name, YAML text)` pairs.
pub fn load_sources(sources: &[(String, String)]) -> Result<RuleSet, RuleErrors> {
    let mut loader = Loader {
        env: template::environment(),
        rules: Vec::new(),
        errors: Vec::new(),
        names: HashMap::new(),
    };
    for (index, (file, text)) in sources.iter().enumerate() {
        loader.file(index, file, text);
    }
    if loader.errors.is_empty() {
        Ok(RuleSet::new(loader.rules, loader.env))
    } else {
        Err(RuleErrors(loader.errors))
    }
}

struct Loader {
    env: minijinja::Environment<'static>,
    rules: Vec<Rule>,
    errors: Vec<RuleError>,
    names: HashMap<String, (String, Pos)>,
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

fn char_to_byte(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map(|(b, _)| b)
        .unwrap_or(text.len())
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
        let starts: Vec<usize> = items
            .iter()
            .map(|n| {
                n.span()
                    .start()
                    .map(|m| char_to_byte(text, m.character()))
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
                Pos { line: m.line(), column: 1 },
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
        let keywords = self.keywords(src, map, &on);
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
            Some(node) => self.actions(src, node, id),
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
            matches,
            when,
            cooldown,
            actions,
            tests,
            hash: hex::encode(Sha256::digest(text.as_bytes())),
            file: src.file.to_string(),
            pos: at,
        });
    }

    fn on(&mut self, src: Src, map: &MarkedMappingNode, at: Pos) -> Vec<String> {
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

    fn keywords(&mut self, src: Src, map: &MarkedMappingNode, on: &[String]) -> Vec<String> {
        let Some(node) = map.get_node("keywords") else {
            return Vec::new();
        };
        let words: Vec<String> = self
            .strings(src, node, "keywords")
            .iter()
            .map(|s| s.as_str().trim().to_string())
            .collect();
        if words.iter().any(String::is_empty) {
            self.error(src, pos_of(node), "keywords: expected non-empty words");
        }
        for kind in on {
            if matcher::text_path(kind).is_none() {
                self.error(src, pos_of(node), format!("keywords: events of kind `{kind}` carry no text to search; use `match:` or `when:`"));
            }
        }
        words
    }

    fn field_matches(&mut self, src: Src, map: &MarkedMappingNode) -> Vec<FieldMatch> {
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

    fn cooldown(&mut self, src: Src, node: &Node, id: usize) -> Option<Cooldown> {
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

    fn duration(&mut self, src: Src, node: &Node, what: &str) -> Option<Duration> {
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

    fn actions(&mut self, src: Src, node: &Node, id: usize) -> Vec<ActionTemplate> {
        let Some(items) = node.as_sequence().filter(|s| !s.is_empty()) else {
            self.error(
                src,
                pos_of(node),
                "do: expected a non-empty list of actions, e.g. `- action: slack.post`",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(map) = item.as_mapping() else {
                self.error(
                    src,
                    pos_of(item),
                    "do: expected an action mapping {action: NAME, with: {…}, delay: 10m}",
                );
                continue;
            };
            self.check_keys(src, map, ACTION_KEYS, "an action");
            let Some(name) = map
                .get_node("action")
                .and_then(|n| self.scalar(src, n, "action"))
            else {
                if map.get_node("action").is_none() {
                    self.error(
                        src,
                        pos_of(item),
                        format!(
                            "missing `action`; expected one of: {}",
                            actions::names().join(", ")
                        ),
                    );
                }
                continue;
            };
            let Some(spec) = actions::spec(name.as_str()) else {
                let names = actions::names();
                let hint = did_you_mean(name.as_str(), &names)
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                self.error(
                    src,
                    scalar_pos(name),
                    format!(
                        "unknown action `{}`; {hint}expected one of: {}",
                        name.as_str(),
                        names.join(", ")
                    ),
                );
                continue;
            };
            let delay = map
                .get_node("delay")
                .and_then(|n| self.duration(src, n, "delay"));
            let params = self.params(
                src,
                map.get_node("with"),
                spec,
                pos_of(item),
                &format!("{}#{id}/do{i}", src.file),
            );
            out.push(ActionTemplate {
                action: spec.name.to_string(),
                params,
                delay,
            });
        }
        out
    }

    fn params(
        &mut self,
        src: Src,
        with: Option<&Node>,
        spec: &actions::ActionSpec,
        at: Pos,
        prefix: &str,
    ) -> Vec<(String, Param)> {
        let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
        let map = match with {
            None => None,
            Some(node) => match node.as_mapping() {
                Some(m) => Some(m),
                None => {
                    self.error(
                        src,
                        pos_of(node),
                        format!(
                            "with: expected a mapping of parameters of {}: {}",
                            spec.name,
                            names.join(", ")
                        ),
                    );
                    return Vec::new();
                }
            },
        };
        let mut out = Vec::new();
        if let Some(map) = map {
            for (key, value) in map.iter() {
                let Some(p) = spec.params.iter().find(|p| p.name == key.as_str()) else {
                    let hint = did_you_mean(key.as_str(), &names)
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    self.error(
                        src,
                        scalar_pos(key),
                        format!(
                            "unknown parameter `{}` of {}; {hint}expected one of: {}",
                            key.as_str(),
                            spec.name,
                            names.join(", ")
                        ),
                    );
                    continue;
                };
                if let Some(param) = self.param(
                    src,
                    value,
                    p.kind,
                    &format!("{prefix}/{}", p.name),
                    &format!("with.{}", p.name),
                ) {
                    out.push((p.name.to_string(), param));
                }
            }
        }
        for p in spec
            .params
            .iter()
            .filter(|p| p.required && p.default_from_event.is_none())
        {
            if !out.iter().any(|(n, _)| n == p.name)
                && map.is_none_or(|m| m.get_node(p.name).is_none())
            {
                self.error(
                    src,
                    at,
                    format!("missing required parameter `{}` of {}", p.name, spec.name),
                );
            }
        }
        out
    }

    fn param(
        &mut self,
        src: Src,
        node: &Node,
        kind: ParamKind,
        name: &str,
        what: &str,
    ) -> Option<Param> {
        match node {
            Node::Scalar(s) => {
                let literal = scalar_json(s);
                let is_template = s.as_str().contains("{{") || s.as_str().contains("{%");
                match (kind, &literal) {
                    (ParamKind::Number, Value::Number(_)) | (ParamKind::Bool, Value::Bool(_)) => {
                        Some(Param::Literal(literal))
                    }
                    (ParamKind::Number | ParamKind::Bool, _) if !is_template => {
                        let expected = if kind == ParamKind::Number {
                            "a number"
                        } else {
                            "true or false"
                        };
                        self.error(
                            src,
                            scalar_pos(s),
                            format!("{what}: `{}` is not {expected}", s.as_str()),
                        );
                        None
                    }
                    (ParamKind::Object | ParamKind::List, _) if !is_template => {
                        self.error(
                            src,
                            scalar_pos(s),
                            format!(
                                "{what}: expected a {}",
                                if kind == ParamKind::Object {
                                    "mapping"
                                } else {
                                    "list"
                                }
                            ),
                        );
                        None
                    }
                    _ => self
                        .compile(src, s, name.to_string(), s.as_str().to_string(), 0, what)
                        .map(|name| Param::Template { name, kind }),
                }
            }
            Node::Mapping(map) if matches!(kind, ParamKind::Object | ParamKind::Any) => {
                let entries = map
                    .iter()
                    .filter_map(|(k, v)| {
                        let param = self.param(
                            src,
                            v,
                            ParamKind::Any,
                            &format!("{name}.{}", k.as_str()),
                            &format!("{what}.{}", k.as_str()),
                        )?;
                        Some((k.as_str().to_string(), param))
                    })
                    .collect();
                Some(Param::Map(entries))
            }
            Node::Sequence(items) if matches!(kind, ParamKind::List | ParamKind::Any) => {
                Some(Param::List(
                    items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| {
                            self.param(
                                src,
                                v,
                                ParamKind::Any,
                                &format!("{name}[{i}]"),
                                &format!("{what}[{i}]"),
                            )
                        })
                        .collect(),
                ))
            }
            _ => {
                self.error(
                    src,
                    pos_of(node),
                    format!("{what}: expected a single value"),
                );
                None
            }
        }
    }

    /// Compiles a template into the environment, placing a syntax error inside the file.
    fn compile(
        &mut self,
        src: Src,
        scalar: &MarkedScalarNode,
        name: String,
        body: String,
        prefix_len: usize,
        what: &str,
    ) -> Option<String> {
        match self.env.add_template_owned(name.clone(), body.clone()) {
            Ok(()) => {
                self.check_regex_literals(src, scalar, what);
                Some(name)
            }
            Err(e) => {
                let at = scalar_pos(scalar);
                let place = ScalarPlace::new(src.text, at.line, at.column);
                let offset = template::error_offset(&e, &body)
                    .unwrap_or(prefix_len)
                    .saturating_sub(prefix_len);
                let pos = place.locate(scalar.as_str(), offset.min(scalar.as_str().len()));
                let hint = if what == "when" && scalar.as_str().contains("{{") {
                    " (`when:` is a bare Jinja expression: drop the `{{ }}`)"
                } else {
                    ""
                };
                self.error(
                    src,
                    pos,
                    format!("{what}: Jinja {}{hint}", template::describe(&e)),
                );
                None
            }
        }
    }

    /// Regular expressions written as literals (`matches_regex('…')`) are compiled
    /// now, so a bad pattern is a load error with its position, not a runtime one.
    fn check_regex_literals(&mut self, src: Src, scalar: &MarkedScalarNode, what: &str) {
        static LITERAL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r#"(?:matches_regex|regex_replace)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"#).expect("valid")
        });
        let text = scalar.as_str();
        for caps in LITERAL.captures_iter(text) {
            let Some(m) = caps.get(1).or_else(|| caps.get(2)) else {
                continue;
            };
            let pattern = unescape_jinja(m.as_str());
            if let Err(e) = regex::Regex::new(&pattern) {
                let at = scalar_pos(scalar);
                let pos = ScalarPlace::new(src.text, at.line, at.column).locate(text, m.start());
                let why = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                self.error(
                    src,
                    pos,
                    format!("{what}: invalid regular expression `{pattern}`: {why}"),
                );
            }
        }
    }

    fn tests(&mut self, src: Src, node: &Node) -> Vec<RuleTest> {
        let Some(items) = node.as_sequence() else {
            self.error(
                src,
                pos_of(node),
                "tests: expected a list of {name, event, expect}",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            let Some(map) = item.as_mapping() else {
                self.error(
                    src,
                    pos_of(item),
                    "tests: expected a mapping {name, event, expect}",
                );
                continue;
            };
            self.check_keys(src, map, TEST_KEYS, "a test");
            let name = map
                .get_node("name")
                .and_then(|n| self.scalar(src, n, "tests.name"))
                .map(|s| s.as_str().to_string());
            let Some(event) = map.get_node("event") else {
                self.error(src, pos_of(item), "tests: missing `event`; expected a sample event (a Scrapely webhook body, or {kind, data})");
                continue;
            };
            let Some(expect) = map.get_node("expect").and_then(Node::as_mapping) else {
                self.error(
                    src,
                    pos_of(item),
                    "tests: missing `expect`; expected {match: true|false, actions: [...]}",
                );
                continue;
            };
            self.check_keys(src, expect, EXPECT_KEYS, "expect");
            let expect_match = match expect
                .get_scalar("match")
                .map(|s| (s.as_bool(), scalar_pos(s)))
            {
                Some((Some(b), _)) => b,
                Some((None, pos)) => {
                    self.error(src, pos, "expect.match: expected true or false");
                    continue;
                }
                None => {
                    self.error(
                        src,
                        pos_of(item),
                        "expect: missing `match`; expected true or false",
                    );
                    continue;
                }
            };
            let mut expect_actions = Vec::new();
            if let Some(actions) = expect.get_node("actions") {
                for a in actions
                    .as_sequence()
                    .map(|s| s.iter().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if let Some(m) = a.as_mapping() {
                        self.check_keys(src, m, EXPECTED_ACTION_KEYS, "an expected action");
                        let action = m.get_scalar("action").map(|s| s.as_str().to_string());
                        let with = m
                            .get_node("with")
                            .map(node_json)
                            .unwrap_or(Value::Object(Default::default()));
                        expect_actions.push((action, with));
                    }
                }
            }
            out.push(RuleTest {
                name: name.unwrap_or_else(|| format!("test at line {}", pos_of(item).line)),
                event: node_json(event),
                expect_match,
                expect_actions,
                pos: pos_of(item),
            });
        }
        out
    }
}

/// A Jinja string literal's content as the string it denotes.
fn unescape_jinja(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(quote @ ('\\' | '\'' | '"')) => out.push(quote),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
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
        if s.as_str() == "null" || s.as_str() == "~" {
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
