//! Starling: a self-hosted automation worker for X/Twitter outreach.
//!
//! The pipeline, and where each stage lives:
//!
//! ```text
//!  sources ──► store ──► rules ──► queue ──► actions
//!  webhooks/   store/    rules/    queue/    actions/
//! ```
//!
//! - [`webhooks`] receives vendor webhooks over HTTP (axum), authenticates them
//!   (URL token, Standard Webhooks signatures) and turns them into [`event::NewEvent`]s.
//! - [`store`] owns the database (SQLite or PostgreSQL): migrations, the group-commit
//!   [`store::writer::Writer`] that makes every event durable before it is acknowledged,
//!   the quarantine of authentic-but-malformed payloads, and read-only audit queries.
//! - [`rules`] loads, checks and evaluates YAML rule files (in the writer's transaction).
//! - [`queue`] runs the apalis workers; every fired action is an `actions` row plus a job,
//!   both created with the event (an outbox).
//! - [`actions`] executes actions exactly once where it matters: attempts recorded before
//!   and after each call, retries as scheduled jobs, a rate-limit budget in SQL.
//! - [`contacts`] names a DM's receiver for the contact ledger (at most one DM per
//!   person per `outreach.contact_window`, never one to a person marked do-not-contact);
//!   its SQL is [`store::contacts`].
//! - [`intent`] classifies a reply's intent (interested, question, not now, …) locally:
//!   a cue grammar with negation, contrast and conditional scope plus a linear model
//!   compiled in; [`intent::eval`] scores it against a labelled corpus.
//! - [`http`] holds the operational endpoints (`/healthz`, `/readyz`) and the JSON error type.
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
pub mod contacts;
pub mod event;
pub mod http;
pub mod http_client;
pub mod intent;
pub mod queue;
pub mod rules;
pub mod secret;
pub mod store;
pub mod streams;
pub mod telemetry;
pub mod tweet;
pub mod webhooks;
