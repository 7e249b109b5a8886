//! The `starling` command line. Thin: parses [`starling::cli::args`], loads the
//! settings and calls the library for each subcommand.

use anyhow::Context;
use clap::Parser;
use starling::app::Application;
use starling::cli::accounts as cli_accounts;
use starling::cli::args::{
    AccountsCommand, Cli, Command, ContactsCommand, IntentCommand, JobsCommand, RulesCommand,
};
use starling::cli::audit;
use starling::cli::backtest;
use starling::cli::contacts;
use starling::cli::intent as cli_intent;
use starling::cli::jobs;
use starling::cli::rules as cli_rules;
use starling::config::Settings;
use starling::store::Store;

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
            let url = settings.database.url.expose();
            if !url.starts_with("sqlite:") {
                let wait = std::time::Duration::from_secs(settings.database.startup_wait_secs);
                starling::store::startup::wait_for_postgres(url, wait).await?;
            }
            let store = Store::connect(url, 2).await?;
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
        Command::Replay(args) => starling::cli::replay::main(&settings, &args).await,
        Command::Quarantine(command) => starling::cli::quarantine::main(&settings, &command).await,
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
            until,
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
                until: until.as_deref(),
                limit,
            };
            print!(
                "{}",
                backtest::run(
                    backtest::Reader::Url(settings.database.url.expose()),
                    &set,
                    options,
                    format
                )
                .await?
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
