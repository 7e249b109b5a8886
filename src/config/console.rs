//! `[console]`: the web console served by `starling serve` at `/`.

use crate::secret::Secret;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Serve the console at `/` on the server's listener.
    pub enabled: bool,
    /// The password of the console's login. Needed on a non-loopback listener
    /// (start-up refuses without it); on a loopback listener no login is asked.
    pub admin_token: Option<Secret>,
}
