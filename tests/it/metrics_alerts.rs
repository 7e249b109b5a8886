//! The shipped `deploy/prometheus/alerts.yml`: every metric and label its alert
//! expressions name is in a real scrape (called from `metrics.rs`'s fresh-process
//! test), read by a small parser of the expressions that is tested here too.

use crate::metrics::{Sample, Scrape};
use std::collections::BTreeSet;

/// A PromQL name that is not a metric (functions, aggregations, keywords).
const PROMQL_WORDS: &[&str] = &[
    "max", "min", "sum", "avg", "count", "rate", "increase", "time", "by", "without", "and", "or",
    "unless", "offset", "delta", "absent",
];

/// What one alert's expression names: metrics with their `label="value"`
/// matchers, and the labels it groups `by`.
struct Named {
    metrics: Vec<(String, Vec<(String, String)>)>,
    by: Vec<String>,
}

fn named_in(expr: &str) -> Named {
    let metric = regex::Regex::new(r#"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{([^}]*)\})?"#).unwrap();
    let matcher = regex::Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)""#).unwrap();
    let by = regex::Regex::new(r"\bby\s*\(([^)]*)\)").unwrap();
    let mut named = Named {
        metrics: Vec::new(),
        by: Vec::new(),
    };
    // Grouping labels and range selectors are not metric names.
    let stripped = by.replace_all(expr, "");
    let stripped = regex::Regex::new(r"\[[^\]]*\]")
        .unwrap()
        .replace_all(&stripped, "");
    for c in metric.captures_iter(&stripped) {
        let name = &c[1];
        if PROMQL_WORDS.contains(&name) || name.chars().next().unwrap().is_ascii_digit() {
            continue;
        }
        let labels = c.get(3).map_or(Vec::new(), |m| {
            matcher
                .captures_iter(m.as_str())
                .map(|l| (l[1].to_string(), l[2].to_string()))
                .collect()
        });
        named.metrics.push((name.to_string(), labels));
    }
    for c in by.captures_iter(expr) {
        named
            .by
            .extend(c[1].split(',').map(|l| l.trim().to_string()));
    }
    named
}

pub fn every_alert_names_what_the_scrape_has(scrape: &Scrape) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus/alerts.yml");
    let doc = marked_yaml::parse_yaml(0, std::fs::read_to_string(path).unwrap()).unwrap();
    let groups = doc
        .as_mapping()
        .unwrap()
        .get_sequence("groups")
        .expect("groups:");
    let mut alerts = BTreeSet::new();
    for group in groups.iter() {
        let group = group.as_mapping().unwrap();
        assert!(group.get_scalar("name").is_some(), "a group has a name");
        for rule in group.get_sequence("rules").unwrap().iter() {
            let rule = rule.as_mapping().unwrap();
            let alert = rule
                .get_scalar("alert")
                .expect("alerting rules only")
                .as_str();
            assert!(alerts.insert(alert.to_string()), "{alert} twice");
            let expr = rule.get_scalar("expr").unwrap().as_str();
            let hold = rule.get_scalar("for").unwrap().as_str();
            assert!(
                humantime::parse_duration(hold).is_ok(),
                "{alert}: for: {hold}"
            );
            let severity = rule
                .get_mapping("labels")
                .unwrap()
                .get_scalar("severity")
                .unwrap();
            assert!(
                ["warning", "critical"].contains(&severity.as_str()),
                "{alert}"
            );
            assert!(
                rule.get_mapping("annotations")
                    .unwrap()
                    .get_scalar("summary")
                    .is_some()
            );

            let named = named_in(expr);
            assert!(!named.metrics.is_empty(), "{alert} names no metric: {expr}");
            for (metric, labels) in &named.metrics {
                let pairs: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let matching: Vec<&Sample> = scrape.find(metric, &pairs).collect();
                assert!(
                    !matching.is_empty(),
                    "{alert}: {metric} {labels:?} is not in a real scrape"
                );
                for label in &named.by {
                    assert!(
                        matching.iter().all(|s| s.labels.contains_key(label)),
                        "{alert}: {metric} has no label `{label}`"
                    );
                }
            }
        }
    }
    for required in [
        "StarlingDeadActions",
        "StarlingOutcomeUnknown",
        "StarlingStreamDown",
        "StarlingNoEvents",
        "StarlingVendorRateLimited",
    ] {
        assert!(alerts.contains(required), "alerts.yml lacks {required}");
    }
}

/// The parser of alert expressions sees what a reader sees.
#[test]
fn alert_expressions_are_read_into_metrics_and_labels() {
    let named = named_in(
        r#"sum by (kind) (rate(starling_action_call_errors_total{error_class="rate_limited"}[10m])) > 0"#,
    );
    assert_eq!(
        named.metrics,
        vec![(
            "starling_action_call_errors_total".to_string(),
            vec![("error_class".to_string(), "rate_limited".to_string())]
        )]
    );
    assert_eq!(named.by, vec!["kind"]);
    let named = named_in("time() - max(starling_last_event_timestamp_seconds) > 3600");
    assert_eq!(named.metrics.len(), 1);
    assert_eq!(named.metrics[0].0, "starling_last_event_timestamp_seconds");
}
