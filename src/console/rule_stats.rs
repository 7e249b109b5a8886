//! What the rules page reads per loaded rule: matches and actions over the last
//! 24 h and 7 d, and its latest evaluation error. Three statements whatever the
//! number of rules, each an index range per rule bounded by time
//! (`rule_matches (rule, matched_at)`, `actions (rule, created_at)`, and the
//! partial index of error rows), so a million stored events cost no more than a
//! hundred.

use crate::cli::jobs::quote;
use crate::clock::format_utc;
use crate::store::Store;
use crate::store::audit;
use serde_json::Value;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// One rule's numbers.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RuleStats {
    pub matches_24h: i64,
    pub matches_7d: i64,
    pub actions_24h: i64,
    pub actions_7d: i64,
    /// The latest `rule_matches` row with `outcome = 'error'`: when, and what.
    pub last_error_at: Option<String>,
    pub last_error: Option<String>,
}

/// Rules per statement of the last-error union (keeps each statement short).
const CHUNK: usize = 200;

/// The numbers of each of `rules` (by name), as of `now`.
pub async fn stats(
    store: &Store,
    rules: &[&str],
    now: OffsetDateTime,
) -> anyhow::Result<HashMap<String, RuleStats>> {
    let mut stats: HashMap<String, RuleStats> = rules
        .iter()
        .map(|r| (r.to_string(), RuleStats::default()))
        .collect();
    if rules.is_empty() {
        return Ok(stats);
    }
    let names: Vec<String> = rules.iter().map(|r| quote(r)).collect();
    let names = names.join(", ");
    let (day, week) = (now - Duration::days(1), now - Duration::days(7));
    // matched_at: RFC 3339 text on SQLite (sorts as time), a timestamp on
    // PostgreSQL (the literal is cast).
    let matches = format!(
        "SELECT rule, count(*) AS week, sum(CASE WHEN matched_at >= '{day}' THEN 1 ELSE 0 END) AS day \
         FROM rule_matches WHERE rule IN ({names}) AND matched_at >= '{week}' GROUP BY rule",
        day = format_utc(day),
        week = format_utc(week),
    );
    // created_at: Unix milliseconds on both backends.
    let actions = format!(
        "SELECT rule, count(*) AS week, sum(CASE WHEN created_at >= {day} THEN 1 ELSE 0 END) AS day \
         FROM actions WHERE rule IN ({names}) AND created_at >= {week} GROUP BY rule",
        day = millis(day),
        week = millis(week),
    );
    let errors = async {
        let mut all = Vec::new();
        for chunk in rules.chunks(CHUNK) {
            all.extend(rows(store, &last_errors_sql(chunk)).await?);
        }
        anyhow::Ok(all)
    };
    // Side by side on the pool's connections: the page waits for the slowest, not the sum.
    let (matches, actions, errors) =
        futures::try_join!(counts(store, &matches), counts(store, &actions), errors)?;
    for (rule, day, week) in matches {
        if let Some(s) = stats.get_mut(&rule) {
            (s.matches_24h, s.matches_7d) = (day, week);
        }
    }
    for (rule, day, week) in actions {
        if let Some(s) = stats.get_mut(&rule) {
            (s.actions_24h, s.actions_7d) = (day, week);
        }
    }
    for row in errors {
        let Some(s) = row["rule"].as_str().and_then(|r| stats.get_mut(r)) else {
            continue;
        };
        s.last_error_at = row["matched_at"].as_str().map(String::from);
        s.last_error = row["error"].as_str().map(String::from);
    }
    Ok(stats)
}

/// The latest error row of each rule: one `LIMIT 1` seek per rule on the
/// partial index, unioned (each in a subquery, which both dialects accept).
fn last_errors_sql(rules: &[&str]) -> String {
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            format!(
                "SELECT * FROM (SELECT rule, matched_at, error FROM rule_matches \
                 WHERE rule = {} AND outcome = 'error' ORDER BY matched_at DESC LIMIT 1) AS e{i}",
                quote(rule)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

async fn rows(store: &Store, sql: &str) -> anyhow::Result<Vec<Value>> {
    Ok(crate::cli::audit::json_rows(
        &audit::query_store(store, sql).await?,
    ))
}

/// `(rule, day, week)` rows; counts as numbers (or numeric text, by driver).
async fn counts(store: &Store, sql: &str) -> anyhow::Result<Vec<(String, i64, i64)>> {
    let number = |v: &Value| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    };
    Ok(rows(store, sql)
        .await?
        .iter()
        .filter_map(|r| {
            let rule = r["rule"].as_str()?.to_string();
            Some((rule, number(&r["day"]), number(&r["week"])))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_rule_is_one_quoted_seek() {
        let sql = super::last_errors_sql(&["a", "it's"]);
        assert_eq!(sql.matches("LIMIT 1").count(), 2);
        assert!(sql.contains("rule = 'it''s'"), "{sql}");
    }
}
