//! The webhook load every scenario but the held actions drives: `connections`
//! senders posting authentic (token in the URL, Standard Webhooks signature)
//! Scrapely `new_reply` webhooks as fast as they are answered, each with its own
//! message id, mixed with ones that must be refused. A valid webhook whose answer
//! never came (the process died) or was a 503 is delivered again, as Scrapely
//! does, until it is acknowledged. Afterwards `store_check` holds every
//! acknowledgement against the events table.

use starling::webhooks::signature::SigningKey;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

const TOKEN: &str = "faults-url-token-0123456789abcdef";
const SECRET: &str = "whsec_ZmF1bHQtc3VpdGUtc2lnbmluZy1rZXktbWF0ZXJpYWw=";

/// The webhook credentials a Starling under load is given.
pub fn auth_env() -> Vec<(&'static str, String)> {
    vec![
        ("STARLING__WEBHOOKS__SCRAPELY__TOKEN", TOKEN.to_string()),
        (
            "STARLING__WEBHOOKS__SCRAPELY__SIGNING_SECRET",
            SECRET.to_string(),
        ),
    ]
}

/// Where the senders post: one slot per process (`None` while it is down). A
/// sender whose request failed moves to the next slot that is up and is not the
/// address that failed, as a load balancer would.
#[derive(Clone)]
/// The processes' addresses; a sender waiting for one is woken when it changes.
pub struct Targets(Arc<tokio::sync::watch::Sender<Vec<Option<String>>>>);

impl Targets {
    pub fn new(slots: usize) -> Self {
        Self(Arc::new(tokio::sync::watch::Sender::new(vec![None; slots])))
    }

    /// `addr` is the process's `host:port`, or `None` while it is down.
    pub fn set(&self, slot: usize, addr: Option<String>) {
        self.0.send_modify(|slots| slots[slot] = addr);
    }

    /// The first slot from `from` that is up and is not `avoid`.
    fn pick(slots: &[Option<String>], from: usize, avoid: Option<&str>) -> Option<String> {
        (0..slots.len())
            .filter_map(|i| slots[(from + i) % slots.len()].clone())
            .find(|addr| Some(addr.as_str()) != avoid)
    }
}

#[derive(Clone, Copy)]
pub struct LoadConfig {
    pub connections: usize,
    /// Message ids start with this (one scenario, one database, one prefix).
    pub prefix: &'static str,
    /// Every n-th valid reply says "interested" (rules DM those); others say hello.
    pub interested_every: Option<usize>,
}

/// What the senders saw.
#[derive(Default)]
pub struct Outcome {
    /// Every valid webhook posted at least once.
    pub sent: HashSet<String>,
    /// Valid webhooks answered 2xx.
    pub acked: HashSet<String>,
    /// Answers that are not the documented ones (a 2xx for an invalid body, a 5xx
    /// other than the documented 503, a `duplicate` for a first delivery, …).
    pub wrong: Vec<String>,
    /// Documented 503s (`unavailable` with `Retry-After`).
    pub unavailable: usize,
    /// Requests that got no answer (connection refused, reset, timed out).
    pub no_answer: usize,
    /// Invalid webhooks posted (malformed envelope, bad signature).
    pub invalid_sent: usize,
    /// Answers that took longer than 2 s: (sent at, took, status or 0 for none).
    pub slow: Vec<(Instant, Duration, u16)>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.sent.extend(other.sent);
        self.acked.extend(other.acked);
        self.wrong.extend(other.wrong);
        self.unavailable += other.unavailable;
        self.no_answer += other.no_answer;
        self.invalid_sent += other.invalid_sent;
        self.slow.extend(other.slow);
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    senders: Vec<JoinHandle<Outcome>>,
}

impl Load {
    pub fn start(config: LoadConfig, targets: Targets) -> Self {
        starling::actions::outbound::init_tls();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(config.connections)
            .build()
            .unwrap();
        let key = Arc::new(SigningKey::parse(SECRET).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let senders = (0..config.connections)
            .map(|n| {
                let sender = Sender {
                    n,
                    config,
                    targets: targets.clone(),
                    client: client.clone(),
                    key: key.clone(),
                    stop: stop.clone(),
                    acked: acked.clone(),
                    seen: Outcome::default(),
                };
                tokio::spawn(sender.run())
            })
            .collect();
        Self {
            stop,
            acked,
            senders,
        }
    }

    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits until `more` webhooks beyond those acknowledged now are acknowledged.
    pub async fn wait_for_more(&self, more: usize, limit: Duration) -> bool {
        let target = self.acked() + more;
        crate::poll_until(limit, async || self.acked() >= target).await
    }

    /// Stops the senders (each finishes the request it is making) and merges what they saw.
    pub async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Outcome::default();
        for sender in self.senders {
            all.merge(sender.await.expect("a sender panicked"));
        }
        all
    }
}

struct Sender {
    n: usize,
    config: LoadConfig,
    targets: Targets,
    client: reqwest::Client,
    key: Arc<SigningKey>,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    seen: Outcome,
}

/// What one posting got back.
enum Answer {
    Status(u16, String, bool),
    None,
}

impl Sender {
    async fn run(mut self) -> Outcome {
        for k in 1.. {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let id = format!("{}-{}-{k}", self.config.prefix, self.n);
            match k % 16 {
                5 => self.invalid(&id, Invalid::Malformed).await,
                13 => self.invalid(&id, Invalid::BadSignature).await,
                _ => self.valid(&id, k).await,
            }
        }
        self.seen
    }

