//! `starling rules backtest`: what the rules would have done with the events
//! already stored, oldest first, cooldowns simulated in memory. Read-only: nothing
//! is stored, enqueued or sent. Disabled rules are included, so a rule can be
//! backtested before it is enabled.
//!
//! `--since` filters in the query and `--limit` then keeps the latest events of
//! those; the summary (and `left_out` in JSON) says how many older ones the
//! limit left out. A progress bar runs on a terminal (stderr).

pub use super::stored_event::Reader;
use super::stored_event::StoredEvent;
use crate::cli::audit::Format;
use crate::rules::RuleSet;
use crate::rules::testing::{Verdict, explain_as_enabled};
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
    /// Only events received before this RFC 3339 time.
    pub until: Option<&'a str>,
    pub limit: u64,
}

/// What a backtest counted: how many events it replayed, replies by intent, and
/// per rule what it would have done.
pub struct Backtest {
    pub events: u64,
    /// Events the window let through that `limit` left out (the oldest ones).
    pub left_out: u64,
    pub limit: u64,
    pub reply_intents: BTreeMap<String, u64>,
    pub rules: Vec<(String, RuleTotals)>,
}

pub async fn run(
    reader: Reader<'_>,
    set: &RuleSet,
    options: Options<'_>,
    format: Format,
) -> anyhow::Result<String> {
    let counted = count(reader, set, options).await?;
    Ok(render(&counted, format))
}

/// An RFC 3339 time of a window's edge, in the form the events table stores.
fn edge(flag: &str, value: Option<&str>) -> anyhow::Result<Option<String>> {
    value
        .map(|s| {
            OffsetDateTime::parse(s.trim(), &Rfc3339)
                // format_utc writes digits and `-:.TZ` only: safe in the statement;
                // the stored text (SQLite) sorts the same way, PostgreSQL casts it.
                .map(crate::clock::format_utc)
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{flag}: expected an RFC 3339 time such as 2026-11-01T00:00:00Z"
                    )
                })
        })
        .transpose()
}

/// The stored events a backtest replays, oldest first, and how many older ones
/// its limit left out.
pub struct Window {
    rows: Vec<Vec<Value>>,
    left_out: u64,
    limit: u64,
}

/// Replays the stored events of the window (at most `limit`, the latest) on the
/// rules: `rules backtest`'s counts. The console reads the [`window`] and
/// [`replay`]s it off the async runtime.
pub async fn count(
    reader: Reader<'_>,
    set: &RuleSet,
    options: Options<'_>,
) -> anyhow::Result<Backtest> {
    let window = window(reader, set, &options).await?;
    Ok(replay(set, options.rule, window, Bar::OnTerminal))
}

/// Reads the events of the window: the latest `limit` by arrival, oldest first.
pub async fn window(
    reader: Reader<'_>,
    set: &RuleSet,
    options: &Options<'_>,
) -> anyhow::Result<Window> {
    if let Some(name) = options.rule
        && set.rule(name).is_none()
    {
        anyhow::bail!("no rule named `{name}`");
    }
    let mut conditions = Vec::new();
    if let Some(since) = edge("--since", options.since)? {
        conditions.push(format!("received_at >= '{since}'"));
    }
    if let Some(until) = edge("--until", options.until)? {
        conditions.push(format!("received_at < '{until}'"));
    }
    // The window in the query, so `--limit` counts only events it lets through.
    let filter = match conditions.is_empty() {
        true => String::new(),
        false => format!(" WHERE {}", conditions.join(" AND ")),
    };
    // By arrival, along `events_received_at` (which ends in the id on both
    // backends' plans): `ORDER BY id` under a time window had SQLite walk every id
    // back from the newest, 230 ms for the last hour of a million events.
    let sql = format!(
        "SELECT {} FROM events{filter} ORDER BY received_at DESC, id DESC LIMIT {}",
        super::stored_event::COLUMNS,
        options.limit
    );
    let mut table = reader.query(&sql).await?;
    table.rows.reverse();
    let matching = reader
        .query(&format!("SELECT count(*) FROM events{filter}"))
        .await?
        .rows
        .first()
        .and_then(|row| row.first())
        .and_then(count_of)
        .unwrap_or(0);
    let left_out = matching.saturating_sub(table.rows.len() as u64);
    Ok(Window {
        rows: table.rows,
        left_out,
        limit: options.limit,
    })
}

/// Whether a replay draws a progress bar on a terminal: the CLI's does; the
/// console's, inside `starling serve`, never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bar {
    OnTerminal,
    Never,
}

/// Replays `window` on the rules of `set` (only `rule`, when named): CPU only,
/// about 4 µs per event with six rules (`cargo bench --bench console`).
pub fn replay(set: &RuleSet, rule: Option<&str>, window: Window, bar: Bar) -> Backtest {
    let Window {
        rows,
        left_out,
        limit,
    } = window;
    let mut totals: Vec<(String, RuleTotals)> = set
        .rules
        .iter()
        .filter(|r| rule.is_none_or(|n| n == r.name))
        .map(|r| (r.name.clone(), RuleTotals::default()))
        .collect();
    let mut cooldowns: HashMap<(String, String), OffsetDateTime> = HashMap::new();
    let mut considered = 0u64;
    // Replies by intent: the stored column, or the classifier for a reply stored before it.
    let mut intents: BTreeMap<String, u64> = BTreeMap::new();
    let progress = match bar {
        Bar::OnTerminal => crate::cli::progress::bar(rows.len() as u64, "Backtesting"),
        Bar::Never => indicatif::ProgressBar::hidden(),
    };
    for row in &rows {
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
    Backtest {
        events: considered,
        left_out,
        limit,
        reply_intents: intents,
        rules: totals,
    }
}

/// A count as the audit connection returns it (a number, or text on some drivers).
fn count_of(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

impl Backtest {
    /// How many events were replayed, and how many `--limit` left out.
    pub fn summary(&self) -> String {
        let mut line = format!("{} stored events replayed", self.events);
        if self.left_out > 0 {
            line.push_str(&format!(
                "; {} older events left out by --limit {} (raise it, or narrow with --since)",
                self.left_out, self.limit
            ));
        }
        line + "; nothing was stored or sent\n"
    }
}

fn render(seen: &Backtest, format: Format) -> String {
    let (intents, totals) = (&seen.reply_intents, &seen.rules);
    if format == Format::Json {
        let rules: Vec<Value> = totals
            .iter()
            .map(|(n, t)| json!({ "rule": n, "totals": t }))
            .collect();
        let report = json!({
            "events": seen.events,
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
