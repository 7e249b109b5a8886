//! The group-commit writer: the one path by which ingested data reaches the database.
//!
//! Request handlers and stream readers send items over a channel and wait for the
//! outcome; one task drains the channel and commits whatever has queued up in a
//! single transaction, then answers every waiter. Durability (an fsync per commit)
//! is paid once per group instead of once per event, so throughput grows with
//! concurrency instead of collapsing under it. A caller hears "committed" only after
//! the transaction is durable: a webhook's 2xx is sent after that.
//!
//! If a group fails as a whole, its items are retried one by one so that one bad
//! item cannot fail its neighbours.

use super::{Store, StoreError, events, matches, quarantine};
use crate::clock::format_utc;
use crate::event::{Committed, NewEvent, rule_data};
use crate::rules::reload::RulesHandle;
use crate::rules::{EventContext, Outcome, RuleSet};
use quarantine::QuarantinedPayload;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Something to be made durable.
#[derive(Debug, Clone)]
pub enum WriteItem {
    Event(NewEvent),
    Quarantine(QuarantinedPayload),
}

/// What a committed [`WriteItem`] became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Event(Committed),
    Quarantined { id: i64 },
}

struct Request {
    item: WriteItem,
    reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
}

/// Handle to the writer task. Cheap to clone; the task ends when every handle is dropped,
/// after committing what was already sent.
#[derive(Clone)]
pub struct Writer {
    requests: mpsc::Sender<Request>,
}

impl Writer {
    /// Starts the writer task. `max_group` bounds the items in one transaction.
    pub fn spawn(store: Store, max_group: usize, rules: RulesHandle) -> (Writer, JoinHandle<()>) {
        let (requests, rx) = mpsc::channel(max_group.saturating_mul(4).max(64));
        let task = tokio::spawn(run(store, rx, max_group, rules));
        (Writer { requests }, task)
    }

    /// Commits `item` (grouped with concurrent items) and returns once it is durable.
    pub async fn write(&self, item: WriteItem) -> Result<WriteOutcome, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.requests
            .send(Request { item, reply })
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        outcome.await.map_err(|_| StoreError::WriterClosed)?
    }

    pub async fn commit_event(&self, event: NewEvent) -> Result<Committed, StoreError> {
        match self.write(WriteItem::Event(event)).await? {
            WriteOutcome::Event(committed) => Ok(committed),
            WriteOutcome::Quarantined { .. } => unreachable!("an event is never quarantined"),
        }
    }

    pub async fn quarantine(&self, payload: QuarantinedPayload) -> Result<i64, StoreError> {
        match self.write(WriteItem::Quarantine(payload)).await? {
            WriteOutcome::Quarantined { id } => Ok(id),
            WriteOutcome::Event(_) => unreachable!("a quarantined payload is never an event"),
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Request>, max_group: usize, rules: RulesHandle) {
    let mut group = Vec::with_capacity(max_group);
    while rx.recv_many(&mut group, max_group).await > 0 {
        let items: Vec<&WriteItem> = group.iter().map(|r| &r.item).collect();
        let started = std::time::Instant::now();
        // One rule set for the whole group: a reload never splits it.
        let rules = rules.current();
        match commit_group(&store, &items, &rules).await {
            Ok(outcomes) => {
                tracing::trace!(
                    size = outcomes.len(),
                    micros = started.elapsed().as_micros() as u64,
                    "Committed a group"
                );
                for (request, outcome) in group.drain(..).zip(outcomes) {
                    let _ = request.reply.send(Ok(outcome));
                }
            }
            Err(error) if group.len() == 1 => {
                tracing::error!(%error, "Could not commit an ingested item");
                let request = group.pop().expect("group has one item");
                let _ = request.reply.send(Err(error.into()));
            }
            Err(error) => {
                tracing::warn!(%error, size = group.len(), "Group commit failed; committing items one by one");
                for request in group.drain(..) {
                    let result = commit_group(&store, &[&request.item], &rules)
                        .await
                        .map(|mut o| o.remove(0))
                        .map_err(StoreError::from);
                    if let Err(error) = &result {
                        tracing::error!(%error, "Could not commit an ingested item");
                    }
                    let _ = request.reply.send(result);
                }
            }
        }
    }
    tracing::debug!("Event writer stopped: all senders are gone");
}

/// Commits `items` in one transaction, returning one outcome per item, in order.
///
/// This is the outbox seam: rule matches and action jobs for each new event are
/// to be written here, inside the same transaction.
async fn commit_group(
    store: &Store,
    items: &[&WriteItem],
    rules: &RuleSet,
) -> Result<Vec<WriteOutcome>, sqlx::Error> {
    let events: Vec<&NewEvent> = items
        .iter()
        .filter_map(|item| match item {
            WriteItem::Event(e) => Some(e),
            WriteItem::Quarantine(_) => None,
        })
        .collect();
    let mut quarantined = Vec::new();
    let committed = match store {
        Store::Sqlite(pool) => {
            // IMMEDIATE takes the write lock up front, so the group never fails
            // half-way on a lock upgrade.
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let committed = if events.is_empty() {
                Vec::new()
            } else {
                events::upsert_sqlite(&mut tx, &events).await?
            };
            for (event, done) in events.iter().zip(&committed) {
                for m in match_rules(rules, event, done) {
                    if let Some((key, window)) = &m.cooldown
                        && !matches::claim_cooldown_sqlite(
                            &mut tx,
                            m.row.rule,
                            key,
                            event.received_at,
                            *window,
                            done.event_id,
                        )
                        .await?
                    {
                        matches::record_sqlite(&mut tx, &m.row.in_cooldown()).await?;
                        continue;
                    }
                    matches::record_sqlite(&mut tx, &m.row).await?;
                }
            }
            for item in items {
                if let WriteItem::Quarantine(q) = item {
                    quarantined.push(quarantine::insert_sqlite(&mut tx, q).await?);
                }
            }
            tx.commit().await?;
            committed
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let committed = if events.is_empty() {
                Vec::new()
            } else {
                events::upsert_postgres(&mut tx, &events).await?
            };
            for (event, done) in events.iter().zip(&committed) {
                for m in match_rules(rules, event, done) {
                    if let Some((key, window)) = &m.cooldown
                        && !matches::claim_cooldown_postgres(
                            &mut tx,
                            m.row.rule,
                            key,
                            event.received_at,
                            *window,
                            done.event_id,
                        )
                        .await?
                    {
                        matches::record_postgres(&mut tx, &m.row.in_cooldown()).await?;
                        continue;
                    }
                    matches::record_postgres(&mut tx, &m.row).await?;
                }
            }
            for item in items {
                if let WriteItem::Quarantine(q) = item {
                    quarantined.push(quarantine::insert_postgres(&mut tx, q).await?);
                }
            }
            tx.commit().await?;
            committed
        }
    };
    let (mut committed, mut quarantined) = (committed.into_iter(), quarantined.into_iter());
    Ok(items
        .iter()
        .map(|item| match item {
            WriteItem::Event(_) => {
                WriteOutcome::Event(committed.next().expect("one outcome per event"))
            }
            WriteItem::Quarantine(_) => WriteOutcome::Quarantined {
                id: quarantined.next().expect("one id per quarantined payload"),
            },
        })
        .collect())
}

/// A rule match ready to be written, with the cooldown it must claim first.
struct PendingMatch<'a> {
    row: matches::MatchRow<'a>,
    cooldown: Option<(String, std::time::Duration)>,
}

