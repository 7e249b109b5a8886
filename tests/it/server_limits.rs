//! What a slow or idle client can hold: half-sent headers and idle keep-alive
//! connections are closed after `server.header_timeout_secs`, a stalled body is
//! answered 408 after `server.body_timeout_secs`, and no more than
//! `server.max_connections` are served at once.

use crate::helpers::{Backend, TestApp};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; returns what it sent, or
/// `None` if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed() {
    let app = TestApp::builder(Backend::Sqlite)
        .env(&[
            ("STARLING__SERVER__HEADER_TIMEOUT_SECS", "1"),
            ("STARLING__SERVER__BODY_TIMEOUT_SECS", "1"),
        ])
        .start()
        .await;
    // Twenty clients that send half a request and stop (slowloris).
    let mut half_open = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"POST /webhooks/scrapely HTTP/1.1\r\nHost: starling\r\n")
            .await
            .unwrap();
        half_open.push(s);
    }
    for s in &mut half_open {
        assert!(
            closed_within(s, Duration::from_secs(10)).await.is_some(),
            "a half-sent request stayed open"
        );
    }
    // A kept-alive connection that goes quiet after one answer.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: starling\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_within(&mut idle, Duration::from_secs(10))
        .await
        .expect("the idle connection was closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A body that stalls halfway.
    let mut stalled = TcpStream::connect(app.addr).await.unwrap();
    stalled
        .write_all(b"POST /webhooks/scrapely HTTP/1.1\r\nHost: starling\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"event\":")
        .await
        .unwrap();
    let answer = closed_within(&mut stalled, Duration::from_secs(10))
        .await
        .expect("the stalled body was answered");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert_eq!(app.count("events").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_their_turn() {
    let app = TestApp::builder(Backend::Sqlite)
        .env(&[
            ("STARLING__SERVER__MAX_CONNECTIONS", "2"),
            ("STARLING__SERVER__HEADER_TIMEOUT_SECS", "30"),
        ])
        .start()
        .await;
    let first = TcpStream::connect(app.addr).await.unwrap();
    let _second = TcpStream::connect(app.addr).await.unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    let url = format!("http://{}/healthz", app.addr);
    assert!(
        client.get(&url).send().await.is_err(),
        "a third connection was served past the cap"
    );
    drop(first);
    let served = crate::helpers::poll_until(Duration::from_secs(10), async || {
        client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(served, "a freed slot serves the next connection");
    app.stop().await;
}
