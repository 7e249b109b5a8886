//! Progress of long commands (`replay`, `quarantine replay --all`): an
//! `indicatif` bar on stderr, drawn only when both stdout and stderr are a
//! terminal, so tests, pipes and redirected output get the result and nothing
//! else. The command's summary line is part of its output, not of the bar.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A bar over `total` items, or nothing off a terminal.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn new(total: u64, what: &'static str) -> Self {
        let on_terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        Self(on_terminal.then(|| bar(total, what)))
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

fn bar(total: u64, what: &'static str) -> ProgressBar {
    let style =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .expect("the template is valid")
            .progress_chars("=> ");
    ProgressBar::new(total).with_style(style).with_message(what)
}
