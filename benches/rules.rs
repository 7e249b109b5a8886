//! Rule matching cost per event as the rule set grows.
//!
//! `cargo bench --bench rules` generates rule sets of 10, 1,000 and 10,000 rules
//! and matches the same stream of `new_reply` events against each, timing exactly
//! what the writer does per stored event: parse the payload, build the rule
//! context, select candidates through the index, evaluate their `when:` and render
//! the actions of the rules that fire.
//!
//! The generated mix: 70 % of rules have a `keywords:` list of 3–20 words drawn
//! from a 50,000-word topic vocabulary, 30 % an author filter (`match:` on
//! `data.receiver.screen_name`, 1–5 handles from 50,000); half of all rules also
//! have a `when:` condition, and every rule renders a CRM update with a templated
//! note. Events are 20 ordinary words, and 30 % of them also mention one topic word.
//! Options: `BENCH_SECS` per size (default 2).

use starling::event::rule_data;
use starling::rules::load::load_sources;
use starling::rules::{EventContext, EventMeta};
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FILLER: &[&str] = &[
    "thanks", "for", "reaching", "out", "we", "are", "looking", "at", "options", "next", "quarter",
    "can", "you", "send", "more", "details", "about", "pricing", "and", "the", "team", "schedule",
    "later", "this", "week", "maybe",
];

fn rules_yaml(n: usize, rng: &mut Rng) -> String {
    let mut out = String::new();
    for i in 0..n {
        out.push_str(&format!("- name: rule {i}\n  on: scrapely.new_reply\n"));
        if rng.below(10) < 7 {
            let words: Vec<String> = (0..3 + rng.below(18))
                .map(|_| format!("topic{}", rng.below(50_000)))
                .collect();
            out.push_str(&format!("  keywords: [{}]\n", words.join(", ")));
        } else {
            let handles: Vec<String> = (0..1 + rng.below(5))
                .map(|_| format!("user{}", rng.below(50_000)))
                .collect();
            out.push_str(&format!(
                "  match:\n    data.receiver.screen_name: [{}]\n",
                handles.join(", ")
            ));
        }
        if rng.below(2) == 0 {
            out.push_str(
                "  when: data.message.text | length < 2000 and data.account_handle != 'blocked'\n",
            );
        }
        out.push_str("  do:\n    - action: scrapely.update_crm\n      with:\n        tag: interested_reply\n");
        out.push_str("        notes: \"{{ data.receiver.screen_name }}: {{ data.message.text | truncate(40) }}\"\n");
    }
    out
}

fn events(count: usize, rng: &mut Rng) -> Vec<String> {
    (0..count)
        .map(|i| {
            let mut words: Vec<String> = (0..20).map(|_| FILLER[rng.below(FILLER.len() as u64) as usize].to_string()).collect();
            if rng.below(10) < 3 {
                words[rng.below(20) as usize] = format!("topic{}", rng.below(50_000));
            }
            serde_json::json!({
                "event": "new_reply",
                "timestamp": "2024-02-28T12:00:00.000Z",
                "data": {
                    "conversation_id": format!("c-{i}"),
                    "account_handle": "yourhandle",
                    "receiver": { "screen_name": format!("user{}", rng.below(50_000)), "name": "Someone" },
                    "message": { "id": format!("m-{i}"), "text": words.join(" ") }
                }
            })
            .to_string()
        })
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let stream = events(4096, &mut rng);
    let mut rows = Vec::new();
    for n in [10usize, 1_000, 10_000] {
        let yaml = rules_yaml(n, &mut rng);
        let started = Instant::now();
        let set = load_sources(&[("bench.yaml".into(), yaml)]).expect("generated rules load");
        let load = started.elapsed();

        let (mut evaluated, mut fired) = (0u64, 0u64);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(secs) {
            for (i, payload) in stream.iter().enumerate() {
                let value: serde_json::Value = serde_json::from_str(payload).unwrap();
                let key = format!("scrapely:new_reply:m-{i}");
                let meta = EventMeta {
                    id: Some(i as i64),
                    source: "scrapely",
                    kind: "scrapely.new_reply",
                    dedupe_key: &key,
                    received_at: "2024-02-28T12:00:00.000Z",
                    channels: &["webhook"],
                };
                let ctx = EventContext::new(meta, rule_data("scrapely", &value));
                fired += set.evaluate(&ctx).len() as u64;
                evaluated += 1;
            }
        }
        let per_sec = evaluated as f64 / started.elapsed().as_secs_f64();
        eprintln!(
            "{n} rules: {per_sec:.0} events/s, {:.2} rules fired per event, loaded in {load:?}",
            fired as f64 / evaluated as f64
        );
        rows.push((n, per_sec, fired as f64 / evaluated as f64, load));
    }
    let base = rows[0].1;
    println!(
        "\n| rules | events/s (1 core) | µs/event | cost vs 10 rules | rules fired/event | load time |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (n, per_sec, fired, load) in rows {
        println!(
            "| {n} | {per_sec:.0} | {:.1} | {:.2}× | {fired:.2} | {:.0} ms |",
            1e6 / per_sec,
            base / per_sec,
            load.as_secs_f64() * 1e3
        );
    }
}
