//! Trying rules without side effects: explain why a rule does or does not match a
//! sample event, and run the `tests:` blocks of rule files (`starling rules test`).

use super::matcher::{contains_keyword, lookup, normalized, text_path};
use super::{EventContext, EventMeta, Outcome, RenderedAction, Rule, RuleSet};
use crate::clock::format_utc;
use serde_json::Value;

/// The verdict of one rule on one sample event.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Matched {
        actions: Vec<RenderedAction>,
        cooldown_key: Option<String>,
    },
    /// Which matcher failed, in words.
    NotMatched(String),
    Error(String),
}

/// Builds the rule context of a sample event: a Scrapely webhook body
/// (`{event, timestamp, data}`) or `{kind, data}` for any other kind.
pub fn sample_context(event: &Value) -> Result<EventContext, String> {
    if event.get("event").is_some() && event.get("timestamp").is_some() {
        let body = serde_json::to_vec(event).expect("JSON serializes");
        let normalized =
            crate::sources::scrapely::normalize(&body, time::OffsetDateTime::now_utc())
                .map_err(|r| format!("not a valid Scrapely webhook: {r:?}"))?;
        return Ok(EventContext::of(&normalized, None));
    }
    let kind = event
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("expected a Scrapely webhook body {event, timestamp, data} or {kind, data}")?;
    let source = kind.split('.').next().unwrap_or(kind);
    let now = format_utc(time::OffsetDateTime::now_utc());
    let meta = EventMeta {
        id: None,
        source,
        kind,
        dedupe_key: "sample",
        received_at: &now,
        channels: &["sample"],
    };
    Ok(EventContext::new(
        meta,
        event.get("data").cloned().unwrap_or(Value::Null),
    ))
}

/// Evaluates one rule on an event, saying which matcher failed when it does not match.
pub fn explain(set: &RuleSet, rule: &Rule, ctx: &EventContext) -> Verdict {
    if !rule.enabled {
        return Verdict::NotMatched("the rule is disabled (enabled: false)".into());
    }
    explain_as_enabled(set, rule, ctx)
}

/// Like [`explain`], for a rule being tried before it is enabled (backtests).
pub fn explain_as_enabled(set: &RuleSet, rule: &Rule, ctx: &EventContext) -> Verdict {
    if !rule.on.contains(&ctx.kind) {
        return Verdict::NotMatched(format!(
            "event kind `{}` is not in on: {:?}",
            ctx.kind, rule.on
        ));
    }
    if !rule.keywords.is_empty() {
        let path = text_path(&ctx.kind).unwrap_or(&[]);
        let text = lookup(ctx.json(), path)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase();
        if !rule
            .keywords
            .iter()
            .any(|k| contains_keyword(&text, &k.to_lowercase()))
        {
            return Verdict::NotMatched(format!(
                "keywords: none of {:?} appears in {} as a whole word",
                rule.keywords,
                path.join(".")
            ));
        }
    }
    if let Some(word) = super::select::unless_hits(rule, ctx) {
        let path = text_path(&ctx.kind).unwrap_or(&[]).join(".");
        return Verdict::NotMatched(format!(
            "unless_keywords: `{word}` appears in {path} as a whole word"
        ));
    }
    if let Some(why) = rule
        .intent
        .as_ref()
        .and_then(|m| m.misfit(ctx.intent.as_ref()))
    {
        return Verdict::NotMatched(why);
    }
    for m in &rule.matches {
        let value = lookup(ctx.json(), &m.path.0);
        if !value.is_some_and(|v| m.values.contains(&normalized(v))) {
            let shown = value
                .map(|v| v.to_string())
                .unwrap_or_else(|| "missing".into());
            return Verdict::NotMatched(format!(
                "match: {} is {shown}; expected one of {:?}",
                m.path, m.values
            ));
        }
    }
    if let Some((_, source)) = &rule.when {
        match set.condition_holds(rule, ctx) {
            Ok(true) => {}
            Ok(false) => return Verdict::NotMatched(format!("when: `{source}` is false")),
            Err(e) => return Verdict::Error(e),
        }
    }
    match set.render(rule, ctx) {
        Ok(Outcome::Matched {
            actions,
            cooldown_key,
        }) => Verdict::Matched {
            actions,
            cooldown_key,
        },
        Ok(Outcome::Failed(e)) | Err(e) => Verdict::Error(e),
    }
}

