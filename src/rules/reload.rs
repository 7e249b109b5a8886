//! The live rule set: loaded at start, watched on disk, swapped atomically.
//!
//! Readers take the current [`RuleSet`] with one atomic load and keep it for a
//! whole group of events, so no event is ever evaluated against a half-loaded
//! set. The watcher polls the directory's files (content hash) rather than using
//! inotify, which misses edits on bind mounts and network filesystems; a change is
//! reloaded once it has been stable for one poll, so an editor's multi-step save
//! is read whole. A broken edit keeps the last good set, is logged at ERROR and is
//! shown by `/readyz`.

use super::RuleSet;
use super::error::RuleErrors;
use super::load::{Known, load_dir_with, rule_files};
use arc_swap::ArcSwap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the rules directory is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_millis(400);

/// What `/readyz` shows about rules.
#[derive(Debug, Clone, Serialize)]
pub struct RulesStatus {
    pub dir: String,
    pub rules: usize,
    pub version: String,
    /// The errors of the last attempted load, while the previous set keeps running.
    pub last_error: Option<String>,
}

#[derive(Clone)]
pub struct RulesHandle {
    current: Arc<ArcSwap<RuleSet>>,
    status: Arc<Mutex<RulesStatus>>,
    dir: PathBuf,
    /// What every reload is checked against (the configured secret names).
    known: Known,
}

impl RulesHandle {
    /// Loads `dir`. A missing directory is an empty set (with a warning); a broken
    /// rule file is an error, so a server never starts on rules it cannot read.
    pub fn load(dir: &Path, known: Known) -> Result<Self, RuleErrors> {
        let set = if dir.exists() {
            load_dir_with(dir, &known)?
        } else {
            tracing::warn!(dir = %dir.display(), "Rules directory not found; starting with no rules");
            RuleSet::default()
        };
        metrics::gauge!("starling_rules_loaded").set(set.rules.len() as f64);
        let status = RulesStatus {
            dir: dir.display().to_string(),
            rules: set.rules.len(),
            version: set.version.clone(),
            last_error: None,
        };
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(set)),
            status: Arc::new(Mutex::new(status)),
            dir: dir.to_owned(),
            known,
        })
    }

    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    pub fn status(&self) -> RulesStatus {
        self.status.lock().expect("rules status lock").clone()
    }

    /// Reloads now; on error the current set stays.
    pub fn reload(&self) -> Result<(), RuleErrors> {
        let mut status = self.status.lock().expect("rules status lock");
        match load_dir_with(&self.dir, &self.known) {
            Ok(set) => {
                tracing::info!(rules = set.rules.len(), version = %set.version, "Rules reloaded");
                metrics::counter!("starling_rules_reloads_total", "result" => "ok").increment(1);
                metrics::gauge!("starling_rules_loaded").set(set.rules.len() as f64);
                status.rules = set.rules.len();
                status.version = set.version.clone();
                status.last_error = None;
                self.current.store(Arc::new(set));
                Ok(())
            }
            Err(errors) => {
                tracing::error!(errors = %errors, "Rule files have errors; the previous rules keep running");
                metrics::counter!("starling_rules_reloads_total", "result" => "error").increment(1);
                status.last_error = Some(errors.to_string());
                Err(errors)
            }
        }
    }

    /// Polls the directory until `stop` and reloads after each stable change;
    /// `failed` hears each failed reload's report (the app raises
    /// `starling.rule_error` with it).
    pub fn spawn_watcher(
        &self,
        stop: CancellationToken,
        failed: impl Fn(String) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let handle = self.clone();
        tokio::spawn(async move {
            let mut loaded = fingerprint(&handle.dir);
            let mut pending: Option<String> = None;
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                }
                let now = fingerprint(&handle.dir);
                if now == loaded {
                    pending = None;
                } else if pending.as_ref() == Some(&now) {
                    // Unchanged for a whole poll: the save is complete.
                    if let Err(errors) = handle.reload() {
                        failed(errors.to_string());
                    }
                    loaded = now;
                    pending = None;
                } else {
                    pending = Some(now);
                }
            }
        })
    }
}

/// A stored `«literal:ID»` resolves from the rules loaded now.
impl crate::secret::marker::Literals for RulesHandle {
    fn literal(&self, id: &str) -> Option<crate::secret::Secret> {
        self.current.load().literal(id)
    }
}

/// A hash of the names and contents of the directory's rule files.
fn fingerprint(dir: &Path) -> String {
    let mut hasher = Sha256::new();
    for file in rule_files(dir).unwrap_or_default() {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).unwrap_or_default());
    }
    hex::encode(hasher.finalize())
}
