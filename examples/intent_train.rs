//! Fits the reply-intent model on the train split and writes `src/intent/model.tsv`.
//!
//! ```sh
//! cargo run --example intent_train            # fit on train.jsonl, write the model
//! cargo run --example intent_train -- --cv    # 5-fold cross-validation on train only
//! ```
//!
//! Only `tests/fixtures/replies/train.jsonl` is read: the dev split is never used
//! to fit or to choose settings. Cross-validation folds are contiguous blocks of 12
//! lines, so the decorated variants of one base reply (written next to each other)
//! mostly fall in the same fold and the score is not flattered by near-duplicates.

use starling::intent::eval::{evaluate, parse_jsonl};
use starling::intent::model::{Fit, train};
use starling::intent::{Classifier, IntentLabel};

const FIT: Fit = Fit {
    epochs: 30,
    rate: 0.3,
    l2: 0.01,
    min_count: 2,
};

fn arg(name: &str) -> Option<f32> {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .map(|v| v.parse().expect("a number"))
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/tests/fixtures/replies/train.jsonl"))
        .expect("train.jsonl");
    let examples = parse_jsonl(&text).expect("train.jsonl parses");
    let fit = Fit {
        epochs: arg("--epochs").map_or(FIT.epochs, |v| v as usize),
        l2: arg("--l2").unwrap_or(FIT.l2),
        rate: arg("--rate").unwrap_or(FIT.rate),
        min_count: FIT.min_count,
    };
    let pairs: Vec<(String, IntentLabel)> =
        examples.iter().map(|e| (e.text.clone(), e.label)).collect();
    if let Some(i) = std::env::args().position(|a| a == "--explain") {
        let classifier = Classifier::new(Some(train(&pairs, &fit)));
        for text in std::env::args().skip(i + 1) {
            let (cues, logits) = classifier.explain(&text);
            println!("{text:?} -> {:?}", classifier.classify(&text));
            for (label, w, what) in cues {
                println!("  {:15} {w:4.1}  {what}", label.as_str());
            }
            if let Some(l) = logits {
                let named: Vec<String> = IntentLabel::ALL
                    .iter()
                    .zip(l)
                    .map(|(a, b)| format!("{a}={b:.1}"))
                    .collect();
                println!("  model: {}", named.join(" "));
            }
        }
        return;
    }
    if std::env::args().any(|a| a == "--leak-check") {
        leak_check(&examples, &pairs, &fit);
        return;
    }
    if std::env::args().any(|a| a == "--cv") {
        let folds = 5;
        let fold_of = |i: usize| (i / 12) % folds;
        let k = arg("--cue-weight").unwrap_or(starling::intent::CUE_WEIGHT);
        let tau = arg("--min-confidence").unwrap_or(starling::intent::MIN_CONFIDENCE);
        println!("cue weight {k}, min confidence {tau}");
        let mut predicted = Vec::new();
        let mut cues_only = Vec::new();
        for f in 0..folds {
            let fit_on: Vec<_> = pairs
                .iter()
                .enumerate()
                .filter(|(i, _)| fold_of(*i) != f)
                .map(|(_, p)| p.clone())
                .collect();
            let classifier = Classifier::new(Some(train(&fit_on, &fit))).with_tuning(k, tau);
            let bare = Classifier::new(None).with_tuning(k, tau);
            for (i, ex) in examples
                .iter()
                .enumerate()
                .filter(|(i, _)| fold_of(*i) == f)
            {
                predicted.push((i, classifier.classify(&ex.text).label));
                cues_only.push((i, bare.classify(&ex.text).label));
            }
        }
        let errors = std::env::args().any(|a| a == "--errors");
        for (name, preds) in [("hybrid", predicted), ("cues only", cues_only)] {
            let by_index: std::collections::HashMap<usize, IntentLabel> =
                preds.into_iter().collect();
            if errors && name == "hybrid" {
                for (i, ex) in examples
                    .iter()
                    .enumerate()
                    .filter(|(i, e)| by_index[i] != e.label)
                {
                    println!(
                        "{:>15} <- {:15} {:?}",
                        by_index[&i].as_str(),
                        ex.label.as_str(),
                        ex.text
                    );
                    let _ = i;
                }
            }
            let mut i = 0;
            let report = evaluate(name, &examples, |_| {
                i += 1;
                by_index[&(i - 1)]
            });
            let int = report.label(IntentLabel::Interested);
            println!(
                "{name:10} macro-F1 {:.3}  accuracy {:.3}  interested P {:.3} R {:.3}  unsubscribe R {:.3}",
                report.macro_f1,
                report.accuracy,
                int.precision,
                int.recall,
                report.label(IntentLabel::Unsubscribe).recall
            );
            for l in &report.labels {
                println!(
                    "  {:15} P {:.3} R {:.3} F1 {:.3}",
                    l.label.as_str(),
                    l.precision,
                    l.recall,
                    l.f1
                );
            }
        }
        return;
    }
    let model = train(&pairs, &fit);
    let out = format!("{root}/src/intent/model.tsv");
    std::fs::write(&out, model.to_tsv()).expect("write model.tsv");
    println!("{} features -> {out}", model.features_len());
}

/// How much the dev score owes to lexicon entries that no train reply uses.
///
/// Both splits and the lexicon were written by one author, so phrasings remembered
/// from writing dev can reach the lexicon without any run on dev. This reads dev
/// only to report: dev scored with every entry, then with only the entries some
/// train reply fires. Nothing is fitted or chosen from it.
fn leak_check(
    train_split: &[starling::intent::eval::Example],
    pairs: &[(String, IntentLabel)],
    fit: &Fit,
) {
    let root = env!("CARGO_MANIFEST_DIR");
    let dev = parse_jsonl(
        &std::fs::read_to_string(format!("{root}/tests/fixtures/replies/dev.jsonl"))
            .expect("dev.jsonl"),
    )
    .expect("dev parses");
    let full = Classifier::new(Some(train(pairs, fit)));
    let used: std::collections::HashSet<&str> = train_split
        .iter()
        .flat_map(|e| full.patterns_hit(&e.text))
        .collect();
    let dev_only: std::collections::BTreeSet<&str> = dev
        .iter()
        .flat_map(|e| full.patterns_hit(&e.text))
        .filter(|p| !used.contains(p))
        .collect();
    println!(
        "{} lexicon patterns fire on dev but on no train reply:",
        dev_only.len()
    );
    for p in &dev_only {
        println!("  {p}");
    }
    let trimmed = Classifier::new_only(Some(train(pairs, fit)), &|p| used.contains(p));
    for (name, c) in [
        ("every entry", &full),
        ("train-used entries only", &trimmed),
    ] {
        let r = evaluate(name, &dev, |t| c.classify(t).label);
        let i = r.label(IntentLabel::Interested);
        println!(
            "dev, {name:24} macro-F1 {:.3}  interested P {:.3} R {:.3}  unsubscribe R {:.3}",
            r.macro_f1,
            i.precision,
            i.recall,
            r.label(IntentLabel::Unsubscribe).recall
        );
    }
}
