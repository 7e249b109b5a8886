//! Fills in the `intent` columns of Scrapely replies stored before Starling
//! classified replies (migration `20261201000060_event_intent`). New replies get
//! theirs when they are parsed; this runs once at start-up, in the background,
//! and by `starling migrate`, in batches, so audit can `GROUP BY intent` over
//! the whole history.

use super::Store;
use super::action_rows::{in_tx, on_pool};
use crate::intent::intent;

/// Replies classified per transaction.
const BATCH: i64 = 500;

/// Classifies every stored reply whose intent is unknown; returns how many it
/// filled in. Replies without text stay NULL (there is nothing to classify).
pub async fn backfill(store: &Store) -> Result<u64, sqlx::Error> {
    let mut after = 0i64;
    let mut filled = 0u64;
    loop {
        let sql = "SELECT id, CAST(payload AS TEXT) FROM events \
                   WHERE kind = 'scrapely.new_reply' AND intent IS NULL AND id > $1 \
                   ORDER BY id LIMIT $2";
        let rows: Vec<(i64, String)> = on_pool!(store, pool => sqlx::query_as(sql).bind(after).bind(BATCH).fetch_all(pool).await)?;
        let Some(&(last, _)) = rows.last() else {
            return Ok(filled);
        };
        after = last;
        let classified: Vec<(i64, crate::intent::Intent)> = rows
            .iter()
            .filter_map(|(id, payload)| {
                let payload: serde_json::Value = serde_json::from_str(payload).ok()?;
                let text = payload.pointer("/data/message/text")?.as_str()?;
                Some((*id, intent(text)))
            })
            .collect();
        filled += classified.len() as u64;
        let update = "UPDATE events SET intent = $2, intent_confidence = $3, intent_evidence = $4 \
                      WHERE id = $1 AND intent IS NULL";
        in_tx!(store, tx => {
            for (id, answer) in &classified {
                let evidence = serde_json::to_string(&answer.evidence).expect("strings serialize");
                sqlx::query(update)
                    .bind(id)
                    .bind(answer.label.as_str())
                    .bind(answer.confidence)
                    .bind(evidence)
                    .execute(&mut *tx)
                    .await?;
            }
        });
    }
}
