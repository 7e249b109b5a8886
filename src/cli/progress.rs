//! Progress for long commands (`prune`, `rules backtest`): drawn on stderr only
//! when stderr is a terminal, so pipes, files and tests see the summary alone.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A bar of `len` steps, or a hidden one off a terminal.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({eta} left)")
        .expect("a valid template");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// A spinner that shows a message the caller updates, or a hidden one off a terminal.
pub fn spinner(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner.set_message(what.to_string());
    spinner
}
