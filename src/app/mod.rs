//! The server: binds the listener, opens and migrates the store, starts the
//! group-commit writer and serves HTTP until told to stop.
//!
//! `Application::build` binds before anything is spawned (port 0 works, and
//! [`Application::addr`] tells the real port), so a caller can start talking to it
//! as soon as `build` returns. The routes are assembled in `router.rs`; what runs
//! beside them, and the order it stops in, is `run.rs`.

mod router;
mod run;

use crate::actions::executor::Executor;
use crate::clock::Clock;
use crate::config::Settings;
use crate::http::health;
use crate::queue::{Wake, WorkerOptions};
use crate::rules::reload::RulesHandle;
use crate::store::Store;
use crate::store::actions::{FastClaim, OutboxMode};
use crate::store::writer::{Outbox, Writer};
use crate::webhooks::WebhookState;
use anyhow::Context;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    rules: RulesHandle,
    writer_task: JoinHandle<()>,
    /// PostgreSQL's writer of finishes (SQLite's are the event writer's).
    finisher: Option<(Writer, JoinHandle<()>)>,
    grace: Duration,
    limits: crate::http::serve::Limits,
    executor: Arc<Executor>,
    wake: Wake,
    claimed: tokio::sync::mpsc::UnboundedReceiver<FastClaim>,
    workers: WorkerOptions,
    account_check: Duration,
    tweet_check: Duration,
    /// Started by `run_until_stopped`: the streams and what they need.
    streams: Option<StreamsToRun>,
    /// `[retention]`, with the clock its cutoffs are counted from.
    retention: (crate::config::RetentionSettings, Clock),
    /// Whether the console's hourly rollup runs (`console.enabled`).
    rollup: bool,
}

struct StreamsToRun {
    settings: Settings,
    streams: crate::sources::Streams,
    writer: Writer,
    owner: String,
}

