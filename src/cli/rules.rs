//! `starling rules check [DIR]` and `starling rules test [--event FILE | --events FILE.jsonl] [--rule NAME]`.
//! Nothing here stores, enqueues or sends anything.

use crate::cli::audit::{Format, render};
use crate::rules::error::RuleError;
use crate::rules::load::{Known, load_dir_with};
use crate::rules::testing::{self, Verdict};
use crate::rules::{EventContext, RuleSet};
use crate::store::audit::Table;
use serde_json::{Value, json};
use std::path::Path;

pub use super::report::Report;

/// Checks every rule file of `dir` (secret names against `known`); warnings
/// (literal credentials) are printed but do not fail the check. `table` (the
/// default) prints one `file:line:column: message` per problem, as compilers do.
pub fn check(dir: &Path, known: &Known, format: Format) -> Report {
    let loaded = load_dir_with(dir, known);
    let (set, problems): (Option<&RuleSet>, Vec<(&str, &RuleError)>) = match &loaded {
        Ok(set) => (
            Some(set),
            set.warnings.iter().map(|w| ("warning", w)).collect(),
        ),
        Err(errors) => (None, errors.0.iter().map(|e| ("error", e)).collect()),
    };
    let ok = set.is_some();
    let text = match format {
        Format::Table => {
            let mut text: String = problems.iter().map(|(_, p)| format!("{p}\n")).collect();
            text.push_str(&match set {
                Some(set) => format!(
                    "{}: {} rules OK (version {}){}\n",
                    dir.display(),
                    set.rules.len(),
                    set.version,
                    match problems.len() {
                        0 => String::new(),
                        n => format!(", {n} warning(s)"),
                    }
                ),
                None => format!("{} problem(s) found\n", problems.len()),
            });
            text
        }
        Format::Csv => render(&problem_table(&problems), Format::Csv),
        Format::Json => {
            let rows: Vec<Value> = problems.iter().map(|(s, p)| problem_json(s, p)).collect();
            let report = json!({
                "dir": dir.display().to_string(),
                "ok": ok,
                "rules": set.map(|s| s.rules.len()),
                "version": set.map(|s| s.version.clone()),
                "problems": rows,
            });
            serde_json::to_string_pretty(&report).expect("JSON serializes") + "\n"
        }
    };
    Report { text, ok }
}

fn problem_json(severity: &str, p: &RuleError) -> Value {
    json!({"severity": severity, "file": p.file, "line": p.pos.line, "column": p.pos.column, "message": p.message})
}

