//! The group-commit writer: the one path by which ingested data reaches the database.
//!
//! Request handlers and stream readers call [`Writer::commit_event`]; one writer
//! task drains the channel and commits whatever has queued up in a single
//! transaction: the events and, for each event that is new, the rules' decisions
//! on it (matches with rendered actions, cooldown claims), evaluated right there
//! against one whole rule set — and the outbox: one `actions` row per action of
//! every rule that fired, each with its apalis job, in that same transaction, so
//! an event is never stored without its actions nor an action queued twice.
//! Durability (an fsync per commit) is paid once per group instead of once per
//! event, so throughput grows with concurrency. A caller hears "committed" only
//! after the transaction is durable: a webhook's 2xx is sent after that.
//!
//! The failures a group makes (actions dead, unknown or held, rules that failed
//! on its events) become internal events stored and decided on in the same
//! transaction ([`announce`]).
//!
//! If a group fails as a whole, its items are retried one by one so that one bad
//! item cannot fail its neighbours. [`group`] holds what one group commit writes.

use super::action_rows::now_ms;
use super::attempts::Finished;
use super::availability::{self, Availability};
use super::outbox::{FastClaim, OutboxMode};
use super::{Store, StoreError, quarantine};
use crate::event::{Committed, NewEvent};
use crate::store::jobs::Wake;

/// Where the writer hands what its commits queued: `wake` for jobs, and `fast`
/// for actions claimed in the commit, run by this process at once.
#[derive(Clone, Default)]
pub struct Outbox {
    pub wake: Wake,
    pub mode: OutboxMode,
    pub fast: Option<mpsc::UnboundedSender<FastClaim>>,
}

impl Outbox {
    fn committed(&self, jobs: usize, claimed: Vec<FastClaim>) {
        if jobs > 0 {
            self.wake.notify();
        }
        if let Some(fast) = &self.fast {
            for action in claimed {
                // A closed channel means shutdown: once its lease expires, the sweep queues it.
                let _ = fast.send(action);
            }
        }
    }
}
use crate::rules::RuleSet;
use crate::rules::reload::RulesHandle;
use quarantine::QuarantinedPayload;
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Something to be made durable.
#[derive(Debug, Clone)]
pub enum WriteItem {
    /// An event; the rules decide on it in the writer, if it is new.
    Event(NewEvent),
    Quarantine(QuarantinedPayload),
    /// An action's attempt ended. On SQLite grouped with ingestion (one fsync
    /// for both instead of a fight over its lock); on PostgreSQL sent to a
    /// writer of finishes only (`crate::app`).
    Finish(Box<Finished>),
    /// Actions moved outside the writer (held by a run that found its account
    /// paused): each one dead, unknown or held is announced ([`announce`]).
    Announce(Vec<i64>),
}

/// What a committed [`WriteItem`] became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Event(Committed),
    Quarantined { id: i64 },
    Finished,
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
    availability: Availability,
}

impl Writer {
    /// Starts the writer task. `max_group` bounds the items in one transaction.
    /// `outbox` hears of every commit that queued actions.
    pub fn spawn(
        store: Store,
        max_group: usize,
        rules: RulesHandle,
        outbox: Outbox,
    ) -> (Writer, JoinHandle<()>) {
        let (requests, rx) = mpsc::channel(max_group.saturating_mul(4).max(64));
        let availability = Availability::default();
        availability.spawn_probe(store.clone());
        let task = tokio::spawn(run(
            store,
            rx,
            max_group,
            rules,
            outbox,
            availability.clone(),
        ));
        (
            Writer {
                requests,
                availability,
            },
            task,
        )
    }

    /// Whether the database takes commits (for `/readyz`).
    pub fn availability(&self) -> &Availability {
        &self.availability
    }

    async fn write(&self, item: WriteItem) -> Result<WriteOutcome, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.requests
            .send(Request { item, reply })
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        outcome.await.map_err(|_| StoreError::WriterClosed)?
    }

    /// Commits `event` and, if it is new, the rules' decisions on it (grouped with
    /// concurrent items); returns once both are durable.
    pub async fn commit_event(&self, event: NewEvent) -> Result<Committed, StoreError> {
        match self.write(WriteItem::Event(event)).await? {
            WriteOutcome::Event(committed) => Ok(committed),
            _ => unreachable!("an event is committed as an event"),
        }
    }

    pub async fn quarantine(&self, payload: QuarantinedPayload) -> Result<i64, StoreError> {
        match self.write(WriteItem::Quarantine(payload)).await? {
            WriteOutcome::Quarantined { id } => Ok(id),
            _ => unreachable!("a quarantined payload is committed as one"),
        }
    }

    /// Records how an action's attempt ended; returns once it is durable.
    pub async fn finish(&self, finished: Finished) -> Result<(), StoreError> {
        self.write(WriteItem::Finish(Box::new(finished)))
            .await
            .map(|_| ())
    }

    /// Announces the failures of actions moved outside the writer (see
    /// [`WriteItem::Announce`]); returns once the internal events are durable.
    pub async fn announce(&self, action_ids: Vec<i64>) -> Result<(), StoreError> {
        self.write(WriteItem::Announce(action_ids))
            .await
            .map(|_| ())
    }

    /// A handle that does not keep the writer alive (the executor's: the writer
    /// must still end when ingestion stops).
    pub fn downgrade(&self) -> WeakWriter {
        WeakWriter {
            requests: self.requests.downgrade(),
            availability: self.availability.clone(),
        }
    }
}

/// A [`Writer`] handle that lets the writer end; see [`Writer::downgrade`].
#[derive(Clone)]
pub struct WeakWriter {
    requests: mpsc::WeakSender<Request>,
    availability: Availability,
}

