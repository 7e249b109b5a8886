//! The linear model: multinomial logistic regression over hashed word unigrams,
//! word bigrams and character trigrams of [`Tokens`], for what the cue lexicon
//! does not name (a typo, a phrasing nobody wrote a pattern for).
//!
//! Its weights are fitted on `tests/fixtures/replies/train.jsonl` only, by
//! `cargo run --example intent_train` (which calls [`train`]), and committed as
//! `model.tsv` (one line per feature: its 64-bit FNV-1a hash in hex, then one
//! weight per label in [`IntentLabel::ALL`] order; the first line is the bias).
//! Hashing keeps the file free of the training text and lookups free of
//! allocation: a reply costs one hash per feature and one table probe.

use super::IntentLabel;
use super::text::{Tokens, is_boundary, is_word};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub const LABELS: usize = IntentLabel::ALL.len();
pub type Scores = [f32; LABELS];

/// The keys are already hashes: use them as they are.
#[derive(Default)]
pub struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Table<V> = HashMap<u64, V, BuildHasherDefault<Identity>>;

/// FNV-1a as a `Hasher`: for the grammar's short word keys, several times cheaper
/// than the default SipHash (no untrusted keys reach these tables: the lexicon is ours).
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv(if self.0 == 0 { FNV_OFFSET } else { self.0 }, bytes);
    }
}

pub type FastBuild = BuildHasherDefault<Fnv>;

pub struct Model {
    bias: Scores,
    weights: Table<Scores>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The hash of a word's unigram feature (used for evidence, too).
pub fn word_feature(token: &str) -> u64 {
    fnv(fnv(FNV_OFFSET, b"w="), token.as_bytes())
}

/// Calls `f` with the hash of every feature of `tokens`.
pub fn features(tokens: &Tokens, mut f: impl FnMut(u64)) {
    let mut prev: Option<&str> = None;
    for token in tokens.iter() {
        if is_boundary(token) && token != "?" {
            prev = None;
            continue;
        }
        f(word_feature(token));
        if let Some(p) = prev {
            let h = fnv(fnv(FNV_OFFSET, b"b="), p.as_bytes());
            f(fnv(fnv(h, b" "), token.as_bytes()));
        }
        prev = Some(token);
        if is_word(token) && token.len() >= 4 {
            // Character trigrams by byte offsets of char starts, without allocating.
            let mut starts = token
                .char_indices()
                .map(|(b, _)| b)
                .chain(std::iter::once(token.len()));
            let mut window = [0usize; 4];
            for slot in &mut window {
                *slot = starts.next().unwrap_or(token.len());
            }
            f(fnv(fnv(FNV_OFFSET, b"c=^"), &token.as_bytes()[..window[3]]));
            loop {
                f(fnv(
                    fnv(FNV_OFFSET, b"c="),
                    &token.as_bytes()[window[0]..window[3]],
                ));
                if window[3] == token.len() {
                    break;
                }
                window = [
                    window[1],
                    window[2],
                    window[3],
                    starts.next().unwrap_or(token.len()),
                ];
            }
        }
    }
}

impl Model {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let row = |line: &str| -> Result<(u64, Scores), String> {
            let mut parts = line.split('\t');
            let key = parts.next().unwrap_or_default();
            let key = if key == "bias" {
                0
            } else {
                u64::from_str_radix(key, 16).map_err(|e| format!("{line:?}: {e}"))?
            };
            let mut w = [0f32; LABELS];
            for slot in &mut w {
                *slot = parts
                    .next()
                    .ok_or_else(|| format!("{line:?}: too few weights"))?
                    .parse()
                    .map_err(|e| format!("{line:?}: {e}"))?;
            }
            Ok((key, w))
        };
        let (_, bias) = row(lines.next().ok_or("empty model")?)?;
        let weights = lines.map(row).collect::<Result<_, _>>()?;
        Ok(Self { bias, weights })
    }

