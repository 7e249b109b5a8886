//! Reply-intent classifications per second, on one core, over the dev corpus.
//!
//! `cargo bench --bench intent` classifies every reply of
//! `tests/fixtures/replies/dev.jsonl` in a loop for `BENCH_SECS` (default 3) on the
//! bench's one thread, and in the same run times three baselines on the same
//! texts: a lowercase-and-split pass (the least any classifier must do), the old
//! keyword rules (`intent::baseline::keyword_rules`) and VADER. The four are timed
//! in interleaved rounds (`BENCH_ROUNDS`, default 10, each `BENCH_SECS / rounds`
//! long), so a burst of load from other processes on the machine hits all of them
//! alike; reported per candidate: the median and the best round's rate, and the
//! classifier's median time as a ratio of each baseline's.

use starling::intent::{baseline, eval::parse_jsonl, intent};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn rate(texts: &[String], secs: f64, mut f: impl FnMut(&str)) -> f64 {
    for t in texts {
        f(t);
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        for t in texts {
            f(t);
        }
        n += texts.len() as u64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/replies/dev.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("dev.jsonl");
    let texts: Vec<String> = parse_jsonl(&text)
        .expect("dev.jsonl parses")
        .into_iter()
        .map(|e| e.text)
        .collect();
    let mean_len = texts.iter().map(String::len).sum::<usize>() as f64 / texts.len() as f64;
    println!(
        "{} dev replies, mean {mean_len:.0} bytes, {secs} s per candidate, one thread",
        texts.len()
    );

    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let slice = secs / rounds as f64;
    type Candidate<'a> = (&'a str, Box<dyn Fn(&str)>);
    let candidates: Vec<Candidate> = vec![
        (
            "classifier (`intent::intent`)",
            Box::new(|t| {
                black_box(intent(black_box(t)));
            }),
        ),
        (
            "lowercase + split",
            Box::new(|t| {
                black_box(t.to_lowercase().split_whitespace().count());
            }),
        ),
        (
            "old keyword rules",
            Box::new(|t| {
                black_box(baseline::keyword_rules(black_box(t)));
            }),
        ),
        (
            "VADER compound",
            Box::new(|t| {
                black_box(baseline::vader(black_box(t)));
            }),
        ),
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); candidates.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in candidates.iter().enumerate() {
            rates[i].push(rate(&texts, slice, f));
        }
    }
    let median = |r: &mut Vec<f64>| {
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    let medians: Vec<f64> = rates.iter_mut().map(median).collect();
    let classifier = medians[0];
    println!(
        "| what | per second (median) | best round | µs each (median) | classifier time ÷ this |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (i, (name, _)) in candidates.iter().enumerate() {
        let best = rates[i].last().copied().unwrap_or_default();
        println!(
            "| {name} | {:.0} | {best:.0} | {:.2} | {:.1} |",
            medians[i],
            1e6 / medians[i],
            medians[i] / classifier
        );
    }
    println!("classifications per second: {classifier:.0} (target 100000)");
}
