//! Holding what the senders saw ([`Outcome`]) against the events table: every
//! acknowledged webhook must be exactly one event, and no event may be one that
//! was never sent as a valid webhook.

use crate::load::Outcome;
use std::collections::HashMap;

/// Every acknowledgement held against the store.
#[derive(Debug, Default)]
pub struct StoreCheck {
    /// Acknowledged but not stored.
    pub lost: Vec<String>,
    /// One webhook stored as more than one event.
    pub duplicated: Vec<String>,
    /// Stored but never sent as a valid webhook (an invalid one, or nothing we sent).
    pub unexpected: Vec<String>,
}

pub async fn check_store(url: &str, outcome: &Outcome) -> StoreCheck {
    let store = starling::store::Store::connect(url, 2).await.unwrap();
    // Starling's own events (`starling.action_dead`, …) are no webhook; what
    // the suite's kills make of actions is checked against the actions table.
    let sql = "SELECT CAST(payload AS TEXT) FROM events WHERE source <> 'starling'";
    let payloads: Vec<String> = match &store {
        starling::store::Store::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await,
        starling::store::Store::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await,
    }
    .unwrap();
    store.close().await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for payload in payloads {
        let v: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
        let id = v["data"]["message"]["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("(no message id: {payload:.80})"));
        *counts.entry(id).or_default() += 1;
    }
    let mut check = StoreCheck {
        lost: outcome
            .acked
            .iter()
            .filter(|id| !counts.contains_key(*id))
            .cloned()
            .collect(),
        ..StoreCheck::default()
    };
    for (id, n) in &counts {
        if *n > 1 {
            check.duplicated.push(format!("{id} ×{n}"));
        }
        if !outcome.sent.contains(id) {
            check.unexpected.push(id.clone());
        }
    }
    check.lost.sort();
    check.duplicated.sort();
    check.unexpected.sort();
    check
}
