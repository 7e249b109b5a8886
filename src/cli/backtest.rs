//! `starling rules backtest`: what the rules would have done with the events
//! already stored, oldest first, cooldowns simulated in memory. Read-only: nothing
//! is stored, enqueued or sent. Disabled rules are included, so a rule can be
//! backtested before it is enabled.
//!
//! `--since` filters in the query and `--limit` then keeps the latest events of
//! those; the summary (and `left_out` in JSON) says how many older ones the
//! limit left out. A progress bar runs on a terminal (stderr).

use crate::cli::audit::Format;
use crate::rules::testing::{Verdict, explain_as_enabled};
use crate::rules::{EventContext, EventMeta, RuleSet};
use crate::store::audit;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Per-rule totals of a backtest.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RuleTotals {
    pub would_fire: u64,
    pub held_by_cooldown: u64,
    pub errors: u64,
    /// Up to five (event id, first rendered action) examples.
    pub examples: Vec<Value>,
}

pub struct Options<'a> {
    pub rule: Option<&'a str>,
    /// Only events received at or after this RFC 3339 time.
    pub since: Option<&'a str>,
    pub limit: u64,
}

pub async fn run(
    database_url: &str,
    set: &RuleSet,
    options: Options<'_>,
    format: Format,
) -> anyhow::Result<String> {
    if let Some(name) = options.rule
        && set.rule(name).is_none()
    {
        anyhow::bail!("no rule named `{name}`");
    }
    let since = match options.since {
        Some(s) => Some(OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
            anyhow::anyhow!("--since: expected an RFC 3339 time such as 2026-11-01T00:00:00Z")
        })?),
        None => None,
    };
    // Through the read-only audit connection: a backtest cannot write by construction.
    // `--since` in the query, so `--limit` counts only events it lets through.
    let filter = match since {
        // format_utc writes digits and `-:.TZ` only: safe in the statement; the
        // stored text (SQLite) sorts the same way, PostgreSQL casts it.
        Some(s) => format!(" WHERE received_at >= '{}'", crate::clock::format_utc(s)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT id, source, kind, received_at, channels, payload, dedupe_key, intent FROM events{filter} ORDER BY id DESC LIMIT {}",
        options.limit
    );
    let mut table = audit::query(database_url, &sql).await?;
    table.rows.reverse();
    let matching = audit::query(
        database_url,
        &format!("SELECT count(*) FROM events{filter}"),
    )
    .await?
    .rows
    .first()
    .and_then(|row| row.first())
    .and_then(count_of)
    .unwrap_or(0);
    let left_out = matching.saturating_sub(table.rows.len() as u64);
    let mut totals: Vec<(String, RuleTotals)> = set
        .rules
        .iter()
        .filter(|r| options.rule.is_none_or(|n| n == r.name))
        .map(|r| (r.name.clone(), RuleTotals::default()))
        .collect();
    let mut cooldowns: HashMap<(String, String), OffsetDateTime> = HashMap::new();
    let mut considered = 0u64;
    // Replies by intent: the stored column, or the classifier for a reply stored before it.
    let mut intents: BTreeMap<String, u64> = BTreeMap::new();
    let progress = crate::cli::progress::bar(table.rows.len() as u64, "Backtesting");
    for row in &table.rows {
        progress.inc(1);
        let Some(event) = StoredEvent::from_row(row) else {
            continue;
        };
        considered += 1;
        let ctx = event.context();
        let label = event
            .intent
            .clone()
            .or_else(|| ctx.intent.as_ref().map(|i| i.label.to_string()));
        if let (Some(label), "scrapely.new_reply") = (label, event.kind.as_str()) {
            *intents.entry(label).or_default() += 1;
        }
        for (name, t) in totals.iter_mut() {
            let rule = set.rule(name).expect("named above");
            match explain_as_enabled(set, rule, &ctx) {
                Verdict::NotMatched(_) => {}
                Verdict::Error(_) => t.errors += 1,
                Verdict::Matched {
                    actions,
                    cooldown_key,
                } => {
                    if let (Some(c), Some(key)) = (&rule.cooldown, cooldown_key) {
                        let slot = cooldowns
                            .entry((name.clone(), key))
                            .or_insert(OffsetDateTime::UNIX_EPOCH);
                        if *slot > event.received_at {
                            t.held_by_cooldown += 1;
                            continue;
                        }
                        *slot = event.received_at + c.window;
                    }
                    t.would_fire += 1;
                    if t.examples.len() < 5 {
                        t.examples.push(json!({
                            "event_id": event.id,
                            "intent": ctx.intent.as_ref().map(|i| i.label),
                            "action": actions.first(),
                        }));
                    }
                }
            }
        }
    }
    progress.finish_and_clear();
    let seen = Seen {
        considered,
        left_out,
        limit: options.limit,
    };
    Ok(render(&seen, &intents, &totals, format))
}

