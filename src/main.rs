//! The `starling` command line. Thin: each subcommand loads settings and calls the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use starling::app::Application;
use starling::cli::accounts as cli_accounts;
use starling::cli::audit;
use starling::cli::backtest;
use starling::cli::contacts;
use starling::cli::intent as cli_intent;
use starling::cli::jobs;
use starling::cli::rules as cli_rules;
use starling::config::Settings;
use starling::store::Store;
use std::path::PathBuf;

/// Starling: X/Twitter outreach automation — vendor streams and webhooks in, rules and actions out.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (defaults apply without one; STARLING__SECTION__KEY variables override both).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: webhooks, rules, the action workers, health and readiness endpoints.
    Serve {
        /// Render and record every action, send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Apply database migrations (Starling's and the job queue's) and exit.
    Migrate,
    /// Run one read-only query (as `audit.database_url`'s role) and print rows as they come (latest events without SQL).
    Audit {
        /// One read query (SELECT, WITH, VALUES, EXPLAIN; on SQLite reading PRAGMAs); anything else is refused.
        sql: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: audit::Format,
    },
    /// Check and try rule files.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Look at actions and their attempts; re-run or cancel them.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Paused Scrapely accounts (their DMs and tweets are held).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// The contact ledger: who was DM'd when, and who must never be DM'd (do-not-contact).
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// A reply's intent (label, confidence, evidence), or `intent eval FILE.jsonl` to score the classifier.
    #[command(args_conflicts_with_subcommands = true)]
    Intent {
        #[command(subcommand)]
        command: Option<IntentCommand>,
        /// The text to classify.
        text: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: cli_intent::Format,
    },
    /// Delete now what is past its retention (retention.events_days, retention.attempts_days); --dry-run counts it.
    Prune(starling::cli::prune::PruneArgs),
    /// Copy the SQLite database to FILE, safely while `serve` runs (on PostgreSQL: says how to use pg_dump).
    Backup(starling::cli::backup::BackupArgs),
    /// Each stream's state: connected since, last message, messages, reconnects, last error.
    Streams {
        #[arg(long, value_enum, default_value = "table")]
        format: audit::Format,
    },
}

#[derive(Subcommand)]
enum IntentCommand {
    /// Per-label precision, recall and F1, macro-F1 and the confusion matrix of the
    /// classifier and, in the same run, of the old keyword rules and of VADER.
    Eval {
        /// JSON lines: {"text": …, "label": …} (e.g. tests/fixtures/replies/dev.jsonl).
        file: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: cli_intent::Format,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Actions, newest first.
    List {
        #[arg(long, value_enum)]
        status: Option<jobs::Status>,
        #[arg(long, value_name = "NAME")]
        rule: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long, value_enum, default_value = "table")]
        format: audit::Format,
    },
    /// One action and every attempt (status, latency, error).
    Show {
        id: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: audit::Format,
    },
    /// Start one new attempt series for a dead (or outcome_unknown, skipped, cancelled) action.
    Retry {
        /// The action's id (or use --dead).
        #[arg(required_unless_present = "dead")]
        id: Option<i64>,
        /// Every dead action (of --rule, if given).
        #[arg(long, conflicts_with = "id")]
        dead: bool,
        #[arg(long, value_name = "NAME", requires = "dead")]
        rule: Option<String>,
    },
    /// Cancel an action that has not been sent.
    Cancel { id: i64 },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Paused accounts and how many actions each holds.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: audit::Format,
    },
    /// Release a paused account's held DMs and tweets.
    Resume { handle: String },
}

