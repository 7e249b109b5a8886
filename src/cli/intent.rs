//! `starling intent`: classify one text, or evaluate the classifier and its two
//! baselines on a labelled JSON-lines file (`starling intent eval FILE.jsonl`).

use crate::intent::eval::{Report, evaluate, parse_jsonl};
use crate::intent::{IntentLabel, baseline, intent};
use anyhow::Context;
use std::fmt::Write;
use std::path::Path;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// Markdown tables (paste into a README as they are).
    Table,
    Json,
}

/// The label, confidence and evidence for one text.
pub fn classify(text: &str, format: Format) -> String {
    let answer = intent(text);
    match format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string(&answer).expect("an intent serializes")
        ),
        Format::Table => {
            let mut out = format!(
                "label       {}\nconfidence  {:.2}\n",
                answer.label, answer.confidence
            );
            for (i, e) in answer.evidence.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{}{e}",
                    if i == 0 {
                        "evidence    "
                    } else {
                        "            "
                    }
                );
            }
            out
        }
    }
}

/// The classifier, the old keyword rules and VADER on the same file.
pub fn reports(path: &Path) -> anyhow::Result<Vec<Report>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let examples = parse_jsonl(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    anyhow::ensure!(
        !examples.is_empty(),
        "{} holds no labelled replies",
        path.display()
    );
    let classifier = evaluate("classifier", &examples, |t| intent(t).label);
    let mut conflicts = 0;
    let mut keywords = evaluate("keyword rules", &examples, |t| {
        let (label, conflict) = baseline::keyword_rules(t);
        conflicts += u32::from(conflict);
        label
    });
    keywords.conflicts = Some(conflicts);
    let vader = evaluate("VADER", &examples, baseline::vader);
    Ok(vec![classifier, keywords, vader])
}

pub fn eval(path: &Path, format: Format) -> anyhow::Result<String> {
    let reports = reports(path)?;
    Ok(match format {
        Format::Json => {
            let json =
                serde_json::json!({ "file": path.display().to_string(), "reports": reports });
            format!("{}\n", serde_json::to_string_pretty(&json)?)
        }
        Format::Table => table(path, &reports),
    })
}

fn table(path: &Path, reports: &[Report]) -> String {
    let mut out = format!(
        "{}: {} replies\n\n| label |",
        path.display(),
        reports[0].examples
    );
    for r in reports {
        let _ = write!(out, " {} P | R | F1 |", r.name);
    }
    out.push_str(" support |\n|---|");
    out.push_str(&"---:|".repeat(reports.len() * 3 + 1));
    out.push('\n');
    for label in IntentLabel::ALL {
        let _ = write!(out, "| {label} |");
        for r in reports {
            let s = r.label(label);
            let _ = write!(out, " {:.2} | {:.2} | {:.2} |", s.precision, s.recall, s.f1);
        }
        let _ = writeln!(out, " {} |", reports[0].label(label).support);
    }
    out.push_str("| **macro-F1** |");
    for r in reports {
        let _ = write!(out, " | | **{:.3}** |", r.macro_f1);
    }
    out.push_str(" |\n| accuracy |");
    for r in reports {
        let _ = write!(out, " | | {:.3} |", r.accuracy);
    }
    out.push_str(" |\n");
    for r in reports {
        if let Some(n) = r.conflicts {
            let _ = writeln!(
                out,
                "\nThe {} tagged {n} replies both interested_reply and not_interested.",
                r.name
            );
        }
    }
    for r in reports {
        let _ = write!(
            out,
            "\nConfusion matrix, {} (rows: the label, columns: the answer):\n\n| |",
            r.name
        );
        for label in IntentLabel::ALL {
            let _ = write!(out, " {label} |");
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(IntentLabel::ALL.len()));
        out.push('\n');
        for label in IntentLabel::ALL {
            let _ = write!(out, "| {label} |");
            for n in &r.confusion[label.index()] {
                let _ = write!(out, " {n} |");
            }
            out.push('\n');
        }
    }
    out
}