/// A count as the audit connection returns it (a number, or text on some drivers).
fn count_of(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// How many events a backtest replayed, and how many `--limit` left out.
struct Seen {
    considered: u64,
    /// Events `--since` let through that `--limit` left out (the oldest ones).
    left_out: u64,
    limit: u64,
}

impl Seen {
    fn summary(&self) -> String {
        let mut line = format!("{} stored events replayed", self.considered);
        if self.left_out > 0 {
            line.push_str(&format!(
                "; {} older events left out by --limit {} (raise it, or narrow with --since)",
                self.left_out, self.limit
            ));
        }
        line + "; nothing was stored or sent\n"
    }
}

fn render(
    seen: &Seen,
    intents: &BTreeMap<String, u64>,
    totals: &[(String, RuleTotals)],
    format: Format,
) -> String {
    if format == Format::Json {
        let rules: Vec<Value> = totals
            .iter()
            .map(|(n, t)| json!({ "rule": n, "totals": t }))
            .collect();
        let report = json!({
            "events": seen.considered,
            "left_out": seen.left_out,
            "limit": seen.limit,
            "reply_intents": intents,
            "rules": rules,
        });
        return serde_json::to_string_pretty(&report).expect("JSON") + "\n";
    }
    if format == Format::Csv {
        let columns = [
            "rule",
            "would_fire",
            "held_by_cooldown",
            "errors",
            "first_example",
        ];
        let rows = totals
            .iter()
            .map(|(name, t)| {
                let example = t.examples.first().map(Value::to_string);
                vec![
                    json!(name),
                    json!(t.would_fire),
                    json!(t.held_by_cooldown),
                    json!(t.errors),
                    json!(example),
                ]
            })
            .collect();
        let table = audit::Table {
            columns: columns.map(String::from).to_vec(),
            rows,
        };
        return crate::cli::audit::render(&table, Format::Csv);
    }
    let mut table = crate::cli::audit::terminal_table();
    table.set_header([
        "rule",
        "would fire",
        "held by cooldown",
        "errors",
        "first example",
    ]);
    for (name, t) in totals {
        let example = t.examples.first().map(Value::to_string).unwrap_or_default();
        table.add_row([
            name.clone(),
            t.would_fire.to_string(),
            t.held_by_cooldown.to_string(),
            t.errors.to_string(),
            example,
        ]);
    }
    let intents = match intents.is_empty() {
        true => String::new(),
        false => {
            let counts: Vec<String> = intents.iter().map(|(l, n)| format!("{l} {n}")).collect();
            format!("replies by intent: {}\n", counts.join(", "))
        }
    };
    format!("{table}\n{intents}{}", seen.summary())
}

struct StoredEvent {
    id: i64,
    dedupe_key: String,
    source: String,
    kind: String,
    received_at: OffsetDateTime,
    received_text: String,
    channels: Vec<String>,
    payload: Value,
    /// The stored intent label (replies only; NULL before they were classified).
    intent: Option<String>,
}

impl StoredEvent {
    /// From an audit row (id, source, kind, received_at, channels, payload, dedupe_key) on either backend.
    fn from_row(row: &[Value]) -> Option<Self> {
        let json_of = |v: &Value| match v {
            Value::String(s) => serde_json::from_str(s).ok(),
            other => Some(other.clone()),
        };
        let received_text = row.get(3)?.as_str()?.to_string();
        Some(Self {
            id: row.first()?.as_i64()?,
            dedupe_key: row.get(6)?.as_str()?.to_string(),
            source: row.get(1)?.as_str()?.to_string(),
            kind: row.get(2)?.as_str()?.to_string(),
            received_at: OffsetDateTime::parse(&received_text, &Rfc3339).ok()?,
            received_text,
            channels: json_of(row.get(4)?)
                .and_then(|v: Value| serde_json::from_value(v).ok())
                .unwrap_or_default(),
            payload: json_of(row.get(5)?)?,
            intent: row.get(7).and_then(Value::as_str).map(String::from),
        })
    }

    fn context(&self) -> EventContext {
        let channels: Vec<&str> = self.channels.iter().map(String::as_str).collect();
        let data = crate::event::rule_data(&self.source, &self.payload);
        let meta = EventMeta {
            id: Some(self.id),
            source: &self.source,
            kind: &self.kind,
            dedupe_key: &self.dedupe_key,
            received_at: &self.received_text,
            channels: &channels,
        };
        EventContext::new(meta, data)
    }
}
