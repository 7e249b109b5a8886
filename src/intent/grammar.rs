//! The cue grammar: phrase patterns found in a reply's tokens, then read in scope.
//!
//! A pattern is written as words separated by spaces (see [`Entry`]): `a|b` is a
//! choice of one word, a trailing `?` makes a word optional, `_` is any one word,
//! `#class` names a word class ([`class`]), and `[at the moment|for now]` is a
//! choice of phrases (expanded into one pattern per phrase). Patterns are indexed by their first word, so a
//! reply costs one hash lookup per token plus the few patterns that start there.
//!
//! Scope is what keyword lists cannot see, and why this exists:
//! - a match inside a longer match is dropped (`call me` inside `don't call me`);
//! - **negation**: an [`Kind::Ask`] or [`Kind::Yes`] cue with a negator in the three
//!   words before it, in the same clause, becomes "negated" (`not interested`,
//!   `don't want a call`) and counts for `not_interested`;
//! - **conditionals**: an `Ask` cue in a sentence with `if`, `unless`, `depends` …
//!   counts for `question` (`would be interested if it had HubSpot`);
//! - **third person**: an `Ask` cue right after `he`/`she`/`they` is someone else's
//!   interest and counts for `referral` (`talk to @jess, she might be interested`);
//! - **contrast**: cues before the last `but` weigh half, cues after it 1.5 times
//!   (VADER's rule: `interesting, but no`).

use super::IntentLabel;
use super::model::FastBuild;
use super::text::{Tokens, is_boundary, is_word};
use super::words::{CONDITIONALS, CONTRAST, NEGATORS, THIRD_PERSON, class};
use std::collections::{HashMap, HashSet};

/// How a cue reads its scope.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Positive intent (asks for a call, says interested): negation, conditionals
    /// and a third-person subject change what it means.
    Ask,
    /// A bare agreement word (`yes`, `sure`): negation cancels it.
    Yes,
    /// The phrase carries its own meaning (`not interested`, `unsubscribe`).
    Plain,
}

#[derive(Debug)]
/// One lexicon line: a pattern, what it is evidence of, and how strongly.
pub struct Entry {
    pub pattern: &'static str,
    pub label: IntentLabel,
    pub weight: f32,
    pub kind: Kind,
    /// Shown in `evidence`, with the words matched: "asks for a link".
    pub says: &'static str,
}

/// Shorthand for lexicon tables.
pub const fn e(
    pattern: &'static str,
    label: IntentLabel,
    weight: f32,
    kind: Kind,
    says: &'static str,
) -> Entry {
    Entry {
        pattern,
        label,
        weight,
        kind,
        says,
    }
}

struct Slot {
    words: HashSet<&'static str, FastBuild>,
    any: bool,
    optional: bool,
}

impl Slot {
    fn accepts(&self, token: &str) -> bool {
        if self.any {
            is_word(token)
        } else {
            self.words.contains(token)
        }
    }
}

struct Pattern {
    slots: Vec<Slot>,
    entry: &'static Entry,
}

/// The compiled lexicon: every pattern, indexed by its first word.
pub struct Grammar {
    patterns: Vec<Pattern>,
    first: HashMap<&'static str, Vec<u32>, FastBuild>,
}

/// One cue found in a reply, after scope.
#[derive(Clone, Debug)]
pub struct Hit {
    pub label: IntentLabel,
    /// The entry's weight times the contrast factor.
    pub weight: f32,
    pub entry: &'static Entry,
    pub start: usize,
    pub end: usize,
    /// What scope did to it ("negated", "conditional", "someone else's", "after 'but'").
    pub scope: Option<&'static str>,
}

fn normalize_word(word: &str) -> &'static str {
    let folded = Tokens::new(word);
    let one = folded.len() == 1 || (folded.len() == 2 && folded.get(1) == ".");
    assert!(one, "lexicon word {word:?} must be one token");
    // Leaked once at start-up: the lexicon lives as long as the process.
    Box::leak(folded.get(0).to_owned().into_boxed_str())
}