impl WeakWriter {
    /// A handle to no writer: a console that only reads (the page-speed
    /// benchmark), whose "Ingest again" says ingestion has stopped.
    pub fn detached() -> Self {
        let (requests, _) = mpsc::channel::<Request>(1);
        Self {
            requests: requests.downgrade(),
            availability: Availability::default(),
        }
    }

    pub fn upgrade(&self) -> Option<Writer> {
        self.requests.upgrade().map(|requests| Writer {
            requests,
            availability: self.availability.clone(),
        })
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Request>,
    max_group: usize,
    rules: RulesHandle,
    outbox: Outbox,
    availability: Availability,
) {
    let mut group = Vec::with_capacity(max_group);
    let mut held = Held::default();
    while rx.recv_many(&mut group, max_group).await > 0 {
        if availability.is_down() {
            for request in group.drain(..) {
                let _ = request.reply.send(Err(StoreError::Unavailable));
            }
            continue;
        }
        let items: Vec<&WriteItem> = group.iter().map(|r| &r.item).collect();
        let started = std::time::Instant::now();
        // One rule set for the whole group: a reload never splits it.
        let rules = rules.current();
        match commit_group(&store, &mut held, &items, &rules, &outbox.mode).await {
            Ok((outcomes, jobs, claimed)) => {
                outbox.committed(jobs, claimed);
                metrics::counter!("starling_group_commits_total").increment(1);
                metrics::histogram!("starling_group_commit_items").record(outcomes.len() as f64);
                metrics::histogram!("starling_group_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                tracing::trace!(
                    size = outcomes.len(),
                    micros = started.elapsed().as_micros() as u64,
                    "Committed a group"
                );
                for (request, outcome) in group.drain(..).zip(outcomes) {
                    let _ = request.reply.send(Ok(outcome));
                }
            }
            Err(error) if availability::is_unreachable(&error) => {
                availability.mark_down(&error.to_string());
                for request in group.drain(..) {
                    let _ = request.reply.send(Err(StoreError::Unavailable));
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
                    if availability.is_down() {
                        let _ = request.reply.send(Err(StoreError::Unavailable));
                        continue;
                    }
                    let result =
                        commit_group(&store, &mut held, &[&request.item], &rules, &outbox.mode)
                            .await
                            .map(|(mut o, jobs, claimed)| {
                                outbox.committed(jobs, claimed);
                                o.remove(0)
                            })
                            .map_err(StoreError::from);
                    if let Err(StoreError::Database(error)) = &result {
                        if availability::is_unreachable(error) {
                            availability.mark_down(&error.to_string());
                        } else {
                            tracing::error!(%error, "Could not commit an ingested item");
                        }
                    }
                    let _ = request.reply.send(result);
                }
            }
        }
    }
    tracing::debug!("Event writer stopped: all senders are gone");
}

mod announce;
mod group;
mod held;
use group::write_group;
pub(crate) use group::{GroupSql, Verdicts, act_on};
use held::Held;

/// Commits `items` in one transaction, returning one outcome per item, in order.
async fn commit_group(
    store: &Store,
    held: &mut Held,
    items: &[&WriteItem],
    rules: &RuleSet,
    mode: &OutboxMode,
) -> Result<(Vec<WriteOutcome>, usize, Vec<FastClaim>), sqlx::Error> {
    let events: Vec<&NewEvent> = items
        .iter()
        .filter_map(|item| match item {
            WriteItem::Event(event) => Some(event),
            _ => None,
        })
        .collect();
    let quarantined: Vec<&QuarantinedPayload> = items
        .iter()
        .filter_map(|item| match item {
            WriteItem::Quarantine(q) => Some(q),
            _ => None,
        })
        .collect();
    let finished: Vec<&Finished> = items
        .iter()
        .filter_map(|item| match item {
            WriteItem::Finish(f) => Some(f.as_ref()),
            _ => None,
        })
        .collect();
    let announce: Vec<i64> = items
        .iter()
        .filter_map(|item| match item {
            WriteItem::Announce(ids) => Some(ids.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    let written = match store {
        Store::Sqlite(pool) => {
            let conn = held.sqlite(pool).await?;
            // IMMEDIATE takes the write lock up front, so the group never fails
            // half-way on a lock upgrade.
            async {
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                let written = write_group(
                    &mut *tx,
                    &events,
                    &quarantined,
                    &finished,
                    &announce,
                    rules,
                    mode,
                )
                .await?;
                tx.commit().await?;
                Ok(written)
            }
            .await
        }
        Store::Postgres(pool) => {
            let conn = held.postgres(pool).await?;
            async {
                let mut tx = conn.begin().await?;
                let written = write_group(
                    &mut *tx,
                    &events,
                    &quarantined,
                    &finished,
                    &announce,
                    rules,
                    mode,
                )
                .await?;
                tx.commit().await?;
                Ok(written)
            }
            .await
        }
    };
    let (committed, quarantine_ids, jobs, claimed) =
        written.inspect_err(|_: &sqlx::Error| held.drop_all())?;
    let (mut committed, mut quarantine_ids) = (committed.into_iter(), quarantine_ids.into_iter());
    let outcomes = items
        .iter()
        .map(|item| match item {
            WriteItem::Event(_) => {
                WriteOutcome::Event(committed.next().expect("one outcome per event"))
            }
            WriteItem::Quarantine(_) => WriteOutcome::Quarantined {
                id: quarantine_ids
                    .next()
                    .expect("one id per quarantined payload"),
            },
            WriteItem::Finish(_) | WriteItem::Announce(_) => WriteOutcome::Finished,
        })
        .collect();
    Ok((outcomes, jobs, claimed))
}
