//! Reply-intent classifications per second, on one core, over the dev corpus.
//!
//! `cargo bench --bench intent` classifies every reply of
//! `tests/fixtures/replies/dev.jsonl` in a loop for `BENCH_SECS` (default 3) on the
//! bench's one thread, and in the same run times three baselines on the same
//! texts: a lowercase-and-split pass (the least any classifier must do), the old
//! keyword rules (`intent::baseline::keyword_rules`) and VADER. Reported:
//! classifications per second and the classifier's time as a ratio of each baseline's.

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
        "{} dev replies, mean {mean_len:.0} bytes, {secs} s each, one thread",
        texts.len()
    );

    let classifier = rate(&texts, secs, |t| {
        black_box(intent(black_box(t)));
    });
    let split = rate(&texts, secs, |t| {
        black_box(t.to_lowercase().split_whitespace().count());
    });
    let keywords = rate(&texts, secs, |t| {
        black_box(baseline::keyword_rules(black_box(t)));
    });
    let vader = rate(&texts, secs, |t| {
        black_box(baseline::vader(black_box(t)));
    });
    println!("| what | per second | µs each | classifier time ÷ this |");
    println!("|---|---:|---:|---:|");
    for (name, r) in [
        ("classifier (`intent::intent`)", classifier),
        ("lowercase + split", split),
        ("old keyword rules", keywords),
        ("VADER compound", vader),
    ] {
        println!(
            "| {name} | {r:.0} | {:.2} | {:.1} |",
            1e6 / r,
            r / classifier
        );
    }
    println!("classifications per second: {classifier:.0} (target 100000)");
}