impl Grammar {
    /// Only the entries `keep` accepts (the trainer's leak check drops some).
    pub fn compile_only(tables: &[&'static [Entry]], keep: &dyn Fn(&Entry) -> bool) -> Self {
        let mut patterns = Vec::new();
        let mut first: HashMap<&'static str, Vec<u32>, FastBuild> = HashMap::default();
        let expanded = tables
            .iter()
            .flat_map(|t| t.iter())
            .filter(|entry| keep(entry))
            .flat_map(|entry| expand(entry.pattern).into_iter().map(move |p| (entry, p)));
        for (entry, pattern) in expanded {
            let slots: Vec<Slot> = pattern
                .split_whitespace()
                .map(|raw| {
                    let (body, optional) = match raw.strip_suffix('?') {
                        Some(b) if !b.is_empty() => (b, true),
                        _ => (raw, false),
                    };
                    let mut words = HashSet::default();
                    for alt in body.split('|') {
                        match alt.strip_prefix('#') {
                            Some(name) => {
                                words.extend(class(name).iter().map(|w| normalize_word(w)))
                            }
                            None if alt != "_" => {
                                words.insert(normalize_word(alt));
                            }
                            None => {}
                        }
                    }
                    Slot {
                        any: body == "_",
                        words,
                        optional,
                    }
                })
                .collect();
            let head = &slots[0];
            assert!(
                !head.any && !head.optional,
                "pattern {pattern:?} must start with a fixed word"
            );
            let id = patterns.len() as u32;
            for w in &head.words {
                first.entry(w).or_default().push(id);
            }
            patterns.push(Pattern { slots, entry });
        }
        Self { patterns, first }
    }

    /// Every cue in `tokens`, with its scope applied.
    pub fn scan(&self, tokens: &Tokens) -> Vec<Hit> {
        let mut found: Vec<(u32, usize, usize)> = Vec::new();
        for i in 0..tokens.len() {
            if let Some(ids) = self.first.get(tokens.get(i)) {
                for &id in ids {
                    if let Some(end) = match_at(&self.patterns[id as usize].slots, tokens, i) {
                        found.push((id, i, end));
                    }
                }
            }
        }
        let contained = |&(id, s, e): &(u32, usize, usize)| {
            found
                .iter()
                .any(|&(o, os, oe)| o != id && os <= s && e <= oe && (oe - os) > (e - s))
        };
        let kept: Vec<_> = found.iter().filter(|m| !contained(m)).copied().collect();
        let contrast = (0..tokens.len())
            .rev()
            .find(|&i| CONTRAST.contains(&tokens.get(i)));
        kept.into_iter()
            .filter_map(|(id, start, end)| {
                let entry = self.patterns[id as usize].entry;
                let (factor, after) = match contrast {
                    Some(c) if end <= c => (0.5, None),
                    Some(_) => (1.5, Some("after 'but'")),
                    None => (1.0, None),
                };
                let mut hit = Hit {
                    label: entry.label,
                    weight: entry.weight * factor,
                    entry,
                    start,
                    end,
                    scope: after,
                };
                if entry.kind == Kind::Plain {
                    return Some(hit);
                }
                if preceded_by(tokens, start, 3, NEGATORS) {
                    if entry.kind == Kind::Yes {
                        return None;
                    }
                    hit.label = IntentLabel::NotInterested;
                    hit.scope = Some("negated");
                } else if entry.kind == Kind::Ask && preceded_by(tokens, start, 3, THIRD_PERSON) {
                    hit.label = IntentLabel::Referral;
                    hit.scope = Some("someone else's");
                } else if entry.kind == Kind::Ask && in_conditional(tokens, start) {
                    hit.label = IntentLabel::Question;
                    hit.scope = Some("conditional");
                }
                Some(hit)
            })
            .collect()
    }
}

/// `a [b c|d] e` → `a b c e`, `a d e` (groups may repeat; they do not nest).
fn expand(pattern: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (pattern.find('['), pattern.find(']')) else {
        return vec![pattern.to_owned()];
    };
    pattern[open + 1..close]
        .split('|')
        .flat_map(|alt| {
            expand(&format!(
                "{}{alt}{}",
                &pattern[..open],
                &pattern[close + 1..]
            ))
        })
        .collect()
}

fn match_at(slots: &[Slot], tokens: &Tokens, at: usize) -> Option<usize> {
    let Some((slot, rest)) = slots.split_first() else {
        return Some(at);
    };
    if at < tokens.len()
        && slot.accepts(tokens.get(at))
        && let Some(end) = match_at(rest, tokens, at + 1)
    {
        return Some(end);
    }
    if slot.optional {
        match_at(rest, tokens, at)
    } else {
        None
    }
}

/// True if one of `words` is among the `window` tokens before `at`, in its clause.
fn preceded_by(tokens: &Tokens, at: usize, window: usize, words: &[&str]) -> bool {
    (at.saturating_sub(window)..at)
        .rev()
        .map(|i| tokens.get(i))
        .take_while(|t| !is_boundary(t))
        .any(|t| words.contains(&t))
}

/// True if the sentence around `at` (up to `.`, `?`, `!`) has a conditional word.
fn in_conditional(tokens: &Tokens, at: usize) -> bool {
    let ends = |t: &str| matches!(t, "." | "?" | "!");
    let before = (0..at)
        .rev()
        .map(|i| tokens.get(i))
        .take_while(|t| !ends(t));
    let after = (at..tokens.len())
        .map(|i| tokens.get(i))
        .take_while(|t| !ends(t));
    let mut prev = "";
    before
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .chain(after)
        .any(|t| {
            // "see if it fits", "check if": an embedded question, not a condition.
            let conditional = CONDITIONALS.contains(&t)
                && !matches!(
                    prev,
                    "see" | "check" | "know" | "wonder" | "ask" | "whether"
                );
            prev = t;
            conditional
        })
}
