//! `starling prune [--dry-run] [--format table|json|csv]`: one retention pass
//! now (the one `starling serve` runs every `retention.interval_secs`), and
//! what went — or, with `--dry-run`, what would go — per table.

use super::audit::Format;
use crate::config::Settings;
use crate::store::Store;
use crate::store::retention::{Mode, Pruned};
use serde_json::json;

/// `starling prune`'s arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  starling prune --dry-run            what retention.events_days / attempts_days would delete now
  starling prune                      delete it (in batches of retention.batch_size)
  STARLING__RETENTION__EVENTS_DAYS=90 starling prune --dry-run --format json

Never pruned: an event with an action not done (pending, running, failed, held,
outcome_unknown) or a scheduled tweet not yet posted, the contact ledger and
do-not-contact marks. See README, \"Retention and backup\".")]
pub struct PruneArgs {
    /// Count what would be deleted, per table; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `table` for people; `json` (one object) or `csv` (one line per table) for programs.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Runs one pass against `settings`' database and renders the summary.
pub async fn run(settings: &Settings, args: &PruneArgs) -> anyhow::Result<String> {
    let retention = &settings.retention;
    let store = Store::connect(settings.database.url.expose(), 2).await?;
    // The contact ledger's migration (it outlives pruned actions) must be in.
    store.migrate().await?;
    let mode = match args.dry_run {
        true => Mode::DryRun,
        false => Mode::Delete,
    };
    let now = time::OffsetDateTime::now_utc();
    let progress = super::progress::spinner("Pruning");
    let pruned = crate::retention::prune_once(&store, retention, now, mode, &mut |so_far| {
        progress.set_message(format!(
            "Pruning: {} events, {} attempts, {} quarantined so far",
            so_far.events, so_far.action_attempts, so_far.quarantine
        ));
    })
    .await;
    progress.finish_and_clear();
    store.close().await;
    let pruned = pruned?;
    Ok(render(&pruned, settings, args))
}

fn render(pruned: &Pruned, settings: &Settings, args: &PruneArgs) -> String {
    let r = &settings.retention;
    let days = |d: Option<u32>| d.map_or(json!("forever"), |d| json!(d));
    match args.format {
        Format::Json => {
            let tables: serde_json::Map<String, serde_json::Value> = pruned
                .tables()
                .iter()
                .map(|(t, n)| (t.to_string(), json!(n)))
                .collect();
            let report = json!({
                "dry_run": args.dry_run,
                "events_days": days(r.events_days),
                "attempts_days": days(r.attempts_days),
                "tables": tables,
                "total": pruned.total(),
            });
            serde_json::to_string_pretty(&report).expect("JSON") + "\n"
        }
        Format::Csv | Format::Table => {
            let column = match args.dry_run {
                true => "would_delete",
                false => "deleted",
            };
            let table = crate::store::audit::Table {
                columns: vec!["table".into(), column.into()],
                rows: pruned
                    .tables()
                    .iter()
                    .map(|(t, n)| vec![json!(t), json!(n)])
                    .collect(),
            };
            let mut out = super::audit::render(&table, args.format);
            if args.format == Format::Table {
                out.push_str(&summary(pruned, settings, args.dry_run));
            }
            out
        }
    }
}

/// The closing line: what was kept for how long, and what happened.
fn summary(pruned: &Pruned, settings: &Settings, dry_run: bool) -> String {
    let r = &settings.retention;
    if !r.is_on() {
        return "Retention is off (retention.events_days and retention.attempts_days are 0): \
                nothing is pruned. Set e.g. retention.events_days = 90.\n"
            .into();
    }
    let kept = |d: Option<u32>| d.map_or("forever".to_string(), |d| format!("{d} days"));
    let done = match dry_run {
        true => "would be deleted (dry run: nothing was)",
        false => "deleted",
    };
    format!(
        "{} rows {done}; events kept {}, attempts of done actions kept {}.\n",
        pruned.total(),
        kept(r.events_days),
        kept(r.attempts_days),
    )
}