/// Every rule's verdict on one event (only `only`, if given), in file order, as
/// the server decides it: within a `group:`, a rule that would match after the
/// group's first rule matched or failed is a near miss that says so.
pub fn explain_set<'s>(
    set: &'s RuleSet,
    ctx: &EventContext,
    only: Option<&str>,
) -> Vec<(&'s Rule, Verdict)> {
    let mut verdicts: Vec<(&Rule, Verdict)> = set
        .rules
        .iter()
        .map(|r| (r, explain(set, r, ctx)))
        .collect();
    let mut order: Vec<usize> = (0..verdicts.len()).collect();
    set.precedence(&mut order);
    let mut taken: Vec<(&str, &str)> = Vec::new();
    for i in order {
        let (rule, verdict) = &mut verdicts[i];
        let Some(group) = rule.group.as_deref() else {
            continue;
        };
        if matches!(verdict, Verdict::NotMatched(_)) {
            continue;
        }
        match taken.iter().find(|(g, _)| *g == group) {
            Some((_, first)) => {
                *verdict = Verdict::NotMatched(format!(
                    "group `{group}`: rule `{first}` took this event first (higher priority or earlier in file order)"
                ));
            }
            None => taken.push((group, rule.name.as_str())),
        }
    }
    verdicts.retain(|(r, _)| only.is_none_or(|n| n == r.name));
    verdicts
}

/// The result of one `tests:` entry.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub rule: String,
    pub test: String,
    pub location: String,
    /// Empty when the test passed.
    pub problems: Vec<String>,
}

/// Runs every `tests:` entry of every rule.
pub fn run_tests(set: &RuleSet) -> Vec<TestResult> {
    let mut results = Vec::new();
    for rule in &set.rules {
        for test in &rule.tests {
            let problems = match sample_context(&test.event) {
                Err(e) => vec![format!("event: {e}")],
                Ok(ctx) => check(
                    &explain(set, rule, &ctx),
                    test.expect_match,
                    &test.expect_actions,
                    rule,
                ),
            };
            results.push(TestResult {
                rule: rule.name.clone(),
                test: test.name.clone(),
                location: format!("{}:{}:{}", rule.file, test.pos.line, test.pos.column),
                problems,
            });
        }
    }
    results
}

fn check(
    verdict: &Verdict,
    expect_match: bool,
    expect_actions: &[(Option<String>, Value)],
    rule: &super::Rule,
) -> Vec<String> {
    match (verdict, expect_match) {
        (Verdict::Error(e), _) => vec![format!("evaluation failed: {e}")],
        (Verdict::NotMatched(why), true) => vec![format!("expected a match, but {why}")],
        (Verdict::Matched { .. }, false) => vec!["expected no match, but the rule matched".into()],
        (Verdict::NotMatched(_), false) => Vec::new(),
        (Verdict::Matched { actions, .. }, true) => {
            let mut problems = Vec::new();
            for (i, (name, with)) in expect_actions.iter().enumerate() {
                let Some(actual) = actions.get(i) else {
                    problems.push(format!(
                        "expected action #{} but the rule has {}",
                        i + 1,
                        actions.len()
                    ));
                    continue;
                };
                if let Some(name) = name
                    && *name != actual.action.as_str()
                {
                    problems.push(format!(
                        "action #{}: expected {name}, got {}",
                        i + 1,
                        actual.action
                    ));
                }
                // Rendered parameters have literal credentials masked; so do expectations.
                let mut with = with.clone();
                if let Some(template) = rule.actions.get(i) {
                    crate::secret::marker::mask_literals_in(&mut with, &template.literals);
                }
                if let Some(diff) =
                    subset_difference(&with, &actual.params, &format!("action #{}", i + 1))
                {
                    problems.push(diff);
                }
            }
            problems
        }
    }
}

/// Where `expected` is not contained in `actual` (objects compared key by key).
fn subset_difference(expected: &Value, actual: &Value, at: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().find_map(|(k, v)| match a.get(k) {
            Some(av) => subset_difference(v, av, &format!("{at}.{k}")),
            None => Some(format!("{at}.{k}: expected {v}, but it was not rendered")),
        }),
        (e, a) if e == a => None,
        (e, a) => Some(format!("{at}: expected {e}, got {a}")),
    }
}
