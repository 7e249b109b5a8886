//! Subcommands of the `starling` binary other than `serve`.

pub mod accounts;
pub mod args;
pub mod audit;
pub mod backtest;
pub mod contacts;
pub mod intent;
pub mod jobs;
pub mod report;
pub mod rules;
pub mod rules_batch;
pub mod streams;
