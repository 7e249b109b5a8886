//! Reply intent: what a prospect's reply to an outreach DM means, locally, in
//! microseconds, with the reasons shown ([`intent`]).
//!
//! This module owns the eight labels ([`IntentLabel`]), the classifier, its
//! lexicon and model, and the evaluation against a labelled corpus ([`eval`]) with
//! its two baselines ([`baseline`]). It does no I/O: the model is compiled in.
//!
//! The method is a hybrid, because each half fails where the other is strong:
//! 1. a **cue grammar** ([`grammar`], lexicon in [`cues`], [`refusals`], [`lang`])
//!    finds phrases and reads them in scope: negation, contrast (`but`),
//!    conditionals, a third-person subject, and the longest match winning
//!    (`don't call me` is not `call me`). It is precise and explains itself, but
//!    only knows what someone wrote down;
//! 2. a **linear model** ([`model`]) over word and character n-grams, fitted on the
//!    train split, covers phrasings and typos the lexicon lacks;
//! 3. both are summed as logits (`model + CUE_WEIGHT × cues`); when the winner's
//!    probability is under [`MIN_CONFIDENCE`] the answer is `other`, and a reply in
//!    Spanish, German, French or Portuguese is `interested` only on a cue of that
//!    language: a wrong `interested` costs a sales call, a wrong `other` costs little.

pub mod baseline;
mod cues;
pub mod eval;
mod grammar;
mod lang;
pub mod model;
mod refusals;
pub mod text;
mod words;

use grammar::{Grammar, Hit};
use model::{LABELS, Model, Scores, softmax};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use text::Tokens;

/// What a reply means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentLabel {
    /// Wants to talk: asks for a call, a link or a demo, says yes, proposes a time.
    Interested,
    /// Asks for information before deciding (a conditional "interested if …" too).
    Question,
    /// Timing: later, next quarter, after the launch.
    NotNow,
    /// A polite no, already has a solution, not a fit.
    NotInterested,
    /// Stop, remove me, hostile, spam threats.
    Unsubscribe,
    /// Points to someone else, or is the wrong person.
    Referral,
    /// An auto-reply.
    OutOfOffice,
    /// No intent to act on (thanks, small talk), or the classifier is unsure.
    Other,
}

impl IntentLabel {
    pub const ALL: [IntentLabel; 8] = [
        Self::Interested,
        Self::Question,
        Self::NotNow,
        Self::NotInterested,
        Self::Unsubscribe,
        Self::Referral,
        Self::OutOfOffice,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interested => "interested",
            Self::Question => "question",
            Self::NotNow => "not_now",
            Self::NotInterested => "not_interested",
            Self::Unsubscribe => "unsubscribe",
            Self::Referral => "referral",
            Self::OutOfOffice => "out_of_office",
            Self::Other => "other",
        }
    }

    /// Position in [`IntentLabel::ALL`] (and in model weight rows).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for IntentLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown label name; `expected` lists the valid ones.
#[derive(Debug, thiserror::Error)]
#[error("unknown intent {given:?}; expected one of {}", IntentLabel::ALL.map(IntentLabel::as_str).join(", "))]
pub struct UnknownLabel {
    pub given: String,
}

impl std::str::FromStr for IntentLabel {
    type Err = UnknownLabel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownLabel {
                given: s.to_owned(),
            })
    }
}

/// The classifier's answer for one text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Intent {
    pub label: IntentLabel,
    /// The winning label's probability, 0..1.
    pub confidence: f32,
    /// Why: the cues in scope ("negated 'interested'") and the model's top words.
    pub evidence: Vec<String>,
}

/// How much one unit of cue weight counts against one unit of model logit.
/// Chosen by 5-fold cross-validation on the train split (`intent_train --cv`).
pub const CUE_WEIGHT: f32 = 2.0;
/// Under this probability the answer is `other`; chosen with [`CUE_WEIGHT`].
pub const MIN_CONFIDENCE: f32 = 0.45;

/// The lexicon, compiled, and a model.
pub struct Classifier {
    grammar: Grammar,
    model: Option<Model>,
    cue_weight: f32,
    min_confidence: f32,
}

static BUILT_IN: LazyLock<Classifier> = LazyLock::new(|| {
    let model = Model::parse(include_str!("model.tsv")).expect("the committed intent model parses");
    Classifier::new(Some(model))
});

/// The intent of `text`, by the built-in classifier (built once, on first use).
pub fn intent(text: &str) -> Intent {
    BUILT_IN.classify(text)
}

impl Classifier {
    /// The built-in lexicon with `model` (none: cues only). The trainer uses this to
    /// cross-validate models fitted on part of the train split.
    pub fn new(model: Option<Model>) -> Self {
        Self::new_only(model, &|_| true)
    }

    /// Like [`Classifier::new`] with only the lexicon entries whose pattern `keep`
    /// accepts: the trainer's leak check (which cues does dev need that train never used?).
    pub fn new_only(model: Option<Model>, keep: &dyn Fn(&str) -> bool) -> Self {
        let grammar = Grammar::compile_only(
            &[
                cues::INTERESTED,
                cues::QUESTION,
                cues::NOT_NOW,
                refusals::NOT_INTERESTED,
                refusals::UNSUBSCRIBE,
                refusals::REFERRAL,
                refusals::OUT_OF_OFFICE,
                refusals::OTHER,
                lang::FORMS,
            ],
            &|entry| keep(entry.pattern),
        );
        Self {
            grammar,
            model,
            cue_weight: CUE_WEIGHT,
            min_confidence: MIN_CONFIDENCE,
        }
    }

