//! Each stream's live state, kept in memory (read by `/readyz`) and written to the
//! `streams` table every second by the process holding the stream's lease (read
//! by `starling streams`).

use crate::config::StreamKind;
use crate::event::{NewEvent, internal};
use crate::store::Store;
use crate::store::actions::now_ms;
use crate::store::streams::{self, StreamUpdate};
use crate::store::writer::Writer;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Another process holds the stream; this one takes over if its lease lapses.
    Standby,
    Connecting,
    Connected,
    /// Waiting before the next connection attempt.
    BackingOff,
    /// The vendor refused the key (HTTP 401); retried slowly.
    Unauthorized,
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Standby => "standby",
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::BackingOff => "backing_off",
            State::Unauthorized => "unauthorized",
            State::Stopped => "stopped",
        }
    }
}

/// What `/readyz` shows of a stream.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub name: String,
    pub kind: &'static str,
    pub state: State,
    /// Unix milliseconds.
    pub connected_since: Option<i64>,
    pub last_message_at: Option<i64>,
    /// Counted by this process since it started.
    pub messages: i64,
    pub reconnects: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

pub struct StreamStatus {
    pub name: String,
    pub kind: StreamKind,
    snapshot: Mutex<Snapshot>,
    /// Not yet written to the database.
    unflushed_messages: AtomicI64,
    unflushed_reconnects: AtomicI64,
    last_message_at: AtomicI64,
    /// This process holds the lease; cleared when another process took it over.
    held: AtomicBool,
    /// Cancelled when the lease is lost: the connection ends at once.
    lost: Mutex<CancellationToken>,
    /// Since when (ms) the held stream is not connected; 0 while it is.
    down_since: AtomicI64,
    /// The `down_since` a `starling.stream_down` was raised for; 0 if none.
    announced_down: AtomicI64,
}

