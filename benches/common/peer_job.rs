//! The ingest bench's `starling, peer job` server (`#[path]` module): a rule that
//! forwards every interested reply to a peer with `http.request`, and the peer — a
//! sink on 127.0.0.1 in the bench's own runtime that records, per forwarded
//! `json.id`, how many POSTs arrived and when, so the bench can tell how far the
//! calls lag the webhooks and whether each acknowledged webhook was forwarded
//! exactly once.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The rule, calling the sink at `addr`. Every posted reply says "interested".
/// (`rules check` refuses minijinja's `is containing(…)` test, so `in` it is.)
fn rule(addr: SocketAddr) -> String {
    format!(
        r#"- name: forward interested replies
  on: scrapely.new_reply
  when: '"interested" in data.message.text'
  do:
    - action: http.request
      with:
        url: "http://{addr}/crm"
        method: POST
        json: {{ id: "{{{{ data.message.id }}}}" }}
"#
    )
}

struct Arrival {
    posts: u32,
    first: Instant,
    /// The first POST's `Idempotency-Key`, and how many later POSTs of the
    /// same id carried another one (a second action, not a retry of the first).
    key: String,
    other_keys: u32,
}

#[derive(Default)]
struct Seen {
    by_id: HashMap<u64, Arrival>,
    /// Every POST's arrival, in order.
    times: Vec<Instant>,
    /// POSTs whose body had no `bench-N` id.
    unparsed: u64,
}

type Shared = Arc<Mutex<Seen>>;

async fn crm(State(seen): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["id"].as_str()?.strip_prefix("bench-")?.parse().ok());
    let mut seen = seen.lock().unwrap();
    seen.times.push(now);
    let Some(id) = id else {
        seen.unparsed += 1;
        return StatusCode::BAD_REQUEST;
    };
    let arrival = seen.by_id.entry(id).or_insert_with(|| Arrival {
        posts: 0,
        first: now,
        key: key.clone(),
        other_keys: 0,
    });
    arrival.posts += 1;
    if arrival.posts > 1 && arrival.key != key {
        arrival.other_keys += 1;
    }
    StatusCode::OK
}

/// The sink, serving until dropped, and the rules directory pointing at it.
pub struct Sink {
    seen: Shared,
    server: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

/// What the sink saw of one run, once it has settled.
pub struct Outcome {
    /// POSTs that arrived within the load's measured window, per second.
    pub posts_per_sec: f64,
    /// From the load's end until the last acknowledged webhook's POST arrived;
    /// `None` when some had not arrived by the timeout.
    pub backlog_secs: Option<f64>,
    /// Acknowledged webhooks whose POST never came (a sample of their ids first).
    pub missing: usize,
    pub missing_sample: Vec<u64>,
    /// POSTs beyond one per id, and those of them with another Idempotency-Key.
    pub duplicates: u64,
    pub other_key_duplicates: u64,
    pub unparsed: u64,
}

impl Sink {
    pub async fn start() -> Self {
        let seen = Shared::default();
        let app = axum::Router::new()
            .route("/crm", axum::routing::post(crm))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("peer.yaml"), rule(addr)).unwrap();
        Self { seen, server, dir }
    }

    pub fn rules_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits (polling, up to `timeout` after `load_end`) until every `acked` id
    /// has had its POST; returns the backlog in seconds, or the ids still missing.
    pub async fn await_backlog(
        &self,
        acked: &[u64],
        load_end: Instant,
        timeout: Duration,
    ) -> Result<f64, Vec<u64>> {
        let mut missing = acked.to_vec();
        loop {
            {
                let seen = self.seen.lock().unwrap();
                missing.retain(|id| !seen.by_id.contains_key(id));
                if missing.is_empty() {
                    let last = acked
                        .iter()
                        .map(|id| seen.by_id[id].first)
                        .max()
                        .unwrap_or(load_end);
                    return Ok(last.saturating_duration_since(load_end).as_secs_f64());
                }
            }
            if load_end.elapsed() >= timeout {
                return Err(missing);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The run's figures; call once the server has exited, so that every POST it
    /// made is counted among the duplicates.
    pub fn outcome(&self, window: (Instant, Instant), backlog: Result<f64, Vec<u64>>) -> Outcome {
        let seen = self.seen.lock().unwrap();
        let in_window = seen
            .times
            .iter()
            .filter(|t| **t >= window.0 && **t <= window.1)
            .count();
        let (backlog_secs, missing) = match backlog {
            Ok(secs) => (Some(secs), Vec::new()),
            Err(missing) => (None, missing),
        };
        Outcome {
            posts_per_sec: in_window as f64 / (window.1 - window.0).as_secs_f64(),
            backlog_secs,
            missing: missing.len(),
            missing_sample: missing.iter().take(5).copied().collect(),
            duplicates: seen.by_id.values().map(|a| u64::from(a.posts - 1)).sum(),
            other_key_duplicates: seen.by_id.values().map(|a| u64::from(a.other_keys)).sum(),
            unparsed: seen.unparsed,
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub const HEADER: [&str; 2] = [
    "| backend | conns | webhooks/s | POSTs/s during load | backlog s | end-to-end/s | ÷ group-commit | missing | duplicates | peak RSS MiB |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
];

/// One row of the peer job table: `webhooks_per_sec` acknowledged in a window of
/// `window_secs`, end to end over the window and the backlog.
pub fn row(
    backend: &str,
    conns: usize,
    webhooks_per_sec: f64,
    window_secs: f64,
    commit_rps: f64,
    peak_rss_mib: f64,
    o: &Outcome,
) -> String {
    let (backlog, end_to_end, ratio) = match o.backlog_secs {
        Some(b) => {
            let e2e = webhooks_per_sec * window_secs / (window_secs + b);
            (
                format!("{b:.2}"),
                format!("{e2e:.0}"),
                format!("{:.2}×", e2e / commit_rps),
            )
        }
        None => ("timed out".into(), "–".into(), "–".into()),
    };
    format!(
        "| {backend} | {conns} | {webhooks_per_sec:.0} | {:.0} | {backlog} | {end_to_end} | {ratio} | {} | {} | {peak_rss_mib:.1} |",
        o.posts_per_sec, o.missing, o.duplicates
    )
}
