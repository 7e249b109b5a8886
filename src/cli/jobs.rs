//! `starling jobs …`: look at actions and their attempts, re-run dead ones,
//! cancel waiting ones.
//!
//! Listing goes through the read-only audit connection (`store::audit::query`),
//! as the main role: the SQL is Starling's and the values a user passes are
//! quoted, so the reader-role check that guards users' own SQL is not needed
//! here. Changes go through the store, each one transaction that also pushes
//! the job it needs.

use super::audit::{Format, json_rows, render_csv, render_json, render_table};
use crate::store::Store;
use crate::store::actions as sql;
use crate::store::audit;
use crate::store::lifecycle::{self, Event};

pub use crate::store::status::ActionStatus as Status;

/// A millisecond column as readable UTC text, in the backend's SQL.
pub(crate) fn ts(url: &str, column: &str) -> String {
    if url.starts_with("sqlite:") {
        format!("strftime('%Y-%m-%dT%H:%M:%fZ', {column} / 1000.0, 'unixepoch')")
    } else {
        format!(
            "to_char(to_timestamp({column} / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        )
    }
}

pub(crate) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub(crate) fn render(table: &audit::Table, format: Format) -> String {
    match format {
        Format::Table => render_table(table),
        Format::Json => render_json(table),
        Format::Csv => render_csv(table),
    }
}

/// `starling jobs list [--status S] [--rule NAME] [--limit N]`.
pub async fn list(
    url: &str,
    status: Option<Status>,
    rule: Option<&str>,
    limit: u64,
    format: Format,
) -> anyhow::Result<String> {
    let mut filters = Vec::new();
    if let Some(status) = status {
        filters.push(format!("a.status = {}", quote(status.as_str())));
    }
    if let Some(rule) = rule {
        filters.push(format!("a.rule = {}", quote(rule)));
    }
    let filter = if filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filters.join(" AND "))
    };
    let query = format!(
        "SELECT a.id, a.status, a.kind, a.rule, a.event_id AS event, a.attempts, a.series, \
         {run_at} AS run_at, a.last_error FROM actions a {filter} ORDER BY a.id DESC LIMIT {limit}",
        run_at = ts(url, "a.run_at")
    );
    Ok(render(&audit::query(url, &query).await?, format))
}

/// `starling jobs show ID`: the action, then every attempt with its stored
/// request (redacted when it was recorded) and the response's excerpt. With
/// `--format json`, one document: `{"action", "attempts", "scheduled_tweet"}`.
pub async fn show(url: &str, id: i64, format: Format) -> anyhow::Result<String> {
    let action = format!(
        "SELECT a.id, a.status, a.kind, a.rule, e.kind AS event_kind, e.dedupe_key AS event, a.account, \
         a.attempts, a.max_attempts, a.series, {run_at} AS run_at, a.last_error, a.params \
         FROM actions a JOIN events e ON e.id = a.event_id WHERE a.id = {id}",
        run_at = ts(url, "a.run_at")
    );
    let action = audit::query(url, &action).await?;
    if action.rows.is_empty() {
        anyhow::bail!("no action with id {id}; `starling jobs list` shows them");
    }
    let attempts = audit::query(url, &attempts_sql(url, id)).await?;
    // A scheduled tweet's fate is a fact of its own, followed up after the action.
    let tweet = format!(
        "SELECT tweet_id, account_id, scheduled_at, status, error_message, posted_at, proved_by, \
         {checked} AS checked_at FROM scheduled_tweets WHERE action_id = {id}",
        checked = ts(url, "checked_at")
    );
    let tweet = audit::query(url, &tweet).await?;
    if format == Format::Json {
        let document = serde_json::json!({
            "action": json_rows(&action).pop(),
            "attempts": json_rows(&attempts),
            "scheduled_tweet": json_rows(&tweet).pop(),
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&document)?));
    }
    let mut shown = format!(
        "{}\nAttempts:\n{}",
        render(&action, format),
        render(&attempts, format)
    );
    if !tweet.rows.is_empty() {
        shown.push_str(&format!("\nScheduled tweet:\n{}", render(&tweet, format)));
    }
    Ok(shown)
}

/// Every attempt of action `id`, oldest first: what `jobs show` and the
/// console's action page list (requests as stored: redacted when recorded).
pub(crate) fn attempts_sql(url: &str, id: i64) -> String {
    format!(
        "SELECT t.series, t.attempt, {started} AS started_at, t.outcome, t.method, t.url, t.status_code, \
         t.latency_ms, t.error_class, t.error, t.retry_in_ms, t.request_id, t.worker, \
         t.request_body, t.response_excerpt \
         FROM action_attempts t WHERE t.action_id = {id} ORDER BY t.id",
        started = ts(url, "t.started_at")
    )
}

/// `starling jobs retry ID`: exactly one new attempt series. Refused for an
/// action that succeeded or is still queued.
pub async fn retry(store: &Store, id: i64) -> anyhow::Result<String> {
    let done = lifecycle::retry(store, Some(id), None).await?;
    if done.is_empty() {
        let why = match sql::get(store, id).await? {
            None => format!("no action with id {id}"),
            Some(a) if a.status == Status::Succeeded => {
                format!("action {id} already succeeded; it is not sent again")
            }
            Some(a) => format!(
                "action {id} is {}; only {} actions are retried",
                a.status,
                listed(&lifecycle::from(Event::Retry))
            ),
        };
        anyhow::bail!(why);
    }
    Ok(format!(
        "Action {id} queued again (a new attempt series).\n"
    ))
}

/// `starling jobs retry --dead [--rule NAME]`.
pub async fn retry_dead(store: &Store, rule: Option<&str>) -> anyhow::Result<String> {
    let ids = lifecycle::retry(store, None, rule).await?;
    Ok(format!("{} dead action(s) queued again.\n", ids.len()))
}

/// `starling jobs cancel ID`: an action not yet sent never will be.
pub async fn cancel(store: &Store, id: i64) -> anyhow::Result<String> {
    if !lifecycle::cancel(store, id, "cancelled by a person").await? {
        let why = match sql::get(store, id).await? {
            None => format!("no action with id {id}"),
            Some(a) => format!(
                "action {id} is {}; only {} actions can be cancelled",
                a.status,
                listed(&lifecycle::from(Event::Cancel))
            ),
        };
        anyhow::bail!(why);
    }
    Ok(format!("Action {id} cancelled.\n"))
}

/// `pending, failed or held`.
fn listed(statuses: &[Status]) -> String {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
