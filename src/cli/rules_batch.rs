//! `starling rules test --events FILE.jsonl`: many sample events in one run, one
//! result per input line — what fired (with rendered actions) and what failed,
//! exclusive groups applied as the server applies them. Nothing is stored or sent.

use super::audit::Format;
use super::report::Report;
use crate::rules::RuleSet;
use crate::rules::testing::{self, Verdict};
use serde_json::{Value, json};
use std::path::Path;

/// The result of one input line.
fn line_result(set: &RuleSet, line: usize, text: &str, only: Option<&str>) -> Value {
    let event: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return json!({"line": line, "error": format!("not JSON: {e}")}),
    };
    let ctx = match testing::sample_context(&event) {
        Ok(ctx) => ctx,
        Err(e) => return json!({"line": line, "error": e}),
    };
    let mut fired = Vec::new();
    let mut errors = Vec::new();
    for (rule, verdict) in testing::explain_set(set, &ctx, only) {
        match verdict {
            Verdict::Matched { actions, .. } => {
                fired.push(json!({"rule": rule.name, "actions": actions}))
            }
            Verdict::Error(e) => errors.push(json!({"rule": rule.name, "error": e})),
            Verdict::NotMatched(_) => {}
        }
    }
    let mut out = json!({"line": line, "fired": fired, "errors": errors});
    if let Some(intent) = &ctx.intent {
        out["intent"] = json!(intent);
    }
    // Lets a caller join results to its inputs by their own id.
    if let Some(id) = event
        .pointer("/data/message/id")
        .or_else(|| event.get("id"))
    {
        out["id"] = id.clone();
    }
    out
}

pub fn try_events(set: &RuleSet, file: &Path, only: Option<&str>, format: Format) -> Report {
    let input = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            return Report {
                text: format!("{}: {e}\n", file.display()),
                ok: false,
            };
        }
    };
    let results: Vec<Value> = input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| line_result(set, i + 1, l, only))
        .collect();
    let failed = |r: &Value| {
        r.get("error").is_some() || r["errors"].as_array().is_some_and(|e| !e.is_empty())
    };
    let ok = !results.iter().any(failed);
    let text = match format {
        Format::Json => results.iter().map(|r| format!("{r}\n")).collect(),
        Format::Csv => csv(&results),
        Format::Table => table(&results),
    };
    Report { text, ok }
}

/// The rules that fired on a line, joined.
fn fired_names(r: &Value) -> String {
    r["fired"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x["rule"].as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// The line's problems, joined.
fn problems(r: &Value) -> String {
    match r.get("error").and_then(Value::as_str) {
        Some(e) => e.to_string(),
        None => r["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|x| {
                        format!(
                            "{}: {}",
                            x["rule"].as_str().unwrap_or(""),
                            x["error"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default(),
    }
}

fn csv(results: &[Value]) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from("line,intent,fired,errors\n");
    for r in results {
        out.push_str(&format!(
            "{},{},{},{}\n",
            r["line"],
            r["intent"]["label"].as_str().unwrap_or(""),
            quote(&fired_names(r)),
            quote(&problems(r))
        ));
    }
    out
}

fn table(results: &[Value]) -> String {
    let mut table = crate::cli::audit::terminal_table();
    table.set_header(["line", "intent", "fired", "errors"]);
    for r in results {
        let intent = match r["intent"]["label"].as_str() {
            Some(label) => format!(
                "{label} {:.2}",
                r["intent"]["confidence"].as_f64().unwrap_or(0.0)
            ),
            None => String::new(),
        };
        table.add_row([r["line"].to_string(), intent, fired_names(r), problems(r)]);
    }
    let lines = results.len();
    let fired = results
        .iter()
        .filter(|r| !fired_names(r).is_empty())
        .count();
    format!("{table}\n{lines} events, {fired} with a rule firing (nothing was stored or sent)\n")
}
