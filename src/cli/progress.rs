//! Progress of long commands (`replay`, `quarantine replay --all`, `prune`,
//! `rules backtest`): `indicatif` bars and spinners on stderr, drawn only on a
//! terminal, so tests, pipes and redirected output get the result and nothing
//! else. The command's summary line is part of its output, not of the bar.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A bar over `total` items, or nothing unless both stdout and stderr are a
/// terminal (the replay's report goes to stdout).
pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn new(total: u64, what: &'static str) -> Self {
        let on_terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        Self(on_terminal.then(|| styled(total, what)))
    }

    pub fn add(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    /// Clears the bar: the summary follows on stdout.
    pub fn done(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn styled(total: u64, what: &str) -> ProgressBar {
    let style =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .expect("the template is valid")
            .progress_chars("=> ");
    ProgressBar::new(total)
        .with_style(style)
        .with_message(what.to_string())
}

/// A bar of `len` steps, or a hidden one when stderr is not a terminal.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    styled(len, what)
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
