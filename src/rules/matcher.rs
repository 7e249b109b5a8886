//! Which rules can still match an event, without running any Jinja.
//!
//! Rules are indexed by event kind; within a kind, every `keywords:` list of every
//! rule goes into one Aho–Corasick automaton, and every `match:` field into a hash
//! map from value to rules. An event runs the automaton once over its text and
//! looks each indexed field up once; a rule is a candidate only when all of its
//! structured matchers hit. Only candidates evaluate their `when:` condition, so
//! the cost per event grows with the matches, not with the number of rules.

use super::{FieldPath, Rule};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde_json::Value;
use std::collections::HashMap;

/// True if `word` occurs in `text` on word boundaries (both already lowercase).
pub fn contains_keyword(text: &str, word: &str) -> bool {
    !word.is_empty()
        && text
            .match_indices(word)
            .any(|(i, m)| on_boundaries(text, i, i + m.len()))
}

fn on_boundaries(text: &str, start: usize, end: usize) -> bool {
    let word_char = |c: char| c.is_alphanumeric() || c == '_';
    !text[..start].chars().next_back().is_some_and(word_char)
        && !text[end..].chars().next().is_some_and(word_char)
}

/// The text that `keywords:` searches, per event kind.
pub fn text_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "scrapely.new_reply" => Some(&["data", "message", "text"]),
        "tweet" => Some(&["data", "text"]),
        "telegram.message" | "discord.message" => Some(&["data", "text"]),
        _ => None,
    }
}

/// Looks `path` up in the evaluation context (`{"event": …, "data": …}`).
pub fn lookup<'v>(context: &'v Value, path: &[impl AsRef<str>]) -> Option<&'v Value> {
    path.iter().try_fold(context, |v, key| v.get(key.as_ref()))
}

/// A value as matched by `match:`: strings case-insensitively, others as JSON text.
pub fn normalized(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string(),
    }
}

#[derive(Default)]
struct KindIndex {
    unconditional: Vec<usize>,
    automaton: Option<AhoCorasick>,
    keyword_rules: Vec<Vec<usize>>,
    fields: Vec<(FieldPath, HashMap<String, Vec<usize>>)>,
}

/// The rules of a set, indexed for candidate selection.
#[derive(Default)]
pub struct Index {
    kinds: HashMap<String, KindIndex>,
    required: Vec<u8>,
}

impl Index {
    pub fn build(rules: &[Rule]) -> Self {
        let mut kinds: HashMap<String, KindIndex> = HashMap::new();
        let mut keywords: HashMap<String, HashMap<String, Vec<usize>>> = HashMap::new();
        let mut required = vec![0u8; rules.len()];
        for (i, rule) in rules.iter().enumerate().filter(|(_, r)| r.enabled) {
            required[i] = u8::from(!rule.keywords.is_empty()) + rule.matches.len() as u8;
            for kind in &rule.on {
                let index = kinds.entry(kind.clone()).or_default();
                if required[i] == 0 {
                    index.unconditional.push(i);
                }
                for word in &rule.keywords {
                    let rules = keywords
                        .entry(kind.clone())
                        .or_default()
                        .entry(word.to_lowercase())
                        .or_default();
                    if rules.last() != Some(&i) {
                        rules.push(i);
                    }
                }
                for m in &rule.matches {
                    let slot = match index.fields.iter().position(|(p, _)| *p == m.path) {
                        Some(slot) => slot,
                        None => {
                            index.fields.push((m.path.clone(), HashMap::new()));
                            index.fields.len() - 1
                        }
                    };
                    for value in &m.values {
                        let rules = index.fields[slot].1.entry(value.clone()).or_default();
                        if rules.last() != Some(&i) {
                            rules.push(i);
                        }
                    }
                }
            }
        }
        for (kind, words) in keywords {
            let index = kinds.entry(kind).or_default();
            let (patterns, rules): (Vec<String>, Vec<Vec<usize>>) = words.into_iter().unzip();
            index.automaton = Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    .expect("keyword automaton builds"),
            );
            index.keyword_rules = rules;
        }
        Self { kinds, required }
    }

    pub fn handles(&self, kind: &str) -> bool {
        self.kinds.contains_key(kind)
    }

    /// Indices of the rules whose structured matchers all hold for this event, ascending.
    pub fn candidates(&self, kind: &str, context: &Value) -> Vec<usize> {
        let Some(index) = self.kinds.get(kind) else {
            return Vec::new();
        };
        let mut hits: HashMap<usize, u8> = HashMap::new();
        if let (Some(automaton), Some(path)) = (&index.automaton, text_path(kind))
            && let Some(Value::String(text)) = lookup(context, path)
        {
            let text = text.to_lowercase();
            // Only the patterns found are visited: the cost follows the text and
            // the hits, not the number of keywords in the automaton.
            let mut found: Vec<usize> = automaton
                .find_overlapping_iter(&text)
                .filter(|m| on_boundaries(&text, m.start(), m.end()))
                .map(|m| m.pattern().as_usize())
                .collect();
            found.sort_unstable();
            found.dedup();
            let mut counted: Vec<usize> = found
                .iter()
                .flat_map(|&p| index.keyword_rules[p].iter().copied())
                .collect();
            counted.sort_unstable();
            counted.dedup();
            for rule in counted {
                *hits.entry(rule).or_default() += 1;
            }
        }
        for (path, values) in &index.fields {
            if let Some(value) = lookup(context, &path.0)
                && let Some(rules) = values.get(&normalized(value))
            {
                for &rule in rules {
                    *hits.entry(rule).or_default() += 1;
                }
            }
        }
        let mut out: Vec<usize> = hits
            .into_iter()
            .filter(|&(rule, n)| n == self.required[rule])
            .map(|(rule, _)| rule)
            .chain(index.unconditional.iter().copied())
            .collect();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_whole_words_only() {
        assert!(contains_keyword("i'm interested!", "interested"));
        assert!(contains_keyword("let's chat.", "let's chat"));
        assert!(!contains_keyword("uninterested", "interested"));
        assert!(!contains_keyword("demos", "demo"));
        assert!(contains_keyword("démo demo", "demo"));
    }
}
