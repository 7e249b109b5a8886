//! A browser left open on the console (`#[path]` module): GETs the overview and
//! the events list once a second until stopped, so the ingest benchmark can
//! measure what the console costs webhook ingestion.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The pages a browser tab would reload.
const PAGES: [&str; 2] = ["/", "/events"];

pub struct Poller {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Polled>,
}

/// What the poller saw.
pub struct Polled {
    pub requests: usize,
    pub errors: usize,
    /// Median time of one page, in milliseconds.
    pub p50_ms: f64,
}

impl Poller {
    /// Starts polling the console of the server at `addr`.
    pub fn start(addr: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (base, flag) = (format!("http://{addr}"), stop.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut times, mut errors) = (Vec::new(), 0);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while !flag.load(Ordering::Relaxed) {
                tick.tick().await;
                for page in PAGES {
                    let started = Instant::now();
                    let ok = match client.get(format!("{base}{page}")).send().await {
                        Ok(r) => r.status().is_success() && r.text().await.is_ok(),
                        Err(_) => false,
                    };
                    match ok {
                        true => times.push(started.elapsed().as_secs_f64() * 1000.0),
                        false => errors += 1,
                    }
                }
            }
            times.sort_by(f64::total_cmp);
            Polled {
                requests: times.len() + errors,
                errors,
                p50_ms: times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
            }
        });
        Self { stop, task }
    }

    pub async fn stop(self) -> Polled {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the poller does not panic")
    }
}

pub const HEADER: [&str; 2] = [
    "| backend | conns | req/s, no browser | req/s, console polled 1/s | ratio | page polls | poll errors | poll p50 ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
];
