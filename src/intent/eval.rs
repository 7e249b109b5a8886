//! Scoring a labeller against a labelled corpus: per-label precision, recall and
//! F1, macro-F1 over the eight labels, and the confusion matrix.

use super::IntentLabel;
use serde::{Deserialize, Serialize};

const N: usize = IntentLabel::ALL.len();

/// One labelled reply, as a line of `tests/fixtures/replies/*.jsonl`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Example {
    pub text: String,
    pub label: IntentLabel,
}

/// Parses JSON lines (blank lines skipped); the error names the line.
pub fn parse_jsonl(text: &str) -> Result<Vec<Example>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct LabelScore {
    pub label: IntentLabel,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// How many examples have this label.
    pub support: u32,
}

/// How one labeller did on one corpus.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub name: String,
    pub examples: u32,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub labels: Vec<LabelScore>,
    /// `confusion[truth][predicted]`, rows and columns in [`IntentLabel::ALL`] order.
    pub confusion: Vec<Vec<u32>>,
    /// Replies given two conflicting tags (the keyword baseline only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<u32>,
}

impl Report {
    pub fn label(&self, label: IntentLabel) -> &LabelScore {
        &self.labels[label.index()]
    }
}

/// Runs `predict` over `examples` and scores it.
pub fn evaluate(
    name: &str,
    examples: &[Example],
    mut predict: impl FnMut(&str) -> IntentLabel,
) -> Report {
    let mut confusion = vec![vec![0u32; N]; N];
    for ex in examples {
        confusion[ex.label.index()][predict(&ex.text).index()] += 1;
    }
    let ratio = |a: u32, b: u32| {
        if b == 0 {
            0.0
        } else {
            f64::from(a) / f64::from(b)
        }
    };
    let labels: Vec<LabelScore> = IntentLabel::ALL
        .iter()
        .map(|&label| {
            let k = label.index();
            let tp = confusion[k][k];
            let predicted: u32 = (0..N).map(|t| confusion[t][k]).sum();
            let support: u32 = confusion[k].iter().sum();
            let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            LabelScore {
                label,
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let correct: u32 = (0..N).map(|k| confusion[k][k]).sum();
    Report {
        name: name.to_owned(),
        examples: examples.len() as u32,
        accuracy: ratio(correct, examples.len() as u32),
        macro_f1: labels.iter().map(|l| l.f1).sum::<f64>() / N as f64,
        labels,
        confusion,
        conflicts: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_the_confusion_matrix() {
        let examples = parse_jsonl(
            "{\"text\":\"a\",\"label\":\"interested\"}\n{\"text\":\"b\",\"label\":\"interested\"}\n\n{\"text\":\"c\",\"label\":\"other\"}\n",
        )
        .unwrap();
        let report = evaluate("t", &examples, |t| {
            if t == "a" {
                IntentLabel::Interested
            } else {
                IntentLabel::Other
            }
        });
        let i = report.label(IntentLabel::Interested);
        assert_eq!((i.precision, i.recall, i.support), (1.0, 0.5, 2));
        let o = report.label(IntentLabel::Other);
        assert_eq!((o.precision, o.recall), (0.5, 1.0));
        assert_eq!(report.confusion[0][7], 1);
        assert!(
            parse_jsonl("{\"text\":\"a\",\"label\":\"maybe\"}")
                .unwrap_err()
                .starts_with("line 1")
        );
    }
}