    /// Delivers one valid reply until it is acknowledged (or the load stops).
    async fn valid(&mut self, id: &str, k: usize) {
        let interested = self
            .config
            .interested_every
            .is_some_and(|e| k.is_multiple_of(e));
        let text = if interested {
            "I'm interested, tell me more."
        } else {
            "Hello there."
        };
        let body = reply(id, text);
        self.seen.sent.insert(id.to_string());
        let mut failed: Option<String> = None;
        for attempt in 0.. {
            if attempt > 0 && self.stop.load(Ordering::Relaxed) {
                return;
            }
            let Some(addr) = self.target(failed.as_deref()).await else {
                return;
            };
            match self.post(&addr, id, &body, true).await {
                Answer::None => {
                    failed = Some(addr);
                }
                Answer::Status(200, text, _) => {
                    let ack: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    let status = ack["status"].as_str().unwrap_or_default();
                    let first = attempt == 0;
                    if !ack["event_id"].is_i64()
                        || !(status == "created" || (status == "duplicate" && !first))
                    {
                        self.seen
                            .wrong
                            .push(format!("{id}: 200 {text} (attempt {attempt})"));
                    }
                    self.seen.acked.insert(id.to_string());
                    self.acked.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Answer::Status(503, text, retry_after) => {
                    self.unavailable(id, &text, retry_after);
                    failed = None;
                    // Sleep stays: not a wait for an event but the pause a sender
                    // makes before retrying a 503, as Scrapely's retries do (the
                    // load must not spin).
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Answer::Status(status, text, _) => {
                    self.seen.wrong.push(format!("{id}: {status} {text}"));
                    return;
                }
            }
        }
    }

    /// Posts a webhook that must be refused: never 2xx, never stored.
    async fn invalid(&mut self, id: &str, how: Invalid) {
        let Some(addr) = self.target(None).await else {
            return;
        };
        self.seen.invalid_sent += 1;
        let (body, signed, expected) = match how {
            // Authentic, but a reply without its conversation: 422, quarantined.
            Invalid::Malformed => {
                let mut v: serde_json::Value = serde_json::from_slice(&reply(id, "x")).unwrap();
                v["data"].as_object_mut().unwrap().remove("conversation_id");
                (serde_json::to_vec(&v).unwrap(), true, 422)
            }
            Invalid::BadSignature => (reply(id, "forged"), false, 401),
        };
        match self.post(&addr, id, &body, signed).await {
            Answer::None => {}
            Answer::Status(503, text, retry_after) => self.unavailable(id, &text, retry_after),
            Answer::Status(status, text, _) if status != expected => self
                .seen
                .wrong
                .push(format!("{id} ({how:?}): {status} {text}")),
            Answer::Status(..) => {}
        }
    }

    fn unavailable(&mut self, id: &str, text: &str, retry_after: bool) {
        let body: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        if body["error"] == "unavailable" && retry_after {
            self.seen.unavailable += 1;
        } else {
            self.seen.wrong.push(format!(
                "{id}: 503 {text} (Retry-After: {retry_after}), not the documented one"
            ));
        }
    }

    /// An address to post to, waiting while every process is down: woken when
    /// a process comes up, and looking at the stop flag at least every 100 ms.
    async fn target(&self, avoid: Option<&str>) -> Option<String> {
        let mut changes = self.targets.0.subscribe();
        loop {
            let picked = Targets::pick(&changes.borrow_and_update(), self.n, avoid);
            if picked.is_some() {
                return picked;
            }
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), changes.changed()).await;
        }
    }

    async fn post(&mut self, addr: &str, id: &str, body: &[u8], signed: bool) -> Answer {
        let msg_id = format!("msg_{id}");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = match signed {
            true => self.key.sign(&msg_id, now, body),
            false => "v1,Zm9yZ2VkIHNpZ25hdHVyZQ==".to_string(),
        };
        let started = Instant::now();
        let result = self
            .client
            .post(format!("http://{addr}/webhooks/scrapely/{TOKEN}"))
            .header("content-type", "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
            .await;
        let answer = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                match response.text().await {
                    Ok(text) => Answer::Status(status, text, retry_after),
                    Err(_) => Answer::None,
                }
            }
            Err(_) => Answer::None,
        };
        let took = started.elapsed();
        if took > Duration::from_secs(2) {
            let status = match &answer {
                Answer::Status(s, ..) => *s,
                Answer::None => 0,
            };
            self.seen.slow.push((started, took, status));
        }
        if matches!(answer, Answer::None) {
            self.seen.no_answer += 1;
        }
        answer
    }
}

#[derive(Debug, Clone, Copy)]
enum Invalid {
    Malformed,
    BadSignature,
}

/// A seed `new_reply` with this message id and text.
pub fn reply(message_id: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "event": "new_reply",
        "timestamp": "2024-02-28T12:00:00.000Z",
        "data": {
            "conversation_id": crate::fake_vendor::CONVERSATION,
            "account_handle": "yourhandle",
            "receiver": {"screen_name": "prospect", "name": "John Doe"},
            "message": {"id": message_id, "text": text, "created_at": "2024-02-28T12:00:00.000Z"}
        }
    }))
    .unwrap()
}
