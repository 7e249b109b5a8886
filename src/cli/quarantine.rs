//! `starling quarantine list | show ID | replay ID|--all`: the authentic bodies
//! Starling could not understand, and taking them in after a fix.
//!
//! A replay reads the kept body with the normalizer of the source and channel it
//! arrived on (`sources::reread`), as if it had just arrived (received now), and
//! commits it through the group-commit writer with the current rules, so its
//! rules fire once, its actions are queued for the server, and a body whose event
//! is stored already is only one more sighting. The row stays, marked with the
//! event it became; a body still refused keeps its row with today's reason.
//!
//! Only the body and its `Content-Type` are kept, never the request's other
//! headers (signatures, tokens). `show` prints the body byte for byte as text,
//! with any configured credential that appears in it masked all the same.

use crate::cli::audit::{self, Format};
use crate::cli::progress::Progress;
use crate::config::Settings;
use crate::secret::Secret;
use crate::store::Store;
use crate::store::quarantine::{self, Kept, Replayed, Which};
use crate::store::writer::{Outbox, Writer};
use base64::Engine;
use serde_json::{Value, json};

/// The quarantine: authentic payloads that could not be read, and their replay.
#[derive(Debug, clap::Subcommand)]
pub enum QuarantineCommand {
    /// Kept payloads, newest first: source, channel, deliveries, reason, replay state.
    #[command(after_help = "Example: starling quarantine list --unresolved --format json")]
    List {
        /// Only the payloads no replay has turned into an event yet.
        #[arg(long)]
        unresolved: bool,
        /// `table` for people; `json` or `csv` for programs.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One kept payload: source, channel, received_at, reason and the body as it arrived.
    #[command(after_help = "Example: starling quarantine show 12")]
    Show {
        /// The quarantine row's id (`quarantine list`, or the `#id` in a 4xx answer).
        id: i64,
        /// `table` prints fields then the body; `json` one object (`body` as text, or
        /// `body_base64` when it is not UTF-8).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Ingest kept payloads as if they had just arrived (after a fix or an upgrade).
    #[command(
        after_help = "Example: starling quarantine replay 12\n         starling quarantine replay --all"
    )]
    Replay {
        /// The quarantine row's id (or use --all).
        #[arg(required_unless_present = "all")]
        id: Option<i64>,
        /// Every payload no replay has turned into an event yet, oldest first.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// `table` for people; `json` or `csv` (one row per payload) for programs.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

/// What a quarantine command prints, and whether every payload it replayed is in.
pub struct Outcome {
    pub text: String,
    /// Payloads a replay still refused (the command then exits 1).
    pub refused: usize,
}

/// `starling quarantine …` as the binary runs it: prints the outcome; an error
/// (exit 1) when a replayed payload is still refused.
pub async fn main(settings: &Settings, command: &QuarantineCommand) -> anyhow::Result<()> {
    let outcome = run(settings, command).await?;
    print!("{}", outcome.text);
    match outcome.refused {
        0 => Ok(()),
        n => anyhow::bail!(
            "{n} quarantined payloads are still refused (the reason is in the output)"
        ),
    }
}

pub async fn run(settings: &Settings, command: &QuarantineCommand) -> anyhow::Result<Outcome> {
    let store = Store::connect(settings.database.url.expose(), 2).await?;
    store.migrate().await?;
    let text = match command {
        QuarantineCommand::List { unresolved, format } => {
            let which = if *unresolved {
                Which::Unresolved
            } else {
                Which::All
            };
            list(&quarantine::read(&store, which).await?, *format)
        }
        QuarantineCommand::Show { id, format } => {
            let kept = one(&store, *id).await?;
            show(&kept, &credentials(settings), *format)
        }
        QuarantineCommand::Replay { id, format, .. } => {
            let rows = match id {
                Some(id) => vec![one(&store, *id).await?],
                None => quarantine::read(&store, Which::Unresolved).await?,
            };
            return replay(settings, &store, rows, *format).await;
        }
    };
    Ok(Outcome { text, refused: 0 })
}

async fn one(store: &Store, id: i64) -> anyhow::Result<Kept> {
    quarantine::read(store, Which::One(id))
        .await?
        .pop()
        .ok_or_else(|| {
            anyhow::anyhow!("no quarantine row #{id}; `starling quarantine list` shows them")
        })
}

/// A row's replay state in words (`list`, `show`, the console's quarantine page).
pub fn state(kept: &Kept) -> String {
    state_of(
        kept.replayed_at.as_deref(),
        kept.event_id,
        kept.replay_tried_at.as_deref(),
    )
}

/// [`state`] from the row's three replay columns (a list read without bodies).
pub fn state_of(replayed_at: Option<&str>, event_id: Option<i64>, tried: Option<&str>) -> String {
    match (replayed_at, event_id, tried) {
        (Some(at), Some(event), _) => format!("replayed {at} as event {event}"),
        (Some(at), None, _) => format!("replayed {at}: no event in it"),
        (None, _, Some(at)) => format!("still refused at {at}"),
        (None, _, None) => "kept".into(),
    }
}

fn list(rows: &[Kept], format: Format) -> String {
    let columns = [
        "id",
        "source",
        "channel",
        "received_at",
        "sightings",
        "bytes",
        "reason",
        "state",
    ];
    let rows = rows
        .iter()
        .map(|k| {
            vec![
                json!(k.id),
                json!(k.source),
                json!(k.channel),
                json!(k.received_at),
                json!(k.sightings),
                json!(k.body.len()),
                json!(k.reason),
                json!(state(k)),
            ]
        })
        .collect();
    let table = crate::store::audit::Table {
        columns: columns.map(String::from).to_vec(),
        rows,
    };
    audit::render(&table, format)
}

/// Every credential the configuration holds: none may be printed, even if a
/// vendor echoed one into a body.
pub fn credentials(settings: &Settings) -> Vec<Secret> {
    let mut all: Vec<Secret> = settings.secrets.values().cloned().collect();
    for (_, auth) in settings.webhooks.vendors() {
        all.extend(auth.token.iter().chain(&auth.signing_secret).cloned());
    }
    all.extend(settings.scrapely.api_key.iter().cloned());
    all.extend(settings.slack.webhook_url.iter().cloned());
    all.extend(settings.streams.iter().filter_map(|s| s.api_key.clone()));
    // Longest first, so a secret that contains another is masked whole.
    all.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
    all
}

/// The body as text with every credential masked, `None` when it is not UTF-8.
pub fn masked_body(kept: &Kept, credentials: &[Secret]) -> Option<String> {
    std::str::from_utf8(&kept.body)
        .ok()
        .map(|t| crate::secret::marker::mask_literals(t, credentials))
}

fn show(kept: &Kept, credentials: &[Secret], format: Format) -> String {
    let text = masked_body(kept, credentials);
    let mut fields = json!(kept);
    fields["state"] = json!(state(kept));
    match &text {
        Some(body) => fields["body"] = json!(body),
        None => {
            fields["body_base64"] =
                json!(base64::engine::general_purpose::STANDARD.encode(&kept.body))
        }
    }
    if format != Format::Table {
        let table = crate::store::audit::Table {
            columns: fields_of(&fields).iter().map(|(k, _)| k.clone()).collect(),
            rows: vec![fields_of(&fields).into_iter().map(|(_, v)| v).collect()],
        };
        return match format {
            Format::Json => serde_json::to_string_pretty(&fields).expect("JSON") + "\n",
            _ => audit::render(&table, format),
        };
    }
    let mut out = String::new();
    for (key, value) in fields_of(&fields) {
        if key == "body" || key == "body_base64" {
            continue;
        }
        let value = match value {
            Value::String(s) => s,
            Value::Null => "-".into(),
            other => other.to_string(),
        };
        out.push_str(&format!("{key:<16}{value}\n"));
    }
    match text {
        Some(body) => out.push_str(&format!("body ({} bytes):\n{body}\n", kept.body.len())),
        None => out.push_str(&format!(
            "body ({} bytes, not UTF-8; base64):\n{}\n",
            kept.body.len(),
            fields["body_base64"].as_str().unwrap_or_default()
        )),
    }
    out
}

fn fields_of(fields: &Value) -> Vec<(String, Value)> {
    fields
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Ingests `rows` through a writer of this process with the current rules.
async fn replay(
    settings: &Settings,
    store: &Store,
    rows: Vec<Kept>,
    format: Format,
) -> anyhow::Result<Outcome> {
    let rules = crate::rules::reload::RulesHandle::load(
        &settings.rules.dir,
        crate::rules::load::Known::of(settings),
    )
    .map_err(|errors| {
        anyhow::anyhow!(
            "rule files in {} have errors:\n{errors}",
            settings.rules.dir.display()
        )
    })?;
    let outbox = Outbox {
        mode: super::replay::outbox_mode(settings, "quarantine-replay"),
        ..Outbox::default()
    };
    let (writer, _task) = Writer::spawn(
        store.clone(),
        settings.database.group_commit_max,
        rules,
        outbox,
    );
    let progress = Progress::new(rows.len() as u64, "Replaying quarantined payloads");
    let mut results = Vec::with_capacity(rows.len());
    for kept in &rows {
        results.push((kept, replay_one(&writer, store, kept).await?));
        progress.add(1);
    }
    progress.done();
    let refused = results
        .iter()
        .filter(|(_, r)| matches!(r, Replay::Done(Replayed::Refused(_))))
        .count();
    Ok(Outcome {
        text: render_replays(&results, refused, format),
        refused,
    })
}

/// What replaying one row did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    Done(Replayed),
    /// The event was stored already (a vendor's retry got through, say): a sighting.
    Sighting(i64),
    /// An earlier replay resolved it; nothing was done.
    Already,
}

impl Replay {
    /// The outcome's name, the event it concerns and the reason it was refused.
    pub fn outcome(&self, kept: &Kept) -> (&'static str, Option<i64>, Option<String>) {
        match self {
            Replay::Done(Replayed::Event(id)) => ("event_created", Some(*id), None),
            Replay::Sighting(id) => ("sighting_of_stored_event", Some(*id), None),
            Replay::Done(Replayed::NoEvent) => ("no_event", None, None),
            Replay::Done(Replayed::Refused(why)) => ("still_refused", None, Some(why.clone())),
            Replay::Already => ("already_replayed", kept.event_id, None),
        }
    }
}

/// Replays one row through `writer` (this command's, or the server's when the
/// console's "Ingest again" is pressed) and records what it found. A row a
/// replay resolved before is left as it is; a body whose event is stored already
/// (two presses racing) is a sighting of it: the event is stored once.
pub async fn replay_one(writer: &Writer, store: &Store, kept: &Kept) -> anyhow::Result<Replay> {
    if kept.replayed_at.is_some() {
        return Ok(Replay::Already);
    }
    let now = time::OffsetDateTime::now_utc();
    let (outcome, reply) =
        match crate::sources::reread::reread(&kept.source, &kept.channel, &kept.body, now) {
            Ok(Some(event)) => {
                let done = writer.commit_event(event).await.map_err(|e| {
                    anyhow::anyhow!("could not store quarantine row #{}: {e}", kept.id)
                })?;
                let reply = match done.created {
                    true => Replay::Done(Replayed::Event(done.event_id)),
                    false => Replay::Sighting(done.event_id),
                };
                (Replayed::Event(done.event_id), reply)
            }
            Ok(None) => (Replayed::NoEvent, Replay::Done(Replayed::NoEvent)),
            Err(rejection) => {
                let (crate::sources::Rejection::NotJson(why)
                | crate::sources::Rejection::Malformed(why)) = rejection;
                let refused = Replayed::Refused(why);
                (refused.clone(), Replay::Done(refused))
            }
        };
    quarantine::record_replay(store, kept.id, &outcome, now).await?;
    Ok(reply)
}

fn render_replays(results: &[(&Kept, Replay)], refused: usize, format: Format) -> String {
    let rows: Vec<Vec<Value>> = results
        .iter()
        .map(|(kept, replay)| {
            let (outcome, event, reason) = replay.outcome(kept);
            vec![
                json!(kept.id),
                json!(kept.source),
                json!(kept.channel),
                json!(outcome),
                json!(event),
                json!(reason),
            ]
        })
        .collect();
    let already = results
        .iter()
        .filter(|(_, r)| matches!(r, Replay::Already))
        .count();
    let taken = rows.len() - refused - already;
    let table = crate::store::audit::Table {
        columns: ["id", "source", "channel", "outcome", "event_id", "reason"]
            .map(String::from)
            .to_vec(),
        rows,
    };
    let out = audit::render(&table, format);
    if format != Format::Table {
        return out;
    }
    format!(
        "{out}{taken} taken in, {refused} still refused, {already} replayed before (left as they are).\n"
    )
}