impl matches::MatchRow<'_> {
    fn in_cooldown(&self) -> Self {
        Self {
            outcome: "cooldown",
            actions: self.actions.clone(),
            cooldown_key: self.cooldown_key.clone(),
            error: self.error.clone(),
            ..*self
        }
    }
}

/// Evaluates the rules on a newly stored event. Another sighting of an event that
/// is already stored never fires anything again.
fn match_rules<'a>(
    rules: &'a RuleSet,
    event: &NewEvent,
    done: &Committed,
) -> Vec<PendingMatch<'a>> {
    if !done.created || !rules.handles(&event.kind) {
        return Vec::new();
    }
    let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap_or_default();
    let ctx = EventContext::new(
        Some(done.event_id),
        event.source,
        &event.kind,
        &format_utc(event.received_at),
        &[event.channel],
        rule_data(event.source, &payload),
    );
    let matched_at = time::OffsetDateTime::now_utc();
    let mut pending = Vec::new();
    for m in rules.evaluate(&ctx) {
        let rule = m.rule;
        let base = matches::MatchRow {
            event_id: done.event_id,
            rule: &rule.name,
            rule_hash: &rule.hash,
            matched_at,
            outcome: "fired",
            cooldown_key: None,
            error: None,
            actions: "[]".into(),
        };
        pending.push(match m.outcome {
            Outcome::Failed(error) => {
                tracing::warn!(rule = %rule.name, event_id = done.event_id, %error, "Rule evaluation failed");
                PendingMatch { row: matches::MatchRow { outcome: "error", error: Some(error), ..base }, cooldown: None }
            }
            Outcome::Matched { actions, cooldown_key } => {
                let actions = serde_json::to_string(&actions).expect("actions serialize");
                let cooldown = match (&rule.cooldown, &cooldown_key) {
                    (Some(c), Some(key)) => Some((key.clone(), c.window)),
                    _ => None,
                };
                PendingMatch { row: matches::MatchRow { actions, cooldown_key, ..base }, cooldown }
            }
        });
    }
    pending
}
