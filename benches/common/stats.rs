//! Latency figures shared by the benches (`#[path]` module): percentiles of a run
//! and its rate, and the `BENCH_*` environment options.

use std::time::Duration;

pub struct Measured {
    pub n: usize,
    /// Samples over the run's span.
    pub per_sec: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Percentiles of `latencies_ms` (milliseconds) collected over `span`.
pub fn measure(mut latencies_ms: Vec<f64>, span: Duration) -> Measured {
    latencies_ms.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latencies_ms[((latencies_ms.len() as f64 * q) as usize).min(latencies_ms.len() - 1)]
    };
    Measured {
        n: latencies_ms.len(),
        per_sec: latencies_ms.len() as f64 / span.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
        max: *latencies_ms.last().unwrap(),
    }
}

/// A numeric `BENCH_*` option from the environment.
pub fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