impl StreamStatus {
    pub fn new(name: &str, kind: StreamKind) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_string(),
            kind,
            snapshot: Mutex::new(Snapshot {
                name: name.to_string(),
                kind: kind.as_str(),
                state: State::Standby,
                connected_since: None,
                last_message_at: None,
                messages: 0,
                reconnects: 0,
                last_error: None,
                last_error_at: None,
            }),
            unflushed_messages: AtomicI64::new(0),
            unflushed_reconnects: AtomicI64::new(0),
            last_message_at: AtomicI64::new(0),
            held: AtomicBool::new(false),
            lost: Mutex::new(CancellationToken::new()),
            down_since: AtomicI64::new(0),
            announced_down: AtomicI64::new(0),
        })
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut s = self.snapshot.lock().expect("status lock").clone();
        let last = self.last_message_at.load(Ordering::Relaxed);
        s.last_message_at = (last > 0).then_some(last);
        s
    }

    fn edit(&self, f: impl FnOnce(&mut Snapshot)) {
        f(&mut self.snapshot.lock().expect("status lock"));
    }

    pub fn set_state(&self, state: State) {
        if state != State::Connected {
            self.went_down();
        }
        self.edit(|s| {
            s.state = state;
            if state != State::Connected {
                s.connected_since = None;
            }
        });
    }

    pub fn connected(&self) {
        metrics::gauge!("starling_stream_connected", "stream" => self.name.clone()).set(1.0);
        self.down_since.store(0, Ordering::Relaxed);
        self.edit(|s| {
            s.state = State::Connected;
            s.connected_since = Some(now_ms());
        });
    }

    /// One message read (stored, quarantined or an acknowledgement).
    pub fn message(&self) {
        metrics::counter!("starling_stream_messages_total", "stream" => self.name.clone())
            .increment(1);
        self.unflushed_messages.fetch_add(1, Ordering::Relaxed);
        self.last_message_at.store(now_ms(), Ordering::Relaxed);
        self.edit(|s| s.messages += 1);
    }

    pub fn reconnecting(&self) {
        metrics::counter!("starling_stream_reconnects_total", "stream" => self.name.clone())
            .increment(1);
        self.unflushed_reconnects.fetch_add(1, Ordering::Relaxed);
        self.edit(|s| s.reconnects += 1);
    }

    pub fn error(&self, state: State, error: String) {
        self.went_down();
        metrics::gauge!("starling_stream_connected", "stream" => self.name.clone()).set(0.0);
        self.edit(|s| {
            s.state = state;
            s.connected_since = None;
            s.last_error = Some(error);
            s.last_error_at = Some(now_ms());
        });
    }

    /// An error the vendor reported on a connection that stays up.
    pub fn note_error(&self, error: String) {
        self.edit(|s| {
            s.last_error = Some(error);
            s.last_error_at = Some(now_ms());
        });
    }

    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// Not connected from now, unless it already was not.
    fn went_down(&self) {
        let _ = self
            .down_since
            .compare_exchange(0, now_ms(), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Marks the lease taken; returns the token cancelled if it is lost again.
    pub fn hold(&self) -> CancellationToken {
        self.went_down();
        self.held.store(true, Ordering::Relaxed);
        let token = CancellationToken::new();
        *self.lost.lock().expect("status lock") = token.clone();
        token
    }

    fn lose(&self) {
        self.held.store(false, Ordering::Relaxed);
        // Its new holder watches it from now; this process says nothing more of it.
        self.announced_down.store(0, Ordering::Relaxed);
        self.down_since.store(0, Ordering::Relaxed);
        self.lost.lock().expect("status lock").cancel();
        self.set_state(State::Standby);
    }
}

/// Raises `starling.stream_down` for each held stream disconnected for `after`
/// (through the writer, like any event: rules decide on it), and
/// `starling.stream_up` once such a stream is connected again. `streams` pairs
/// each stream with its vendor (`scrapest`, `scrapebadger`).
pub async fn announce_downtime(
    writer: Writer,
    streams: Vec<(Arc<StreamStatus>, &'static str)>,
    after: Duration,
    stop: CancellationToken,
) {
    // Short thresholds (tests) are looked at often; two minutes every second.
    let every = (after / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        for (status, vendor) in streams.iter().filter(|(s, _)| s.is_held()) {
            if let Some(event) = status.downtime_event(vendor, after, now_ms()) {
                let announced = match event.kind.as_str() {
                    "starling.stream_down" => status.down_since.load(Ordering::Relaxed),
                    _ => 0,
                };
                match writer.commit_event(event).await {
                    Ok(_) => status.announced_down.store(announced, Ordering::Relaxed),
                    // Said again at the next tick; the dedupe key keeps it one event.
                    Err(error) => {
                        tracing::warn!(stream = %status.name, %error, "Could not store the stream's down/up event")
                    }
                }
            }
        }
    }
}

impl StreamStatus {
    /// The down or up event due now, if any.
    fn downtime_event(&self, vendor: &str, after: Duration, now: i64) -> Option<NewEvent> {
        let announced = self.announced_down.load(Ordering::Relaxed);
        let down_since = self.down_since.load(Ordering::Relaxed);
        let connected = self.snapshot().state == State::Connected;
        // Connected now, or was between two looks (down again since another time).
        if announced > 0 && (connected || down_since != announced) {
            tracing::info!(stream = %self.name, "Stream is up again");
            return Some(internal::stream_up(&self.name, vendor, announced, now));
        }
        let long_enough = now - down_since >= after.as_millis() as i64;
        if !connected && down_since > 0 && announced == 0 && long_enough {
            let error = self.snapshot().last_error;
            tracing::warn!(stream = %self.name, down_since, "Stream is down");
            return Some(internal::stream_down(
                &self.name,
                vendor,
                down_since,
                now,
                error.as_deref(),
            ));
        }
        None
    }
}

/// Writes each held stream's state every second and renews its lease; a stream
/// whose lease another process took is told to disconnect.
pub async fn flush_every_second(
    store: Store,
    owner: String,
    lease: Duration,
    statuses: Vec<Arc<StreamStatus>>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        for status in statuses.iter().filter(|s| s.is_held()) {
            flush(&store, &owner, lease, status).await;
        }
    }
}

/// One stream's row, written now (also on shutdown, before the lease is released).
pub async fn flush(store: &Store, owner: &str, lease: Duration, status: &StreamStatus) {
    let new_messages = status.unflushed_messages.swap(0, Ordering::Relaxed);
    let new_reconnects = status.unflushed_reconnects.swap(0, Ordering::Relaxed);
    let s = status.snapshot();
    let update = StreamUpdate {
        name: &status.name,
        kind: s.kind,
        state: s.state.as_str(),
        connected_since: s.connected_since,
        last_message_at: s.last_message_at,
        new_messages,
        new_reconnects,
        last_error: s.last_error.as_deref(),
        last_error_at: s.last_error_at,
    };
    match streams::update(store, owner, lease.as_millis() as i64, &update).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(stream = %status.name, "Another process took this stream over; disconnecting");
            status.lose();
        }
        Err(error) => {
            // Counts are kept for the next flush; the lease may lapse if this lasts.
            status
                .unflushed_messages
                .fetch_add(new_messages, Ordering::Relaxed);
            status
                .unflushed_reconnects
                .fetch_add(new_reconnects, Ordering::Relaxed);
            tracing::warn!(stream = %status.name, %error, "Could not record the stream's state");
        }
    }
}
