//! `starling rules check [DIR]` and `starling rules test [--event FILE | --events FILE.jsonl] [--rule NAME]`.
//! Nothing here stores, enqueues or sends anything.

use crate::cli::audit::Format;
use crate::rules::RuleSet;
use crate::rules::load::{Known, load_dir_with};
use crate::rules::testing::{self, Verdict};
use serde_json::{Value, json};
use std::path::Path;

/// The report and whether everything was fine.
pub struct Report {
    pub text: String,
    pub ok: bool,
}

/// Checks every rule file of `dir` (secret names against `known`); warnings
/// (literal credentials) are printed but do not fail the check.
pub fn check(dir: &Path, known: &Known) -> Report {
    match load_dir_with(dir, known) {
        Ok(set) => {
            let mut text: String = set.warnings.iter().map(|w| format!("{w}\n")).collect();
            text.push_str(&format!(
                "{}: {} rules OK (version {}){}\n",
                dir.display(),
                set.rules.len(),
                set.version,
                match set.warnings.len() {
                    0 => String::new(),
                    n => format!(", {n} warning(s)"),
                }
            ));
            Report { text, ok: true }
        }
        Err(errors) => Report {
            text: format!("{errors}\n{} problem(s) found\n", errors.0.len()),
            ok: false,
        },
    }
}

/// What `rules test` runs: the `tests:` blocks, one sample event, or a JSON
/// lines file of them.
#[derive(Debug, Clone, Copy)]
pub enum Samples<'a> {
    Blocks,
    One(&'a Path),
    Many(&'a Path),
}

pub fn test(
    dir: &Path,
    known: &Known,
    samples: Samples<'_>,
    rule: Option<&str>,
    format: Format,
) -> Report {
    let set = match load_dir_with(dir, known) {
        Ok(set) => set,
        Err(errors) => {
            return Report {
                text: format!("{errors}\n"),
                ok: false,
            };
        }
    };
    if let Some(name) = rule
        && set.rule(name).is_none()
    {
        return Report {
            text: format!("no rule named `{name}` in {}\n", dir.display()),
            ok: false,
        };
    }
    match samples {
        Samples::One(file) => try_event(&set, file, rule, format),
        Samples::Many(file) => super::rules_batch::try_events(&set, file, rule, format),
        Samples::Blocks => run_blocks(&set, rule),
    }
}

fn try_event(set: &RuleSet, file: &Path, only: Option<&str>, format: Format) -> Report {
    let event: Value = match std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            return Report {
                text: format!("{}: {e}\n", file.display()),
                ok: false,
            };
        }
    };
    let ctx = match testing::sample_context(&event) {
        Ok(ctx) => ctx,
        Err(e) => {
            return Report {
                text: format!("{}: {e}\n", file.display()),
                ok: false,
            };
        }
    };
    let verdicts: Vec<(&str, Verdict)> = testing::explain_set(set, &ctx, only)
        .into_iter()
        .map(|(r, v)| (r.name.as_str(), v))
        .collect();
    let text = match format {
        Format::Json => {
            let rows: Vec<Value> = verdicts
                .iter()
                .map(|(rule, v)| match v {
                    Verdict::Matched { actions, cooldown_key } => json!({"rule": rule, "matched": true, "actions": actions, "cooldown_key": cooldown_key}),
                    Verdict::NotMatched(why) => json!({"rule": rule, "matched": false, "why": why}),
                    Verdict::Error(e) => json!({"rule": rule, "matched": false, "error": e}),
                })
                .collect();
            serde_json::to_string_pretty(&rows).expect("JSON serializes") + "\n"
        }
        _ => {
            let mut table = comfy_table::Table::new();
            table
                .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
                .set_header(["rule", "result", "detail"]);
            for (rule, v) in &verdicts {
                let (result, detail) = match v {
                    Verdict::Matched {
                        actions,
                        cooldown_key,
                    } => {
                        let mut lines: Vec<String> = actions
                            .iter()
                            .map(|a| {
                                format!(
                                    "{} {}",
                                    a.action,
                                    serde_json::to_string(&a.params).unwrap_or_default()
                                )
                            })
                            .collect();
                        if let Some(key) = cooldown_key {
                            lines.push(format!("cooldown key: {key}"));
                        }
                        ("MATCH", lines.join("\n"))
                    }
                    Verdict::NotMatched(why) => ("no match", why.clone()),
                    Verdict::Error(e) => ("ERROR", e.clone()),
                };
                table.add_row([rule.to_string(), result.to_string(), detail]);
            }
            format!("{table}\n(nothing was stored or sent)\n")
        }
    };
    Report {
        text,
        ok: !verdicts.iter().any(|(_, v)| matches!(v, Verdict::Error(_))),
    }
}

fn run_blocks(set: &RuleSet, only: Option<&str>) -> Report {
    let results: Vec<_> = testing::run_tests(set)
        .into_iter()
        .filter(|r| only.is_none_or(|n| n == r.rule))
        .collect();
    let mut text = String::new();
    let failed = results.iter().filter(|r| !r.problems.is_empty()).count();
    for r in &results {
        if r.problems.is_empty() {
            text.push_str(&format!("ok    {} › {}\n", r.rule, r.test));
        } else {
            text.push_str(&format!("FAIL  {} › {} ({})\n", r.rule, r.test, r.location));
            for p in &r.problems {
                text.push_str(&format!("        {p}\n"));
            }
        }
    }
    let untested = set
        .rules
        .iter()
        .filter(|r| r.tests.is_empty() && only.is_none_or(|n| n == r.name))
        .count();
    text.push_str(&format!(
        "{} tests, {} passed, {failed} failed; {untested} rules without tests\n",
        results.len(),
        results.len() - failed
    ));
    Report {
        text,
        ok: failed == 0,
    }
}
