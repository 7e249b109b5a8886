//! Starling: a self-hosted automation worker for X/Twitter outreach.
//!
//! The pipeline, and where each stage lives:
//!
//! ```text
//!  sources ──► store ──► rules ──► queue ──► actions
//!  sources/    store/    rules/    queue/    actions/
//!  webhooks/
//! ```
//!
//! - [`sources`] holds one folder per vendor, each with its payload normalizer and
//!   its transports (WebSocket, SSE, subscription WebSocket), and the supervision
//!   the streams share; every payload becomes an [`event::NewEvent`].
//! - [`webhooks`] is the thin HTTP adapter (axum): it authenticates vendor webhooks
//!   (URL token, Standard Webhooks signatures) and calls each vendor's normalizer.
//! - [`store`] owns the database (SQLite or PostgreSQL): migrations, the group-commit
//!   [`store::writer::Writer`] that makes every event durable before it is acknowledged,
//!   the quarantine of authentic-but-malformed payloads, and read-only audit queries.
//! - [`rules`] loads, checks and evaluates YAML rule files (in the writer's transaction).
//! - [`queue`] runs the apalis workers; every fired action is an `actions` row plus a job,
//!   both created with the event (an outbox).
//! - [`actions`] executes actions exactly once where it matters: attempts recorded before
//!   and after each call, retries as scheduled jobs, a rate-limit budget in SQL.
//!
//! Shared words live in leaves that import nothing above them: [`catalog`] (the
//! action kinds and their parameters), [`backoff`], [`http_client`] (the outbound
//! client and the `X-RateLimit-*` window), [`clock`], [`event`], [`tweet`],
//! [`secret`], and in the store, `store::jobs` (job pushing) and `store::status`.
//! `tests/architecture.rs` fails on any import cycle between the files of `src/`.
//!
//! - [`contacts`] names a DM's receiver for the contact ledger (at most one DM per
//!   person per `outreach.contact_window`, never one to a person marked do-not-contact);
//!   its SQL is [`store::contacts`].
//! - [`intent`] classifies a reply's intent (interested, question, not now, …) locally:
//!   a cue grammar with negation, contrast and conditional scope plus a linear model
//!   compiled in; [`intent::eval`] scores it against a labelled corpus.
//! - [`retention`] prunes old events and attempts in `starling serve` (the SQL is
//!   [`store::retention`]).
//! - [`telemetry`] sets up logging.
//! - [`http`] holds the operational endpoints (`/healthz`, `/readyz`) and the JSON error type.
//! - [`console`] is the web console at `/` (server-rendered pages: events, actions and
//!   their attempts, accounts; Retry / Cancel / Resume as the CLI does them).
//! - [`app`] wires everything into one server with one shutdown token.
//! - [`config`] loads layered settings (defaults → TOML file → `STARLING__…` environment).
//! - [`cli`] implements the subcommands of the `starling` binary other than `serve`.
//! - [`secret`] keeps credentials from printing, and credentials in rules out of the
//!   database: rules render `«secret:…»`/`«literal:…»` markers, which only the
//!   outbound request gets revealed.

pub mod actions;
pub mod app;
pub mod backoff;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod contacts;
pub mod event;
pub mod http;
pub mod http_client;
pub mod intent;
pub mod queue;
pub mod retention;
pub mod rules;
pub mod secret;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod tweet;
pub mod webhooks;
