//! The overview's four charts as data: the window a person picked
//! ([`Window`]), and each chart's buckets and series ([`Chart`]), built from one
//! read of the hourly rollup ([`crate::store::hourly::read`]). The SVG is drawn
//! from exactly this ([`super::plot`]), and `/charts/NAME.json` serves it, so
//! what a chart shows can be checked without reading pixels.

use crate::intent::IntentLabel;
use crate::store::Store;
use crate::store::hourly::{self, HOUR, Hours, Series};
use crate::store::status::AttemptOutcome;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// How far back the overview's charts look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    #[default]
    Day,
    Week,
    Month,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Day, Window::Week, Window::Month];

    pub const fn as_str(self) -> &'static str {
        match self {
            Window::Day => "24h",
            Window::Week => "7d",
            Window::Month => "30d",
        }
    }

    /// `None` when `text` names no window (the page says which exist).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == text)
    }

    /// The allowed values, for the page that refuses another.
    pub fn allowed() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|w| w.as_str()).collect();
        names.join(", ")
    }

    pub const fn hours(self) -> i64 {
        match self {
            Window::Day => 24,
            Window::Week => 7 * 24,
            Window::Month => hourly::KEEP_HOURS,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Window::Day => "the last 24 hours",
            Window::Week => "the last 7 days",
            Window::Month => "the last 30 days",
        }
    }
}

/// Which chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartName {
    Events,
    Actions,
    Latency,
    Intents,
}

impl ChartName {
    pub const ALL: [ChartName; 4] = [
        ChartName::Events,
        ChartName::Actions,
        ChartName::Latency,
        ChartName::Intents,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ChartName::Events => "events",
            ChartName::Actions => "actions",
            ChartName::Latency => "latency",
            ChartName::Intents => "intents",
        }
    }

    /// What an empty chart of this name says: what it counts is not there.
    pub const fn nothing(self) -> &'static str {
        match self {
            ChartName::Events => "no events in this window",
            ChartName::Actions => "no finished attempts in this window",
            ChartName::Latency => "no vendor calls in this window",
            ChartName::Intents => "no replies in this window",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// The events chart names this many kinds; the rest are summed as "other".
const KINDS_SHOWN: usize = 6;

/// One line (or one stack of bars) of a chart.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Line {
    pub name: String,
    /// One per bucket; `None` where there is nothing to show (latency without calls).
    pub values: Vec<Option<f64>>,
}

/// A chart's data: what it is drawn from, and what `/charts/NAME.json` answers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Chart {
    pub name: &'static str,
    pub title: &'static str,
    pub window: &'static str,
    /// `hour` or `day`: what one bucket is.
    pub unit: &'static str,
    /// Each bucket's start, RFC 3339 UTC.
    pub buckets: Vec<String>,
    pub series: Vec<Line>,
    /// What the chart counts in the window (events, attempts, calls, replies).
    pub total: i64,
    pub caption: String,
    /// Whether the series are stacked bars (else lines).
    pub stacked: bool,
}