    pub fn to_tsv(&self) -> String {
        let num = |x: f32| {
            if x.abs() < 0.005 {
                "0".to_owned()
            } else {
                format!("{x:.2}")
            }
        };
        let fmt = |w: &Scores| w.iter().map(|&x| num(x)).collect::<Vec<_>>().join("\t");
        let mut rows: Vec<_> = self.weights.iter().collect();
        rows.sort_unstable_by_key(|(k, _)| **k);
        let mut out = format!("bias\t{}\n", fmt(&self.bias));
        for (k, w) in rows {
            out.push_str(&format!("{k:016x}\t{}\n", fmt(w)));
        }
        out
    }

    /// Raw scores (logits), one per label.
    pub fn logits(&self, tokens: &Tokens) -> Scores {
        let mut s = self.bias;
        features(tokens, |h| {
            if let Some(w) = self.weights.get(&h) {
                for (a, b) in s.iter_mut().zip(w) {
                    *a += b;
                }
            }
        });
        s
    }

    /// The unigram weight of `token` for `label` (0 if unknown): evidence.
    pub fn word_weight(&self, token: &str, label: IntentLabel) -> f32 {
        self.weights
            .get(&word_feature(token))
            .map_or(0.0, |w| w[label.index()])
    }

    pub fn features_len(&self) -> usize {
        self.weights.len()
    }
}

pub fn softmax(mut s: Scores) -> Scores {
    let max = s.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0;
    for x in &mut s {
        *x = (*x - max).exp();
        sum += *x;
    }
    s.map(|x| x / sum)
}

/// Training settings; [`train`] is deterministic for a given order of examples.
pub struct Fit {
    pub epochs: usize,
    pub rate: f32,
    pub l2: f32,
    /// A feature must occur in at least this many examples to get a weight.
    pub min_count: usize,
}

/// Fits a model on `(text, label)` examples: AdaGrad on the softmax cross-entropy.
pub fn train(examples: &[(String, IntentLabel)], fit: &Fit) -> Model {
    let featurized: Vec<(Vec<u64>, usize)> = examples
        .iter()
        .map(|(text, label)| {
            let mut fs = Vec::new();
            features(&Tokens::new(text), |h| fs.push(h));
            fs.sort_unstable();
            fs.dedup();
            (fs, label.index())
        })
        .collect();
    let mut counts: Table<usize> = Table::default();
    for (fs, _) in &featurized {
        for h in fs {
            *counts.entry(*h).or_default() += 1;
        }
    }
    let mut weights: Table<Scores> = Table::default();
    let mut sq: Table<Scores> = Table::default();
    let (mut bias, mut bias_sq) = ([0f32; LABELS], [1e-6f32; LABELS]);
    let mut order: Vec<usize> = (0..featurized.len()).collect();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..fit.epochs {
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        for &i in &order {
            let (fs, y) = &featurized[i];
            let fs: Vec<u64> = fs
                .iter()
                .copied()
                .filter(|h| counts[h] >= fit.min_count)
                .collect();
            let mut s = bias;
            for h in &fs {
                if let Some(w) = weights.get(h) {
                    for (a, b) in s.iter_mut().zip(w) {
                        *a += b;
                    }
                }
            }
            let p = softmax(s);
            let grad: Scores = std::array::from_fn(|k| p[k] - f32::from(u8::from(k == *y)));
            for k in 0..LABELS {
                bias_sq[k] += grad[k] * grad[k];
                bias[k] -= fit.rate * grad[k] / bias_sq[k].sqrt();
            }
            for h in fs {
                let w = weights.entry(h).or_insert([0.0; LABELS]);
                let g2 = sq.entry(h).or_insert([1e-6; LABELS]);
                for k in 0..LABELS {
                    let g = grad[k] + fit.l2 * w[k];
                    g2[k] += g * g;
                    w[k] -= fit.rate * g / g2[k].sqrt();
                }
            }
        }
    }
    weights.retain(|_, w| w.iter().any(|x| x.abs() >= 0.005));
    Model { bias, weights }
}
