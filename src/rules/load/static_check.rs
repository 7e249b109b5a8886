//! What `rules check` proves about a compiled template before any event: every
//! filter and test it names exists (minijinja only finds out when it renders),
//! and every field path it reads is one the rule's event kinds have
//! (`rules::models`), with a did-you-mean.

use super::yaml::scalar_pos;
use super::{Loader, Src};
use crate::rules::error::did_you_mean;
use crate::rules::models;
use crate::rules::template::ScalarPlace;
use marked_yaml::types::MarkedScalarNode;
use minijinja::ErrorKind;

/// A filter (`x | name`) or a test (`x is name`) named in a template.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Named<'a> {
    Filter(&'a str, usize),
    Test(&'a str, usize),
}

/// The filters and tests a template names, with their byte offsets: a small
/// scan of its `{{ }}` / `{% %}` blocks that skips string literals.
pub(super) fn named(body: &str) -> Vec<Named<'_>> {
    let bytes = body.as_bytes();
    let ident = |from: usize| {
        let end = body[from..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(body.len(), |n| from + n);
        (end > from && !bytes[from].is_ascii_digit()).then_some(end)
    };
    let skip_spaces = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut out = Vec::new();
    let (mut i, mut in_block) = (0, false);
    while i < bytes.len() {
        let two = &bytes[i..(i + 2).min(bytes.len())];
        if !in_block {
            in_block = two == b"{{" || two == b"{%";
            i += if in_block { 2 } else { 1 };
            continue;
        }
        match bytes[i] {
            b'}' | b'%' if two == b"}}" || two == b"%}" => {
                in_block = false;
                i += 2;
            }
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'|' => {
                let at = skip_spaces(i + 1);
                if let Some(end) = ident(at) {
                    out.push(Named::Filter(&body[at..end], at));
                }
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end = ident(i).unwrap_or(i + 1);
                if &body[i..end] == "is" {
                    let mut at = skip_spaces(end);
                    if body[at..].starts_with("not") && ident(at) == Some(at + 3) {
                        at = skip_spaces(at + 3);
                    }
                    if let Some(name_end) = ident(at) {
                        out.push(Named::Test(&body[at..name_end], at));
                    }
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// Filters and tests worth suggesting (minijinja's builtins and Starling's own).
/// A name here is offered only where the environment accepts it as that kind
/// ([`Loader::accepts`]): a filter for a filter, a test for a test.
const SUGGESTED: &[&str] = &[
    "length",
    "lower",
    "upper",
    "trim",
    "truncate",
    "replace",
    "default",
    "join",
    "first",
    "last",
    "title",
    "capitalize",
    "int",
    "float",
    "string",
    "list",
    "sort",
    "unique",
    "split",
    "round",
    "abs",
    "map",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
    "tojson",
    "urlencode",
    "items",
    "has_keyword",
    "matches_regex",
    "regex_replace",
    "defined",
    "undefined",
    "none",
    "number",
    "even",
    "odd",
    "divisibleby",
    "startingwith",
    "endingwith",
    "in",
    "true",
    "false",
    "sequence",
    "mapping",
    "lines",
    "count",
    "min",
    "max",
    "sum",
    "reverse",
    "batch",
    "slice",
];

impl Loader {
    /// Refuses a filter or test the environment does not have. Whether it does
    /// is asked of minijinja itself (rendering a probe), so no list goes stale.
    pub(super) fn check_names(
        &mut self,
        src: Src,
        scalar: &MarkedScalarNode,
        body: &str,
        prefix_len: usize,
        what: &str,
    ) {
        for item in named(body) {
            let (word, name, offset) = match item {
                Named::Filter(name, at) => ("filter", name, at),
                Named::Test(name, at) => ("test", name, at),
            };
            if self.accepts(&item, name) {
                continue;
            }
            // Only names the environment accepts as this kind are offered.
            let accepted: Vec<&str> = SUGGESTED
                .iter()
                .copied()
                .filter(|candidate| self.accepts(&item, candidate))
                .collect();
            let hint = match did_you_mean(name, &accepted) {
                Some(s) => format!("did you mean `{s}`? "),
                None if matches!(item, Named::Test("containing" | "contains", _)) => {
                    "to test for a substring, write `\"…\" in text`; ".to_string()
                }
                None => String::new(),
            };
            let at = scalar_pos(scalar);
            let in_scalar = offset.saturating_sub(prefix_len).min(scalar.as_str().len());
            let pos =
                ScalarPlace::new(src.text, at.line, at.column).locate(scalar.as_str(), in_scalar);
            self.error(src, pos, format!("{what}: unknown {word} `{name}`; {hint}see the README's \"What templates and conditions see\""));
        }
    }

    /// Whether the environment has `name` as the kind of `item` (a filter or a
    /// test): minijinja is asked by rendering a probe.
    fn accepts(&self, item: &Named, name: &str) -> bool {
        let (probe, kind) = match item {
            Named::Filter(..) => (format!("{{{{ none | {name} }}}}"), ErrorKind::UnknownFilter),
            Named::Test(..) => (format!("{{{{ none is {name} }}}}"), ErrorKind::UnknownTest),
        };
        !matches!(self.env.render_str(&probe, ()), Err(e) if e.kind() == kind)
    }

    /// Refuses a field path that no event of the rule's kinds has.
    pub(super) fn check_paths(
        &mut self,
        src: Src,
        scalar: &MarkedScalarNode,
        template: &str,
        what: &str,
    ) {
        let Ok(compiled) = self.env.get_template(template) else {
            return;
        };
        let mut paths: Vec<String> = compiled.undeclared_variables(true).into_iter().collect();
        paths.sort();
        for path in paths {
            let segments: Vec<&str> = path.split('.').collect();
            if let Some(problem) = self.path_problem(&segments) {
                let wrong = problem.1;
                let at = scalar_pos(scalar);
                let offset = scalar
                    .as_str()
                    .find(&segments[..=wrong].join("."))
                    .map(|o| o + segments[..wrong].join(".").len() + usize::from(wrong > 0))
                    .unwrap_or(0);
                let pos = ScalarPlace::new(src.text, at.line, at.column)
                    .locate(scalar.as_str(), offset.min(scalar.as_str().len()));
                self.error(src, pos, format!("{what}: {}", problem.0));
            }
        }
    }

    /// What is wrong with a path the template reads, and the index of the first
    /// wrong segment; `None` when some kind of the rule has it.
    fn path_problem(&self, segments: &[&str]) -> Option<(String, usize)> {
        let (root, below) = segments.split_first()?;
        let kinds = &self.current_on;
        let fields_of = |kind: &String| match *root {
            "data" => models::data_fields(kind),
            _ => models::data_fields("tweet").filter(|_| kind == "tweet"),
        };
        match *root {
            "data" | "tweet" if !kinds.is_empty() => {
                let models: Vec<Option<&[&str]>> = kinds.iter().map(fields_of).collect();
                if *root == "tweet" && !kinds.iter().any(|k| k == "tweet") {
                    return Some((
                        "`tweet` is only defined on `on: tweet` rules; use `data`".into(),
                        0,
                    ));
                }
                if models
                    .iter()
                    .any(|m| m.is_none_or(|f| models::may_read(f, below)))
                {
                    return None;
                }
                let fields = models.iter().flatten().next().copied()?;
                let wrong =
                    (1..=below.len()).find(|&n| !models::has_path(fields, &below[..n]))? - 1;
                let known = models::siblings(fields, &below[..=wrong]);
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                let hint = did_you_mean(below[wrong], &known)
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                let shown = segments[..=wrong + 1].join(".");
                let expected = if known.is_empty() {
                    "nothing below it".to_string()
                } else {
                    known.join(", ")
                };
                Some((
                    format!(
                        "`{shown}` is not a field of {} events; {hint}expected one of: {expected}",
                        kinds.join(" / ")
                    ),
                    wrong + 1,
                ))
            }
            "data" | "tweet" => None,
            "event" => match below.first() {
                Some(field) if !models::EVENT_FIELDS.contains(field) => {
                    let hint = did_you_mean(field, models::EVENT_FIELDS)
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    Some((
                        format!(
                            "`event.{field}` is not a field of `event`; {hint}expected one of: {}",
                            models::EVENT_FIELDS.join(", ")
                        ),
                        1,
                    ))
                }
                _ => None,
            },
            other if models::OTHER_ROOTS.contains(&other) => None,
            other => {
                let roots: Vec<&str> = ["data", "event", "tweet"]
                    .into_iter()
                    .chain(models::OTHER_ROOTS.iter().copied())
                    .collect();
                let hint = did_you_mean(other, &roots)
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                Some((
                    format!(
                        "unknown variable `{other}`; {hint}expected data, event, now, secrets (or tweet on tweet rules)"
                    ),
                    0,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_tests_are_found_outside_string_literals() {
        let found = named(
            "{{ data.text | lenght }} '| no' {{ \"a | b\" | upper }}{% if x is not matches_regex('|') %}",
        );
        let names: Vec<&str> = found
            .iter()
            .map(|n| match n {
                Named::Filter(name, _) | Named::Test(name, _) => *name,
            })
            .collect();
        assert_eq!(names, ["lenght", "upper", "matches_regex"]);
        assert!(matches!(found[2], Named::Test("matches_regex", _)));
    }
}