impl Application {
    /// Builds the server from settings, on the system clock, binding `server.listen`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Clock::System, None).await
    }

    /// Like [`Application::build`], with an injected clock and optionally a listener
    /// the caller bound already (tests bind `127.0.0.1:0`).
    pub async fn build_with(
        settings: Settings,
        clock: Clock,
        listener: Option<TcpListener>,
    ) -> anyhow::Result<Self> {
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(settings.server.listen)
                .await
                .with_context(|| format!("cannot listen on {}", settings.server.listen))?,
        };
        let addr = listener.local_addr()?;
        crate::http::exposure::check_listener(&settings, addr)?;

        crate::http::metrics::register(&settings);
        ensure_rules_dir(&settings.rules.dir)?;
        let rules = RulesHandle::load(
            &settings.rules.dir,
            crate::rules::load::Known::of(&settings),
        )
        .map_err(|errors| {
            anyhow::anyhow!(
                "rule files in {} have errors:\n{errors}",
                settings.rules.dir.display()
            )
        })?;
        if !settings.database.url.expose().starts_with("sqlite:") {
            crate::store::startup::wait_for_postgres(
                settings.database.url.expose(),
                std::time::Duration::from_secs(settings.database.startup_wait_secs),
            )
            .await?;
        }
        let store = Store::connect(
            settings.database.url.expose(),
            settings.database.max_connections,
        )
        .await?;
        store.migrate().await?;
        if let Err(error) = store.grant_audit_reader(&settings.audit.reader_role).await {
            // Audit is not on the serving path: say so and serve.
            tracing::warn!(%error, reader = %settings.audit.reader_role, "Could not grant the audit reader role SELECT on Starling's tables");
        }
        let worker_name = format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "starling".into()),
            std::process::id()
        );
        let vault = crate::secret::marker::Vault::new(
            settings.secrets.clone(),
            Some(Arc::new(rules.clone())),
        );
        let executor = Arc::new(Executor::new(
            &settings,
            store.clone(),
            worker_name.clone(),
            vault,
        )?);
        let wake = Wake::default();
        let (fast, claimed) = tokio::sync::mpsc::unbounded_channel();
        let outbox = Outbox {
            wake: wake.clone(),
            mode: OutboxMode {
                fast_lease: Some(executor.lease()),
                worker: worker_name.clone(),
                budget: executor.budget(),
                skip_scrapely: (executor.budget().is_none() && !settings.actions.dry_run)
                    .then(|| "no scrapely.api_key configured".to_string()),
            },
            fast: Some(fast),
        };
        let finisher_mode = OutboxMode {
            fast_lease: None,
            ..outbox.mode.clone()
        };
        let (writer, writer_task) = Writer::spawn(
            store.clone(),
            settings.database.group_commit_max,
            rules.clone(),
            outbox,
        );
        // Finishes are group-committed, the plain ones in a few statements
        // (`store::finishes`): on SQLite with ingestion (one writer at a time, one
        // fsync for both), on PostgreSQL by a writer of their own, so outcomes and
        // new events commit side by side and neither lengthens the other's groups.
        let finisher = matches!(store, Store::Postgres(_)).then(|| {
            // The internal events a finish raises fire actions as ingestion's do
            // (Scrapely ones skipped without a key), queued as jobs: this writer
            // claims nothing for a fast path.
            let outbox = Outbox {
                wake: wake.clone(),
                mode: finisher_mode,
                fast: None,
            };
            Writer::spawn(
                store.clone(),
                settings.database.group_commit_max,
                rules.clone(),
                outbox,
            )
        });
        executor.use_writer(finisher.as_ref().map_or(&writer, |(w, _)| w));
        if settings.actions.dry_run {
            tracing::warn!("Dry run: actions are rendered and recorded, nothing is sent");
        }
        let workers = WorkerOptions {
            name_prefix: worker_name,
            workers: settings.actions.workers,
            concurrency: settings.actions.concurrency,
            poll_interval: Duration::from_millis(settings.actions.poll_interval_ms),
            heartbeat: Duration::from_secs(settings.actions.heartbeat_secs.max(1)),
            shutdown_grace: Duration::from_secs(settings.server.shutdown_grace_secs),
        };
        let webhook_state = WebhookState::new(&settings, writer.clone(), clock, addr)?;
        let database = writer.availability().clone();
        let streams = crate::sources::Streams::new(&settings);
        let console_writer = writer.downgrade();
        let streams_to_run = StreamsToRun {
            streams: streams.clone(),
            writer,
            owner: workers.name_prefix.clone(),
            settings: settings.clone(),
        };

        let router = router::assemble(router::Parts {
            settings: &settings,
            addr,
            clock,
            ready: health::Ready {
                database,
                store: store.clone(),
                rules: rules.clone(),
                streams,
            },
            webhooks: webhook_state,
            console_writer,
        });

        Ok(Self {
            listener,
            router,
            store,
            rules,
            writer_task,
            finisher,
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
            limits: crate::http::serve::Limits {
                header_timeout: Duration::from_secs_f64(settings.server.header_timeout_secs),
                max_connections: settings.server.max_connections,
            },
            executor,
            wake,
            claimed,
            workers,
            account_check: Duration::from_secs(settings.scrapely.account_check_secs.max(1)),
            tweet_check: Duration::from_secs(settings.scrapely.tweet_check_secs.max(1)),
            streams: Some(streams_to_run),
            retention: (settings.retention.clone(), clock),
            rollup: settings.console.enabled,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// `rules.dir` must exist: a mistyped directory would otherwise start a server
/// that fires nothing. Only the default, `rules` beside where Starling starts, is
/// created (empty) on a first start.
fn ensure_rules_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        anyhow::bail!(
            "configuration key `rules.dir`: expected a directory of rule files, got `{}` (a file)",
            dir.display()
        );
    }
    if dir != std::path::Path::new(crate::config::DEFAULT_RULES_DIR) {
        anyhow::bail!(
            "configuration key `rules.dir`: expected a directory of rule files, got `{}`, which does not exist",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the rules directory {}", dir.display()))?;
    tracing::info!(
        dir = %dir.display(),
        "Created the rules directory (empty: no rule fires until you add a rule file; see rules/ in the repository for examples)"
    );
    Ok(())
}