fn problem_table(problems: &[(&str, &RuleError)]) -> Table {
    let columns = ["severity", "file", "line", "column", "message"];
    Table {
        columns: columns.map(String::from).to_vec(),
        rows: problems
            .iter()
            .map(|(s, p)| {
                let row = problem_json(s, p);
                columns.iter().map(|c| row[c].clone()).collect()
            })
            .collect(),
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
        Err(_) => return check(dir, known, format),
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
        Samples::Blocks => run_blocks(&set, rule, format),
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
    let verdicts = verdicts(set, &ctx, only);
    let text = match format {
        Format::Json => {
            serde_json::to_string_pretty(&trial_json(&ctx, &verdicts)).expect("JSON serializes")
                + "\n"
        }
        Format::Csv => render(&verdict_table(&verdicts), Format::Csv),
        Format::Table => {
            let mut table = crate::cli::audit::terminal_table();
            table.set_header(["rule", "result", "detail"]);
            for (rule, v) in &verdicts {
                let (result, detail) = verdict_cells(v);
                table.add_row([rule.to_string(), result.to_string(), detail]);
            }
            let intent = ctx.intent.as_ref().map(|i| {
                let evidence = i.evidence.join("; ");
                format!("intent: {} ({:.2}): {evidence}\n", i.label, i.confidence)
            });
            let intent = intent.unwrap_or_default();
            format!("{intent}{table}\n(nothing was stored or sent)\n")
        }
    };
    Report {
        text,
        ok: !verdicts.iter().any(|(_, v)| matches!(v, Verdict::Error(_))),
    }
}

/// One sample event tried on the rules, as `rules test --event --format json`
/// prints it and the console's playground shows it: the event's intent with its
/// evidence, and per rule whether it matched, its rendered actions (credentials
/// as markers, as every rendered action is) or why it did not.
pub fn trial_json(ctx: &EventContext, verdicts: &[(&str, Verdict)]) -> Value {
    let rows: Vec<Value> = verdicts
        .iter()
        .map(|(rule, v)| match v {
            Verdict::Matched { actions, cooldown_key } => json!({"rule": rule, "matched": true, "actions": actions, "cooldown_key": cooldown_key}),
            Verdict::NotMatched(why) => json!({"rule": rule, "matched": false, "why": why}),
            Verdict::Error(e) => json!({"rule": rule, "matched": false, "error": e}),
        })
        .collect();
    json!({"intent": ctx.intent, "rules": rows})
}

/// Every rule's verdict on `ctx` (only `only`, if given), named.
pub fn verdicts<'s>(
    set: &'s RuleSet,
    ctx: &EventContext,
    only: Option<&str>,
) -> Vec<(&'s str, Verdict)> {
    testing::explain_set(set, ctx, only)
        .into_iter()
        .map(|(r, v)| (r.name.as_str(), v))
        .collect()
}

/// A verdict as the table shows it: the result and its detail.
fn verdict_cells(v: &Verdict) -> (&'static str, String) {
    match v {
        Verdict::Matched {
            actions,
            cooldown_key,
        } => {
            let mut lines: Vec<String> = actions
                .iter()
                .map(|a| {
                    let params = serde_json::to_string(&a.params).unwrap_or_default();
                    format!("{} {params}", a.action)
                })
                .collect();
            if let Some(key) = cooldown_key {
                lines.push(format!("cooldown key: {key}"));
            }
            ("MATCH", lines.join("\n"))
        }
        Verdict::NotMatched(why) => ("no match", why.clone()),
        Verdict::Error(e) => ("ERROR", e.clone()),
    }
}

fn verdict_table(verdicts: &[(&str, Verdict)]) -> Table {
    Table {
        columns: ["rule", "result", "detail"].map(String::from).to_vec(),
        rows: verdicts
            .iter()
            .map(|(rule, v)| {
                let (result, detail) = verdict_cells(v);
                vec![json!(rule), json!(result), json!(detail)]
            })
            .collect(),
    }
}

fn run_blocks(set: &RuleSet, only: Option<&str>, format: Format) -> Report {
    let results: Vec<_> = testing::run_tests(set)
        .into_iter()
        .filter(|r| only.is_none_or(|n| n == r.rule))
        .collect();
    let failed = results.iter().filter(|r| !r.problems.is_empty()).count();
    let ok = failed == 0;
    let columns = ["rule", "test", "passed", "location", "problems"];
    let row = |r: &testing::TestResult| json!({"rule": r.rule, "test": r.test, "passed": r.problems.is_empty(), "location": r.location, "problems": r.problems});
    match format {
        Format::Json => {
            let rows: Vec<Value> = results.iter().map(row).collect();
            let text = serde_json::to_string_pretty(&rows).expect("JSON serializes") + "\n";
            return Report { text, ok };
        }
        Format::Csv => {
            let table = Table {
                columns: columns.map(String::from).to_vec(),
                rows: results
                    .iter()
                    .map(|r| {
                        let mut row = row(r);
                        row["problems"] = json!(r.problems.join("; "));
                        columns.iter().map(|c| row[c].clone()).collect()
                    })
                    .collect(),
            };
            return Report {
                text: render(&table, Format::Csv),
                ok,
            };
        }
        Format::Table => {}
    }
    let mut text = String::new();
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
    Report { text, ok }
}
