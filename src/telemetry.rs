//! Logging set-up. Logs go to stderr (stdout stays clean for CLI output such as
//! `starling audit`), as text or JSON. Secrets are never passed to `tracing`:
//! they live in [`crate::secret::Secret`] and webhook paths are logged as routes
//! (`/webhooks/scrapely/{token}`), never as the requested URI.

use crate::config::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are ignored (tests start many apps).
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
