//! The ingest bench's load generator: `conns` keep-alive clients posting Scrapely
//! `new_reply` webhooks with unique ids (`bench-N`) for a fixed window after a
//! 500 ms warm-up, and what they measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Measured {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub peak_rss_mib: f64,
    /// Server CPU time per request, in microseconds.
    pub cpu_us: f64,
    /// Ids of every acknowledged (2xx) webhook, warm-up included.
    pub acked: Vec<u64>,
    /// The measured window (after the warm-up), and when the last request ended.
    pub window: (Instant, Instant),
    pub load_end: Instant,
}

/// `conns` clients, each posting sequentially on its own keep-alive connection.
pub async fn load(addr: &str, conns: usize, duration: Duration) -> Measured {
    let url = format!("http://{addr}/webhooks/scrapely");
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let template = include_str!("../../tests/fixtures/scrapely/new_reply.json");
    // Warm-up, then the measured window.
    let warmup = Instant::now() + Duration::from_millis(500);
    let deadline = warmup + duration;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        starling::actions::outbound::init_tls();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let (url, counter, errors) = (url.clone(), counter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut acked) = (Vec::new(), Vec::new());
            loop {
                let id = counter.fetch_add(1, Ordering::Relaxed);
                let body = template.replacen("1234567890123456789", &format!("bench-{id}"), 1);
                let started = Instant::now();
                if started >= deadline {
                    break;
                }
                let ok = match client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => r.status().is_success(),
                    Err(_) => false,
                };
                if ok {
                    acked.push(id);
                }
                if started >= warmup {
                    if ok {
                        latencies.push(started.elapsed().as_micros() as u32);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (latencies, acked)
        }));
    }
    let (mut all, mut acked) = (Vec::new(), Vec::new());
    for t in tasks {
        let (latencies, ids) = t.await.unwrap();
        all.extend(latencies);
        acked.extend(ids);
    }
    let load_end = Instant::now();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Measured {
        rps: all.len() as f64 / duration.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
        peak_rss_mib: 0.0,
        cpu_us: 0.0,
        acked,
        window: (warmup, deadline),
        load_end,
    }
}
