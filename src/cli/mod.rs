//! Subcommands of the `starling` binary other than `serve`.

pub mod accounts;
pub mod args;
pub mod audit;
pub mod backtest;
pub mod backup;
pub mod contacts;
pub mod intent;
pub mod jobs;
pub mod progress;
pub mod prune;
pub mod quarantine;
pub mod replay;
pub mod report;
pub mod rules;
pub mod rules_batch;
pub mod stored_event;
pub mod streams;