impl Chart {
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// The four charts over `window` ending in the hour of `now`.
pub async fn read(
    store: &Store,
    cache: &hourly::Cache,
    window: Window,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<Chart>> {
    let from = hourly::hour_of(now) - (window.hours() - 1) * HOUR;
    let hours = hourly::read(store, cache, from, now).await?;
    Ok(ChartName::ALL
        .into_iter()
        .map(|name| build(name, &hours, window))
        .collect())
}

/// One chart over `window` ending in the hour of `now`.
pub async fn read_one(
    store: &Store,
    cache: &hourly::Cache,
    name: ChartName,
    window: Window,
    now: OffsetDateTime,
) -> anyhow::Result<Chart> {
    let from = hourly::hour_of(now) - (window.hours() - 1) * HOUR;
    Ok(build(
        name,
        &hourly::read(store, cache, from, now).await?,
        window,
    ))
}

/// One chart from the window's hours.
pub fn build(name: ChartName, hours: &Hours, window: Window) -> Chart {
    let starts: Vec<i64> = hours.by_hour.keys().copied().collect();
    match name {
        ChartName::Events => counted(
            name,
            "Events per hour, by kind",
            "events",
            top_kinds(by_key(hours, Series::Events)),
            &starts,
            window,
        ),
        ChartName::Actions => counted(
            name,
            "Action attempts per hour, by outcome",
            "attempts finished",
            ordered(
                by_key(hours, Series::Outcomes),
                AttemptOutcome::ALL.map(|o| o.as_str()),
            ),
            &starts,
            window,
        ),
        ChartName::Latency => latency(hours, &starts, window),
        ChartName::Intents => intents(hours, window),
    }
}

/// Each key of `series` with its count in every hour (0 when absent).
fn by_key(hours: &Hours, series: Series) -> BTreeMap<String, Vec<i64>> {
    let mut keys: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let n = hours.by_hour.len();
    for (i, counts) in hours.by_hour.values().enumerate() {
        for (key, count) in hourly::series_of(counts, series) {
            match keys.get_mut(key) {
                Some(values) => values[i] += count,
                None => {
                    let mut values = vec![0; n];
                    values[i] = count;
                    keys.insert(key.to_string(), values);
                }
            }
        }
    }
    keys
}

/// The busiest kinds by name, then the rest summed as "other".
fn top_kinds(keys: BTreeMap<String, Vec<i64>>) -> Vec<(String, Vec<i64>)> {
    let mut all: Vec<(String, Vec<i64>)> = keys.into_iter().collect();
    all.sort_by_key(|(name, values)| (std::cmp::Reverse(values.iter().sum::<i64>()), name.clone()));
    let rest = all.split_off(all.len().min(KINDS_SHOWN));
    if let Some(first) = rest.first() {
        let mut other = vec![0; first.1.len()];
        for (_, values) in &rest {
            for (o, v) in other.iter_mut().zip(values) {
                *o += v;
            }
        }
        all.push(("other kinds".to_string(), other));
    }
    all
}

/// `keys` in the order of `known`, then any key this build does not know.
fn ordered<const N: usize>(
    mut keys: BTreeMap<String, Vec<i64>>,
    known: [&str; N],
) -> Vec<(String, Vec<i64>)> {
    let mut out: Vec<(String, Vec<i64>)> =
        known.iter().filter_map(|k| keys.remove_entry(*k)).collect();
    out.extend(keys);
    out
}

fn stamp(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .map(crate::clock::format_utc)
        .unwrap_or_default()
}

fn counted(
    name: ChartName,
    title: &'static str,
    noun: &str,
    series: Vec<(String, Vec<i64>)>,
    starts: &[i64],
    window: Window,
) -> Chart {
    let total: i64 = series.iter().flat_map(|(_, v)| v).sum();
    Chart {
        name: name.as_str(),
        title,
        window: window.as_str(),
        unit: "hour",
        buckets: starts.iter().map(|s| stamp(*s)).collect(),
        series: count_lines(series),
        total,
        caption: format!("{title}, {}: {total} {noun}.", window.words()),
        stacked: false,
    }
}

/// Counted series as lines (a count is always there, zero or not).
fn count_lines(series: Vec<(String, Vec<i64>)>) -> Vec<Line> {
    series
        .into_iter()
        .map(|(name, values)| Line {
            name,
            values: values.into_iter().map(|v| Some(v as f64)).collect(),
        })
        .collect()
}

fn latency(hours: &Hours, starts: &[i64], window: Window) -> Chart {
    let calls: i64 = hours
        .by_hour
        .values()
        .flat_map(|c| hourly::series_of(c, Series::Latency).map(|(_, n)| n))
        .sum();
    let line = |name: &str, q: f64| Line {
        name: name.to_string(),
        values: hours
            .by_hour
            .values()
            .map(|c| super::quantile::quantile(q, hourly::series_of(c, Series::Latency)))
            .collect(),
    };
    let title = "Vendor call latency per hour, p50 and p99 (ms)";
    Chart {
        name: ChartName::Latency.as_str(),
        title,
        window: window.as_str(),
        unit: "hour",
        buckets: starts.iter().map(|s| stamp(*s)).collect(),
        series: vec![line("p50", 0.5), line("p99", 0.99)],
        total: calls,
        caption: format!(
            "{title}, {}: {calls} calls (estimated from histogram buckets).",
            window.words()
        ),
        stacked: false,
    }
}

/// Replies by intent per UTC day (the window's hours summed by day).
fn intents(hours: &Hours, window: Window) -> Chart {
    let mut days: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for (hour, counts) in &hours.by_hour {
        let day = days.entry(hour.div_euclid(86_400) * 86_400).or_default();
        for (intent, n) in hourly::series_of(counts, Series::Intents) {
            *day.entry(intent.to_string()).or_default() += n;
        }
    }
    let mut keys: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (i, per_intent) in days.values().enumerate() {
        for (intent, n) in per_intent {
            keys.entry(intent.clone())
                .or_insert_with(|| vec![0; days.len()])[i] += n;
        }
    }
    let series = ordered(keys, IntentLabel::ALL.map(|l| l.as_str()));
    let total: i64 = series.iter().flat_map(|(_, v)| v).sum();
    let title = "Reply intents per day";
    Chart {
        name: ChartName::Intents.as_str(),
        title,
        window: window.as_str(),
        unit: "day",
        buckets: days.keys().map(|d| stamp(*d)).collect(),
        series: count_lines(series),
        total,
        caption: format!("{title}, {}: {total} replies.", window.words()),
        stacked: true,
    }
}
