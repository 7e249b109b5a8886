//! Subcommands of the `starling` binary other than `serve`.

pub mod audit;
pub mod rules;
