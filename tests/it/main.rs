//! Starling's integration tests: one binary, real servers on 127.0.0.1, real
//! SQLite files and real PostgreSQL databases (one per test).

mod helpers;

mod actions;
mod actions_process;
mod actions_trust;
mod audit;
mod audit_roles;
mod cli;
mod compose;
mod console;
mod console_lists;
mod contacts;
mod deployment;
mod event_intent;
mod finish_groups;
mod harness;
mod intent;
mod internal_events;
mod leases;
mod lifecycle;
mod metrics;
mod outage;
mod process;
mod quarantine_replay;
mod ratelimit;
mod replay;
mod retention;
mod retention_commands;
mod rule_groups;
mod rules;
mod rules_check;
mod rules_formats;
mod secrets;
mod secrets_cli;
mod server_limits;
mod startup;
mod statements;
mod store;
mod streams;
mod streams_once;
mod streams_process;
mod tweets;
mod webhooks;
