//! Fake stream vendors on 127.0.0.1, over real sockets: a WebSocket server that
//! checks the key the way each vendor documents (header, Bearer, query string),
//! records every connection and client message, answers a text `ping` with
//! `pong`, and can be told to send messages, ping frames, close codes or to drop
//! the connection; and an SSE server with Scrapest's token endpoint.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as WsRequest, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// How the fake checks the key.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `x-api-key: KEY` (Scrapest).
    Header(&'static str, String),
    /// `Authorization: Bearer KEY` (Scrapest's subscription WebSocket).
    Bearer(String),
    /// `?api_key=KEY` (ScrapeBadger).
    Query(&'static str, String),
}

#[derive(Debug, Clone)]
pub struct Conn {
    pub uri: String,
    pub headers: HashMap<String, String>,
    pub at: Instant,
}

enum Cmd {
    Text(String),
    Ping,
    Close(u16, String),
    Drop,
}

#[derive(Default)]
struct WsInner {
    connections: Vec<Conn>,
    refused: Vec<Instant>,
    /// (connection index, text) of every client message.
    received: Vec<(usize, String)>,
    pongs: usize,
    senders: Vec<mpsc::UnboundedSender<Cmd>>,
}

#[derive(Clone)]
pub struct FakeWs {
    pub addr: SocketAddr,
    inner: Arc<Mutex<WsInner>>,
    changed: Arc<Notify>,
}

impl FakeWs {
    pub async fn start(auth: Auth) -> Self {
        Self::start_on("127.0.0.1:0", auth).await
    }

    /// [`FakeWs::start`] on a given address: a stream pointed at a port where
    /// nothing listened yet finds a server there from now on.
    pub async fn start_on(addr: &str, auth: Auth) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let fake = FakeWs {
            addr: listener.local_addr().unwrap(),
            inner: Arc::default(),
            changed: Arc::default(),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(server.clone().serve(tcp, auth.clone()));
            }
        });
        fake
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    async fn serve(self, tcp: tokio::net::TcpStream, auth: Auth) {
        let seen: Arc<Mutex<Option<(Conn, bool)>>> = Arc::default();
        let record = seen.clone();
        // The handshake callback's signature is tungstenite's.
        #[allow(clippy::result_large_err)]
        let check = move |req: &WsRequest, resp: WsResponse| -> Result<WsResponse, ErrorResponse> {
            let headers: HashMap<String, String> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            let uri = req.uri().to_string();
            let ok = match &auth {
                Auth::Header(name, key) => headers.get(*name) == Some(key),
                Auth::Bearer(key) => headers.get("authorization") == Some(&format!("Bearer {key}")),
                Auth::Query(name, key) => uri.contains(&format!("{name}={key}")),
            };
            *record.lock().unwrap() = Some((
                Conn {
                    uri,
                    headers,
                    at: Instant::now(),
                },
                ok,
            ));
            if ok {
                Ok(resp)
            } else {
                let mut refused = ErrorResponse::new(Some("Invalid API Key".into()));
                *refused.status_mut() = StatusCode::UNAUTHORIZED;
                Err(refused)
            }
        };
        let accepted = tokio_tungstenite::accept_hdr_async(tcp, check).await;
        let (conn, ok) = seen.lock().unwrap().take().expect("the callback ran");
        let Ok(mut ws) = accepted
            .map_err(|_| ())
            .and_then(|ws| if ok { Ok(ws) } else { Err(()) })
        else {
            self.inner.lock().unwrap().refused.push(conn.at);
            self.changed.notify_waiters();
            return;
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let index = {
            let mut inner = self.inner.lock().unwrap();
            inner.connections.push(conn);
            inner.senders.push(tx);
            inner.connections.len() - 1
        };
        self.changed.notify_waiters();
        loop {
            tokio::select! {
                incoming = ws.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if text.as_str() == "ping" {
                            let _ = ws.send(Message::text("pong")).await;
                        }
                        self.inner.lock().unwrap().received.push((index, text.to_string()));
                        self.changed.notify_waiters();
                    }
                    Some(Ok(Message::Pong(_))) => {
                        self.inner.lock().unwrap().pongs += 1;
                        self.changed.notify_waiters();
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Text(text)) => { let _ = ws.send(Message::text(text)).await; }
                    Some(Cmd::Ping) => { let _ = ws.send(Message::Ping(Bytes::from_static(b"hb"))).await; }
                    Some(Cmd::Close(code, reason)) => {
                        let frame = CloseFrame { code: code.into(), reason: reason.into() };
                        let _ = ws.close(Some(frame)).await;
                        // Let the client's close reply arrive, then end.
                        let _ = tokio::time::timeout(Duration::from_secs(1), ws.next()).await;
                        break;
                    }
                    Some(Cmd::Drop) | None => break,
                },
            }
        }
    }

    fn command(&self, cmd: Cmd) {
        let inner = self.inner.lock().unwrap();
        inner.senders.last().expect("a connection").send(cmd).ok();
    }

    /// Sends `text` on the newest connection.
    pub fn send(&self, text: impl Into<String>) {
        self.command(Cmd::Text(text.into()));
    }
    pub fn ping(&self) {
        self.command(Cmd::Ping);
    }
    pub fn close(&self, code: u16, reason: &str) {
        self.command(Cmd::Close(code, reason.into()));
    }
    /// Ends the TCP connection with no close frame (an abnormal closure, 1006).
    pub fn drop_connection(&self) {
        self.command(Cmd::Drop);
    }

    pub fn connections(&self) -> Vec<Conn> {
        self.inner.lock().unwrap().connections.clone()
    }
    pub fn refused(&self) -> Vec<Instant> {
        self.inner.lock().unwrap().refused.clone()
    }
    pub fn received(&self) -> Vec<(usize, String)> {
        self.inner.lock().unwrap().received.clone()
    }
    pub fn pongs(&self) -> usize {
        self.inner.lock().unwrap().pongs
    }

    /// Waits until `done` holds (panics after `timeout`, describing what was seen).
    pub async fn wait(&self, what: &str, timeout: Duration, done: impl Fn(&FakeWs) -> bool) {
        let seen = || {
            format!(
                "connections {}, refused {}, received {:?}",
                self.connections().len(),
                self.refused().len(),
                self.received()
            )
        };
        wait_for(&self.changed, what, timeout, || done(self), seen).await;
    }

    pub async fn wait_connections(&self, n: usize) -> Vec<Conn> {
        self.wait(&format!("{n} connections"), Duration::from_secs(20), |f| {
            f.connections().len() >= n
        })
        .await;
        self.connections()
    }
}

