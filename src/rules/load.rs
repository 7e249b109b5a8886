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
//!
//! The loader's parts: `yaml` (node positions, keys, scalars, YAML errors),
//! `rule` (one rule mapping), `conditions` (`on`, keywords, `match`,
//! `cooldown`), `action_params` (`do:`), `tests_block` (`tests:`), `jinja`
//! (compiling templates), `static_check` (filters, tests and field paths a
//! template names) and `secrets` (`secrets.NAME` and literal credentials).

mod action_params;
mod conditions;
mod jinja;
mod rule;
mod secrets;
mod static_check;
mod tests_block;
mod yaml;

use super::error::{Pos, RuleError, RuleErrors};
use super::template;
use super::{Rule, RuleSet};
use crate::secret::Secret;
use marked_yaml::LoaderOptions;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
pub use yaml::node_json;
use yaml::{LineIndex, pos_of};

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
}
