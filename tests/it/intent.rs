//! The reply-intent classifier on the dev split it was never fitted on: the
//! targets of issue 13, ahead of both baselines, through the real binary.

use starling::intent::IntentLabel::{Interested, Unsubscribe};
use std::path::Path;
use std::process::Command;

fn dev() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/replies/dev.jsonl"
    ))
}

#[test]
fn on_the_dev_split_the_classifier_meets_its_targets_far_ahead_of_both_baselines() {
    let reports = starling::cli::intent::reports(dev()).unwrap();
    let [classifier, keywords, vader] = &reports[..] else {
        panic!("three reports")
    };
    assert!(
        classifier.examples >= 350,
        "dev has {} replies",
        classifier.examples
    );
    let interested = classifier.label(Interested);
    assert!(
        interested.precision >= 0.95,
        "interested precision {:.3}",
        interested.precision
    );
    assert!(
        interested.recall >= 0.85,
        "interested recall {:.3}",
        interested.recall
    );
    let unsubscribe = classifier.label(Unsubscribe).recall;
    assert!(unsubscribe >= 0.95, "unsubscribe recall {unsubscribe:.3}");
    assert!(
        classifier.macro_f1 >= 0.85,
        "macro-F1 {:.3}",
        classifier.macro_f1
    );
    for baseline in [keywords, vader] {
        let b = baseline.label(Interested);
        assert!(
            interested.precision >= b.precision + 0.2,
            "{}: interested precision {:.3}",
            baseline.name,
            b.precision
        );
        assert!(
            interested.recall >= b.recall + 0.2,
            "{}: interested recall {:.3}",
            baseline.name,
            b.recall
        );
        assert!(
            unsubscribe >= baseline.label(Unsubscribe).recall + 0.5,
            "{}: unsubscribe",
            baseline.name
        );
        assert!(
            classifier.macro_f1 >= baseline.macro_f1 + 0.4,
            "{}: macro-F1 {:.3}",
            baseline.name,
            baseline.macro_f1
        );
    }
}

#[test]
fn intent_eval_prints_scores_and_confusion_matrices_for_the_classifier_and_both_baselines() {
    let out = Command::new(env!("CARGO_BIN_EXE_starling"))
        .args([
            "intent",
            "eval",
            dev().to_str().unwrap(),
            "--format",
            "json",
        ])
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = json["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["classifier", "keyword rules", "VADER"]);
    for report in json["reports"].as_array().unwrap() {
        assert_eq!(report["labels"].as_array().unwrap().len(), 8);
        assert_eq!(report["confusion"].as_array().unwrap().len(), 8);
        assert!(report["macro_f1"].is_number());
    }
    assert!(json["reports"][1]["conflicts"].is_number());

    let table = Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(["intent", "eval", dev().to_str().unwrap()])
        .env_clear()
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("macro-F1") && table.contains("Confusion matrix, classifier"),
        "{table}"
    );
}

#[test]
fn intent_classifies_one_text_with_its_evidence() {
    let out = Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(["intent", "No thanks, not interested.", "--format", "json"])
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["label"], "not_interested");
    assert!(
        json["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("not interested"))
    );
}