    /// Other settings than [`CUE_WEIGHT`] and [`MIN_CONFIDENCE`] (for the trainer's search).
    pub fn with_tuning(mut self, cue_weight: f32, min_confidence: f32) -> Self {
        self.cue_weight = cue_weight;
        self.min_confidence = min_confidence;
        self
    }

    pub fn classify(&self, text: &str) -> Intent {
        let tokens = Tokens::new(text);
        if tokens.is_empty() {
            return Intent {
                label: IntentLabel::Other,
                confidence: 1.0,
                evidence: vec!["no words".into()],
            };
        }
        let hits = self.grammar.scan(&tokens);
        let mut cue: Scores = [0.0; LABELS];
        for hit in &hits {
            cue[hit.label.index()] += hit.weight;
        }
        let logits = self
            .model
            .as_ref()
            .map_or([0.0; LABELS], |m| m.logits(&tokens));
        let combined: Scores = std::array::from_fn(|k| logits[k] + self.cue_weight * cue[k]);
        let p = softmax(combined);
        let best = (0..LABELS)
            .max_by(|&a, &b| p[a].total_cmp(&p[b]))
            .unwrap_or(LABELS - 1);
        let label = IntentLabel::ALL[best];
        let confidence = p[best];
        let mut evidence = self.evidence(&tokens, &hits, label);
        let native_yes = hits
            .iter()
            .any(|h| h.label == IntentLabel::Interested && lang::is_form(h.entry));
        if label == IntentLabel::Interested && !native_yes && lang::foreign(&tokens) {
            evidence.insert(
                0,
                "not English and no yes-form: not called interested".into(),
            );
            return Intent {
                label: IntentLabel::Other,
                confidence: 1.0 - confidence,
                evidence,
            };
        }
        if evidence.is_empty() {
            evidence.push("no cue; the model's guess".into());
        }
        if confidence < self.min_confidence {
            evidence.insert(0, format!("unsure: best guess {label} at {confidence:.2}"));
            return Intent {
                label: IntentLabel::Other,
                confidence: 1.0 - confidence,
                evidence,
            };
        }
        Intent {
            label,
            confidence,
            evidence,
        }
    }

    /// Every cue found in `text` after scope, with its label and weight, and the
    /// model's logits: what `starling intent --explain` prints.
    pub fn explain(&self, text: &str) -> (Vec<(IntentLabel, f32, String)>, Option<Scores>) {
        let tokens = Tokens::new(text);
        let hits = self.grammar.scan(&tokens);
        let cues = hits
            .iter()
            .map(|h| {
                let words: Vec<&str> = (h.start..h.end).map(|i| tokens.get(i)).collect();
                let scope = h.scope.map(|s| format!(" [{s}]")).unwrap_or_default();
                (
                    h.label,
                    h.weight,
                    format!("{} '{}'{scope}", h.entry.pattern, words.join(" ")),
                )
            })
            .collect();
        (cues, self.model.as_ref().map(|m| m.logits(&tokens)))
    }

    /// The lexicon patterns that fire on `text` (after scope).
    pub fn patterns_hit(&self, text: &str) -> Vec<&'static str> {
        self.grammar
            .scan(&Tokens::new(text))
            .iter()
            .map(|h| h.entry.pattern)
            .collect()
    }

    fn evidence(&self, tokens: &Tokens, hits: &[Hit], label: IntentLabel) -> Vec<String> {
        let mut chosen: Vec<&Hit> = hits.iter().filter(|h| h.label == label).collect();
        chosen.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        let mut evidence: Vec<String> = Vec::with_capacity(4);
        for h in chosen {
            let words = tokens.slice(h.start, h.end);
            let text = match h.scope {
                Some(scope) if scope != "after 'but'" => format!("{scope} '{words}'"),
                Some(scope) => format!("{} {scope}: '{words}'", h.entry.says),
                None => format!("{}: '{words}'", h.entry.says),
            };
            if !evidence.contains(&text) {
                evidence.push(text);
            }
            if evidence.len() == 3 {
                break;
            }
        }
        if let Some(model) = &self.model {
            let mut words: Vec<(f32, &str)> = tokens
                .iter()
                .filter(|t| text::is_word(t))
                .map(|t| (model.word_weight(t, label), t))
                .filter(|(w, _)| *w >= 0.3)
                .collect();
            words.sort_by(|a, b| b.0.total_cmp(&a.0));
            words.dedup_by(|a, b| a.1 == b.1);
            if !words.is_empty() {
                let top: Vec<String> = words
                    .iter()
                    .take(2)
                    .map(|(_, t)| format!("'{t}'"))
                    .collect();
                evidence.push(format!("model words: {}", top.join(", ")));
            }
        }
        evidence
    }
}

#[cfg(test)]
mod tests;