#[derive(Default)]
struct SseInner {
    tokens_issued: Vec<Option<String>>,
    valid: HashSet<String>,
    connections: Vec<(HashMap<String, String>, HeaderMap)>,
    refused: usize,
    current: Option<mpsc::UnboundedSender<Bytes>>,
}

/// Scrapest's SSE: `POST /stream/token` (x-api-key) and `GET /stream[?token=]`.
#[derive(Clone)]
pub struct FakeSse {
    pub addr: SocketAddr,
    key: Option<String>,
    inner: Arc<Mutex<SseInner>>,
    changed: Arc<Notify>,
}

impl FakeSse {
    /// `key`: `None` for the public stream (no token needed).
    pub async fn start(key: Option<&str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeSse {
            addr: listener.local_addr().unwrap(),
            key: key.map(str::to_string),
            inner: Arc::default(),
            changed: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/stream/token", axum::routing::post(issue))
            .route("/stream", axum::routing::get(stream))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    pub fn url(&self) -> String {
        format!("http://{}/stream", self.addr)
    }

    /// Writes raw SSE text to the open stream.
    pub fn push(&self, raw: &str) {
        let inner = self.inner.lock().unwrap();
        inner
            .current
            .as_ref()
            .expect("a stream is open")
            .send(Bytes::from(raw.to_string()))
            .unwrap();
    }

    /// Every issued token stops working.
    pub fn expire_tokens(&self) {
        self.inner.lock().unwrap().valid.clear();
    }

    /// Ends the open stream (the client reconnects).
    pub fn end_stream(&self) {
        self.inner.lock().unwrap().current = None;
    }

    /// The x-api-key of each token request.
    pub fn token_requests(&self) -> Vec<Option<String>> {
        self.inner.lock().unwrap().tokens_issued.clone()
    }
    /// Query parameters and headers of each accepted stream connection.
    pub fn connections(&self) -> Vec<(HashMap<String, String>, HeaderMap)> {
        self.inner.lock().unwrap().connections.clone()
    }
    pub fn refused(&self) -> usize {
        self.inner.lock().unwrap().refused
    }

    pub async fn wait(&self, what: &str, done: impl Fn(&FakeSse) -> bool) {
        let seen = || {
            format!(
                "token requests {:?}, connections {}, refused {}",
                self.token_requests(),
                self.connections().len(),
                self.refused()
            )
        };
        wait_for(
            &self.changed,
            what,
            Duration::from_secs(20),
            || done(self),
            seen,
        )
        .await;
    }
}

/// Waits, woken by `changed`, until `done` holds; panics after `timeout` with `seen()`.
async fn wait_for(
    changed: &Notify,
    what: &str,
    timeout: Duration,
    done: impl Fn() -> bool,
    seen: impl Fn() -> String,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = changed.notified();
        if done() {
            return;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() && !done() {
            panic!("waited {timeout:?} for {what}; {}", seen());
        }
    }
}

async fn issue(State(fake): State<FakeSse>, headers: HeaderMap) -> Response {
    let given = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut inner = fake.inner.lock().unwrap();
    inner.tokens_issued.push(given.clone());
    fake.changed.notify_waiters();
    if given.is_none() || given != fake.key {
        return (StatusCode::UNAUTHORIZED, "Invalid API Key").into_response();
    }
    let token = format!("tok-{}", inner.tokens_issued.len());
    inner.valid.insert(token.clone());
    axum::Json(serde_json::json!({ "token": token })).into_response()
}

async fn stream(State(fake): State<FakeSse>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut inner = fake.inner.lock().unwrap();
    if fake.key.is_some() && !query.get("token").is_some_and(|t| inner.valid.contains(t)) {
        inner.refused += 1;
        fake.changed.notify_waiters();
        return (StatusCode::UNAUTHORIZED, "token expired").into_response();
    }
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    inner.current = Some(tx);
    inner.connections.push((query, headers));
    fake.changed.notify_waiters();
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}
