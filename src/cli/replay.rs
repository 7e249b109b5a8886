//! `starling replay --since TIME [--until TIME] [--rule NAME] [--dry-run]`: stored
//! events through the current rules (`rules.dir`), writing what is new the way
//! live events do (`store::replay`): the rules that had not decided on an event
//! decide, their actions are created with their jobs, and the running server (or
//! the next `starling serve`) runs them. What already ran is not run again.
//! Unlike `rules backtest`, which only counts, a replay acts.

use crate::cli::audit::{self, Format};
use crate::cli::progress::Progress;
use crate::config::Settings;
use crate::rules::RuleSet;
use crate::store::Store;
use crate::store::outbox::OutboxMode;
use crate::store::replay::{self, Options, Replay, Window};
use serde_json::{Value, json};
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Re-run stored events through the current rules; only what is new is created.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example: starling replay --since 2026-11-01T00:00:00Z --rule dm-on-keyword --dry-run\n         starling replay --since 24h"
)]
pub struct ReplayArgs {
    /// Events received at or after this time: RFC 3339 (2026-11-01T00:00:00Z) or a
    /// duration ago (90m, 24h, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: String,
    /// Only events received before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this rule decides; the others do nothing.
    #[arg(long, value_name = "NAME")]
    pub rule: Option<String>,
    /// Write nothing: each page runs in a transaction that is rolled back, and the
    /// output says what would be new.
    #[arg(long)]
    pub dry_run: bool,
    /// `table` for people; `json` (one object) or `csv` (one row per rule) for programs.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Rules directory (default: rules.dir from the configuration).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `starling replay …` as the binary runs it: prints the report.
pub async fn main(settings: &Settings, args: &ReplayArgs) -> anyhow::Result<()> {
    print!("{}", run(settings, args).await?);
    Ok(())
}

/// Runs the replay `args` ask for; returns what to print.
pub async fn run(settings: &Settings, args: &ReplayArgs) -> anyhow::Result<String> {
    let now = OffsetDateTime::now_utc();
    let window = Window {
        since: parse_time("--since", &args.since, now)?,
        until: args
            .until
            .as_deref()
            .map(|t| parse_time("--until", t, now))
            .transpose()?,
    };
    if let Some(until) = window.until
        && until <= window.since
    {
        anyhow::bail!("--until must be later than --since");
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| settings.rules.dir.clone());
    let known = crate::rules::load::Known::of(settings);
    let rules = crate::rules::load::load_dir_with(&dir, &known).map_err(|errors| {
        anyhow::anyhow!("rule files in {} have errors:\n{errors}", dir.display())
    })?;
    if let Some(name) = &args.rule
        && rules.rule(name).is_none()
    {
        let names: Vec<&str> = rules.rules.iter().map(|r| r.name.as_str()).collect();
        anyhow::bail!(
            "--rule: no rule named `{name}` in {}; expected one of: {}",
            dir.display(),
            names.join(", ")
        );
    }
    let store = Store::connect(settings.database.url.expose(), 2).await?;
    store.migrate().await?;
    let mode = outbox_mode(settings, "replay");
    let options = Options {
        window,
        rule: args.rule.as_deref(),
        dry_run: args.dry_run,
        mode: &mode,
    };
    let replay = replay_all(&store, &rules, &options).await?;
    Ok(render(&replay, &window, args.dry_run, args.format))
}

/// How a command outside the server creates actions: no fast path (the server's
/// workers take the jobs), Scrapely actions skipped without a key, as `serve` does.
pub fn outbox_mode(settings: &Settings, what: &str) -> OutboxMode {
    let has_key = settings
        .scrapely
        .api_key
        .as_ref()
        .is_some_and(|k| !k.expose().is_empty());
    OutboxMode {
        fast_lease: None,
        worker: format!("{what}-{}", std::process::id()),
        budget: None,
        skip_scrapely: (!has_key && !settings.actions.dry_run)
            .then(|| "no scrapely.api_key configured".to_string()),
    }
}

async fn replay_all(
    store: &Store,
    rules: &RuleSet,
    options: &Options<'_>,
) -> anyhow::Result<Replay> {
    let total = replay::count(store, options.window).await?;
    let progress = Progress::new(total, "Replaying events");
    let mut replay = Replay::new(rules, options.rule);
    loop {
        let n = replay::next_page(store, rules, &mut replay, options)
            .await
            .map_err(|e| anyhow::anyhow!("replay stopped after event {}: {e}", replay.after_id))?;
        if n == 0 {
            break;
        }
        progress.add(n as u64);
    }
    progress.done();
    Ok(replay)
}

/// RFC 3339, or a duration ago (`humantime`: `90m`, `24h`, `7d`).
fn parse_time(flag: &str, text: &str, now: OffsetDateTime) -> anyhow::Result<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    match humantime::parse_duration(text) {
        Ok(ago) => Ok(now - ago),
        Err(_) => anyhow::bail!(
            "{flag}: `{text}` is not a time; expected RFC 3339 (2026-11-01T00:00:00Z) or a duration ago (90m, 24h, 7d)"
        ),
    }
}

const COLUMNS: [&str; 8] = [
    "rule",
    "matched",
    "already_decided",
    "fired",
    "held_by_cooldown",
    "errors",
    "actions_new",
    "actions_existing",
];

fn render(replay: &Replay, window: &Window, dry_run: bool, format: Format) -> String {
    let new: u64 = replay.rules.values().map(|t| t.actions_new).sum();
    let fmt = |t: &Option<OffsetDateTime>| t.map(crate::clock::format_utc);
    if format == Format::Json {
        let rules: Vec<Value> = replay
            .rules
            .iter()
            .map(|(name, t)| {
                let mut v = json!(t);
                v["rule"] = json!(name);
                v
            })
            .collect();
        let report = json!({
            "events": replay.events,
            "since": crate::clock::format_utc(window.since),
            "until": fmt(&window.until),
            "dry_run": dry_run,
            "actions_new": new,
            "rules": rules,
        });
        return serde_json::to_string_pretty(&report).expect("JSON") + "\n";
    }
    let rows = replay
        .rules
        .iter()
        .map(|(name, t)| {
            vec![
                json!(name),
                json!(t.matched),
                json!(t.already_decided),
                json!(t.fired),
                json!(t.held_by_cooldown),
                json!(t.errors),
                json!(t.actions_new),
                json!(t.actions_existing),
            ]
        })
        .collect();
    let table = crate::store::audit::Table {
        columns: COLUMNS.map(String::from).to_vec(),
        rows,
    };
    let out = audit::render(&table, format);
    if format == Format::Csv {
        return out;
    }
    let summary = match dry_run {
        true => format!(
            "Dry run: {} stored events replayed; {new} actions would be new; nothing was written.",
            replay.events
        ),
        false => format!(
            "{} stored events replayed; {new} new actions queued (the running server, or the next `starling serve`, runs them).",
            replay.events
        ),
    };
    format!("{out}{summary}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_duration_ago_and_anything_else_says_what_is_expected() {
        let now = OffsetDateTime::now_utc();
        let at = parse_time("--since", "2026-11-01T00:00:00Z", now).unwrap();
        assert_eq!(at, time::macros::datetime!(2026-11-01 00:00:00 UTC));
        assert_eq!(
            parse_time("--since", "24h", now).unwrap(),
            now - time::Duration::hours(24)
        );
        let err = parse_time("--until", "yesterday", now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--until") && err.contains("RFC 3339"), "{err}");
    }
}
