//! Logging set-up. Logs go to stderr (stdout stays clean for CLI output such as
//! `starling audit`), as text or JSON. Secrets are never passed to `tracing`:
//! they live in [`crate::secret::Secret`] and webhook paths are logged as routes
//! (`/webhooks/scrapely/{token}`), never as the requested URI.

use crate::config::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;

/// Log targets that print credentials at some level, capped whatever the filter
/// says: tungstenite traces the whole WebSocket handshake request (the `x-api-key`
/// and `Authorization` headers, ScrapeBadger's `?api_key=`); capped at info, as
/// its handshake says nothing above debug. A more specific directive wins in
/// `EnvFilter`, so these hold even under `tungstenite=trace`.
const NEVER_BELOW: &[&str] = &["tungstenite::handshake::client=info"];

/// Installs the global subscriber once; later calls are ignored (tests start many apps).
pub fn init(settings: &LogSettings) {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    for directive in NEVER_BELOW {
        filter = filter.add_directive(directive.parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