/// A person is a handle (`prospect`, `@prospect`) or an X user id (`id:987654321`).
#[derive(Subcommand)]
enum ContactsCommand {
    /// People marked do-not-contact, and people inside their contact window.
    List {
        /// Only people marked do-not-contact.
        #[arg(long)]
        blocked: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: audit::Format,
    },
    /// One person: every DM in the ledger (when, rule, action) and their do-not-contact marks.
    Show {
        handle: String,
        #[arg(long, value_enum, default_value = "table")]
        format: audit::Format,
    },
    /// Mark a person do-not-contact: never DM'd again; their queued DMs are cancelled.
    Block {
        handle: String,
        /// Why (shown in `list`, `show` and on every DM skipped or cancelled).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a person's do-not-contact mark.
    Unblock { handle: String },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Load every rule file and report every problem with file:line:column; exit 1 on any.
    Check {
        /// Rules directory (default: rules.dir from the configuration).
        dir: Option<PathBuf>,
        /// `table` prints `file:line:column: message` lines; `json` and `csv` one record per problem.
        #[arg(long, value_enum, default_value = "table")]
        format: audit::Format,
    },
    /// Run the rules' `tests:` blocks, or show what each rule does with one sample event.
    Test {
        /// A sample event: a Scrapely webhook body, or {"kind": …, "data": …}.
        #[arg(long, value_name = "FILE")]
        event: Option<PathBuf>,
        /// Many sample events, one JSON object per line; prints one result per
        /// line (with `--format json`, JSON lines: what fired, what failed).
        #[arg(long, value_name = "FILE.jsonl", conflicts_with = "event")]
        events: Option<PathBuf>,
        /// Only this rule.
        #[arg(long, value_name = "NAME")]
        rule: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: audit::Format,
        /// Rules directory (default: rules.dir from the configuration).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Replay stored events through the rules (disabled ones too) and count what would fire.
    Backtest {
        /// Only this rule.
        #[arg(long, value_name = "NAME")]
        rule: Option<String>,
        /// Only events received at or after this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// At most this many of the latest events (of those --since lets through); the summary says how many it left out.
        #[arg(long, default_value_t = 10_000)]
        limit: u64,
        #[arg(long, value_enum, default_value = "table")]
        format: audit::Format,
        /// Rules directory (default: rules.dir from the configuration).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("cannot start the tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Pure computation: no configuration, no database.
    if let Command::Intent {
        command,
        text,
        format,
    } = &cli.command
    {
        let out = match (command, text) {
            (Some(IntentCommand::Eval { file, format }), _) => cli_intent::eval(file, *format)?,
            (None, Some(text)) => cli_intent::classify(text, *format),
            (None, None) => anyhow::bail!("give a text to classify, or `intent eval FILE.jsonl`"),
        };
        print!("{out}");
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    starling::telemetry::init(&settings.log);
    match cli.command {
        Command::Serve { dry_run } => {
            let mut settings = settings;
            settings.actions.dry_run |= dry_run;
            serve(settings).await
        }
        Command::Jobs(command) => {
            print!("{}", jobs_command(command, &settings).await?);
            Ok(())
        }
        Command::Accounts(command) => {
            let url = settings.database.url.expose();
            let out = match command {
                AccountsCommand::List { format } => cli_accounts::paused(url, format).await?,
                AccountsCommand::Resume { handle } => {
                    let store = Store::connect(url, 2).await?;
                    store.migrate().await?;
                    cli_accounts::resume(&store, &handle).await?
                }
            };
            print!("{out}");
            Ok(())
        }
        Command::Contacts(command) => {
            print!("{}", contacts_command(command, &settings).await?);
            Ok(())
        }
        Command::Streams { format } => {
            let out = starling::cli::streams::list(settings.database.url.expose(), format).await?;
            print!("{out}");
            Ok(())
        }
        Command::Prune(args) => {
            print!("{}", starling::cli::prune::run(&settings, &args).await?);
            Ok(())
        }
        Command::Backup(args) => {
            print!("{}", starling::cli::backup::run(&settings, &args).await?);
            Ok(())
        }
        Command::Migrate => {
            let store = Store::connect(settings.database.url.expose(), 2).await?;
            store.migrate().await?;
            store
                .grant_audit_reader(&settings.audit.reader_role)
                .await?;
            let classified = starling::store::event_intent::backfill(&store).await?;
            println!("Migrations applied.");
            if classified > 0 {
                println!("Classified the intent of {classified} stored replies.");
            }
            Ok(())
        }
        Command::Rules(command) => rules_command(command, settings).await,
        Command::Intent { .. } => unreachable!("handled before the settings load"),
        Command::Audit { sql, format } => {
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            audit::run(&settings, sql.as_deref(), format, out).await?;
            Ok(())
        }
    }
}

async fn jobs_command(command: JobsCommand, settings: &Settings) -> anyhow::Result<String> {
    let url = settings.database.url.expose();
    match command {
        JobsCommand::List {
            status,
            rule,
            limit,
            format,
        } => jobs::list(url, status, rule.as_deref(), limit, format).await,
        JobsCommand::Show { id, format } => jobs::show(url, id, format).await,
        JobsCommand::Retry { id, dead, rule } => {
            let store = Store::connect(url, 2).await?;
            store.migrate().await?;
            match (id, dead) {
                (Some(id), _) => jobs::retry(&store, id).await,
                (None, _) => jobs::retry_dead(&store, rule.as_deref()).await,
            }
        }
        JobsCommand::Cancel { id } => {
            let store = Store::connect(url, 2).await?;
            store.migrate().await?;
            jobs::cancel(&store, id).await
        }
    }
}

async fn contacts_command(command: ContactsCommand, settings: &Settings) -> anyhow::Result<String> {
    let url = settings.database.url.expose();
    let store = || async {
        let store = Store::connect(url, 2).await?;
        store.migrate().await?;
        anyhow::Ok(store)
    };
    match command {
        ContactsCommand::List { blocked, format } => {
            let window = settings.outreach.contact_window.millis();
            contacts::list(url, blocked, window, format).await
        }
        ContactsCommand::Show { handle, format } => contacts::show(url, &handle, format).await,
        ContactsCommand::Block { handle, reason } => {
            contacts::block(&store().await?, &handle, reason.as_deref()).await
        }
        ContactsCommand::Unblock { handle } => contacts::unblock(&store().await?, &handle).await,
    }
}

async fn rules_command(command: RulesCommand, settings: Settings) -> anyhow::Result<()> {
    // `{{ secrets.NAME }}` must name a secret this configuration has.
    let known = starling::rules::load::Known::of(&settings);
    let what = match command {
        RulesCommand::Check { .. } => "rules check",
        RulesCommand::Test { .. } => "rules test",
        RulesCommand::Backtest { .. } => "rules backtest",
    };
    let report = match command {
        RulesCommand::Check { dir, format } => {
            cli_rules::check(&dir.unwrap_or(settings.rules.dir), &known, format)
        }
        RulesCommand::Test {
            event,
            events,
            rule,
            format,
            dir,
        } => {
            let dir = dir.unwrap_or(settings.rules.dir);
            let samples = match (&event, &events) {
                (Some(one), _) => cli_rules::Samples::One(one),
                (None, Some(many)) => cli_rules::Samples::Many(many),
                (None, None) => cli_rules::Samples::Blocks,
            };
            cli_rules::test(&dir, &known, samples, rule.as_deref(), format)
        }
        RulesCommand::Backtest {
            rule,
            since,
            limit,
            format,
            dir,
        } => {
            let dir = dir.unwrap_or(settings.rules.dir);
            let set = starling::rules::load::load_dir_with(&dir, &known)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let options = backtest::Options {
                rule: rule.as_deref(),
                since: since.as_deref(),
                limit,
            };
            print!(
                "{}",
                backtest::run(settings.database.url.expose(), &set, options, format).await?
            );
            return Ok(());
        }
    };
    print!("{}", report.text);
    if report.ok {
        Ok(())
    } else {
        anyhow::bail!("{what} failed")
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    let addr = app.addr();
    tracing::info!(%addr, database = app.store().backend_name(), "Starling is listening");
    let path = if settings.webhooks.scrapely.token.is_some() {
        "/webhooks/scrapely/<webhooks.scrapely.token>"
    } else {
        "/webhooks/scrapely"
    };
    tracing::info!("Scrapely webhook URL: http://{addr}{path}");
    for (vendor, auth) in settings.webhooks.vendors().into_iter().skip(1) {
        if auth.token.is_some() {
            tracing::info!(
                "{vendor} webhook URL: http://{addr}/webhooks/{vendor}/<webhooks.{vendor}.token>"
            );
        }
    }
    for stream in settings.streams.iter().filter(|s| s.enabled) {
        tracing::info!(stream = %stream.name, kind = stream.kind.as_str(), "Stream configured");
    }
    app.run_until_stopped(shutdown_signal())
        .await
        .context("server failed")
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("cannot listen for SIGTERM");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("Shutdown requested: no new requests; committing what was accepted");
}
