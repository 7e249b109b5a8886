//! The rules page: every loaded rule with what it did over the last 24 h and
//! 7 d ([`super::rule_stats`]), its latest error and the reload status; and
//! its backtest form, which runs `starling rules backtest`'s own count
//! (`cli::backtest::window` and `replay`) on the console's pool, read-only and bounded.

use super::Console;
use super::buttons::refused;
use super::pages::{database_failure, page};
use crate::cli::backtest::{self, Options, Reader};
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};

/// Events a backtest from the console replays unless told otherwise (the CLI's default).
pub const BACKTEST_DEFAULT_LIMIT: u64 = 10_000;
/// The most a console backtest may replay: it runs inside the server.
pub const BACKTEST_MAX_LIMIT: u64 = 100_000;

pub async fn rules(State(console): State<Console>, headers: HeaderMap) -> Response {
    let set = console.rules.current();
    let status = console.rules.status();
    let names: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
    let stats =
        match super::rule_stats::stats(&console.store, &names, time::OffsetDateTime::now_utc())
            .await
        {
            Ok(stats) => stats,
            Err(e) => return database_failure(&console, &headers, e),
        };
    let rows: Vec<serde_json::Value> = set
        .rules
        .iter()
        .map(|r| {
            let link = serde_urlencoded::to_string([("rule", r.name.as_str())]).unwrap_or_default();
            serde_json::json!({
                "name": r.name,
                "description": r.description,
                "file": r.file,
                "line": r.pos.line,
                "enabled": r.enabled,
                "on": r.on,
                "group": r.group,
                "actions": r.actions.len(),
                "stats": stats.get(&r.name),
                "actions_link": format!("/actions?{link}"),
                // A failed reload names the files it could not read.
                "file_failed": status.last_error.as_ref().is_some_and(|e| e.contains(&r.file)),
            })
        })
        .collect();
    page(
        &console,
        &headers,
        "rules.html",
        "rules",
        context! {
            rules => Value::from_serialize(&rows),
            status => Value::from_serialize(&status),
            form => Value::from_serialize(BacktestForm::default()),
            max_limit => BACKTEST_MAX_LIMIT,
        },
    )
}

/// The backtest form; every field as typed, so a bad one is shown back.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct BacktestForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    /// Empty: every rule.
    #[serde(default)]
    rule: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    limit: String,
}

/// What `starling rules backtest --rule R --since S --until U --limit N` prints
/// the counts of, over the console's pool.
pub async fn backtest(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<BacktestForm>,
) -> Response {
    if let Some(refusal) = refused(&console, &headers, &form.csrf) {
        return refusal;
    }
    let set = console.rules.current();
    let names: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
    let shown = |status: StatusCode, result: Value, problem: String| {
        let mut response = page(
            &console,
            &headers,
            "backtest.html",
            "rules",
            context! {
                form => Value::from_serialize(&form),
                rules => names.clone(),
                result => result,
                problem => problem,
                max_limit => BACKTEST_MAX_LIMIT,
            },
        );
        *response.status_mut() = status;
        response
    };
    let limit = match limit_of(&form.limit) {
        Ok(limit) => limit,
        Err(why) => return shown(StatusCode::BAD_REQUEST, Value::UNDEFINED, why),
    };
    let blank = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(String::from);
    let (rule, since, until) = (blank(&form.rule), blank(&form.since), blank(&form.until));
    let options = Options {
        rule: rule.as_deref(),
        since: since.as_deref(),
        until: until.as_deref(),
        limit,
    };
    let counted = match backtest::window(Reader::Store(&console.store), &set, &options).await {
        // Up to the limit's 100,000 events of CPU: on a blocking thread, so the
        // runtime's workers go on serving webhooks and pages meanwhile.
        Ok(window) => {
            let (set, rule) = (set.clone(), rule.clone());
            tokio::task::spawn_blocking(move || {
                backtest::replay(&set, rule.as_deref(), window, backtest::Bar::Never)
            })
            .await
            .map_err(|e| match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // Only while the runtime shuts down.
                Err(cancelled) => anyhow::Error::new(cancelled).context("backtest cancelled"),
            })
        }
        Err(e) => Err(e),
    };
    match counted {
        Ok(counted) => {
            let rules: Vec<serde_json::Value> = counted
                .rules
                .iter()
                .map(|(name, totals)| serde_json::json!({ "rule": name, "totals": totals }))
                .collect();
            let result = context! {
                events => counted.events,
                left_out => counted.left_out,
                limit => counted.limit,
                summary => counted.summary(),
                reply_intents => Value::from_serialize(&counted.reply_intents),
                rules => Value::from_serialize(&rules),
            };
            shown(StatusCode::OK, result, String::new())
        }
        Err(e)
            if e.downcast_ref::<crate::store::audit::AuditError>()
                .is_some() =>
        {
            database_failure(&console, &headers, e)
        }
        // The user's words were wrong (a time, a rule name): said on the page,
        // with the form to fix them.
        Err(e) => {
            tracing::debug!(error = %format!("{e:#}"), "Console backtest refused");
            let problem = format!("{e:#}")
                .replace("--since", "since")
                .replace("--until", "until");
            shown(StatusCode::BAD_REQUEST, Value::UNDEFINED, problem)
        }
    }
}

/// The limit as typed: empty is the default; at most [`BACKTEST_MAX_LIMIT`].
fn limit_of(typed: &str) -> Result<u64, String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(BACKTEST_DEFAULT_LIMIT);
    }
    match typed.parse::<u64>() {
        Ok(n) if (1..=BACKTEST_MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!(
            "limit: expected a whole number from 1 to {BACKTEST_MAX_LIMIT} (the latest events of the window), got `{typed}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_limit_is_bounded() {
        assert_eq!(super::limit_of(""), Ok(super::BACKTEST_DEFAULT_LIMIT));
        assert_eq!(super::limit_of(" 50 "), Ok(50));
        assert!(super::limit_of("0").is_err());
        assert!(super::limit_of("100001").is_err());
        assert!(super::limit_of("-1").is_err());
    }
}
