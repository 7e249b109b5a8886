//! The real binary: crash safety under SIGKILL, clean SIGTERM, and logs that
//! never carry a secret even at TRACE level.

use crate::helpers::process::StarlingProcess;
use crate::helpers::{Backend, TestDb, new_reply};
use crate::on_both_backends;
use starling::store::Store;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

on_both_backends!(every_acknowledged_webhook_survives_sigkill);

async fn every_acknowledged_webhook_survives_sigkill(backend: Backend) {
    const ACKNOWLEDGED_BEFORE_KILL: usize = 200;
    let db = TestDb::new(backend).await;
    let mut server = StarlingProcess::start(&[("STARLING__DATABASE__URL", &db.url)]);
    let url = server.url("/webhooks/scrapely");
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let enough = Arc::new(Notify::new());
    let client = crate::helpers::http();

    // 16 senders keep posting unique replies; the server is killed mid-stream.
    let mut senders = Vec::new();
    for sender in 0..16 {
        let (client, url, acked, enough) =
            (client.clone(), url.clone(), acked.clone(), enough.clone());
        senders.push(tokio::spawn(async move {
            for n in 0.. {
                let id = format!("{sender}-{n}");
                let Ok(response) = client.post(&url).body(new_reply(&id)).send().await else {
                    break;
                };
                if response.status() != 200 {
                    break;
                }
                let mut all = acked.lock().unwrap();
                all.push(id);
                if all.len() >= ACKNOWLEDGED_BEFORE_KILL {
                    enough.notify_one();
                }
            }
        }));
    }
    tokio::time::timeout(std::time::Duration::from_secs(60), enough.notified())
        .await
        .expect("the server acknowledges webhooks");
    server.kill9();
    for sender in senders {
        sender.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= ACKNOWLEDGED_BEFORE_KILL);

    // Restart on the same database: every acknowledged event is there.
    let restarted = StarlingProcess::start(&[("STARLING__DATABASE__URL", &db.url)]);
    let store = Store::connect(&db.url, 2).await.unwrap();
    let keys: Vec<String> = match &store {
        Store::Sqlite(pool) => sqlx::query_scalar("SELECT dedupe_key FROM events")
            .fetch_all(pool)
            .await
            .unwrap(),
        Store::Postgres(pool) => sqlx::query_scalar("SELECT dedupe_key FROM events")
            .fetch_all(pool)
            .await
            .unwrap(),
    };
    let stored: std::collections::HashSet<String> = keys.into_iter().collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !stored.contains(&format!("scrapely:new_reply:{id}")))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost after SIGKILL: {lost:?}",
        lost.len()
    );
    store.close().await;
    let (status, _) = restarted.terminate();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_and_exits_zero() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server = StarlingProcess::start(&[("STARLING__DATABASE__URL", &db.url)]);
    let response = crate::helpers::http()
        .post(server.url("/webhooks/scrapely"))
        .body(new_reply("before-term"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, logs) = server.terminate();
    assert!(status.success(), "exit status {status}; log:\n{logs}");
    assert!(logs.contains("Starling stopped"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_trace_logs() {
    use base64::Engine;
    let db = TestDb::new(Backend::Postgres).await;
    // PostgreSQL here trusts local connections, so a password in the URL is accepted
    // (and must never be logged).
    let db_url = db.url.replacen(
        "postgres://postgres@",
        "postgres://postgres:pw-SECRET-db@",
        1,
    );
    let signing_secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode("SECRET-signing-key-material")
    );
    let token = "tok-SECRET-url-token";
    // Actions really call out (a fake Scrapely and Slack), with the key in a header
    // and the Slack credential in the URL's path.
    let vendor = crate::helpers::fake_vendor::FakeVendor::start().await;
    let scrapely_url = vendor.base_url();
    let slack_url = format!("http://{}/slack/services/T0/B0/SECRET-slack", vendor.addr);
    let server = StarlingProcess::start(&[
        ("RUST_LOG", "trace"),
        ("STARLING__DATABASE__URL", &db_url),
        ("STARLING__WEBHOOKS__SCRAPELY__TOKEN", token),
        (
            "STARLING__WEBHOOKS__SCRAPELY__SIGNING_SECRET",
            &signing_secret,
        ),
        ("STARLING__SCRAPELY__API_KEY", "key-SECRET-scrapely"),
        ("STARLING__SCRAPELY__BASE_URL", &scrapely_url),
        ("STARLING__SLACK__WEBHOOK_URL", &slack_url),
    ]);
    let client = crate::helpers::http();
    let key = starling::webhooks::signature::SigningKey::parse(&signing_secret).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = new_reply("secret-check");
    let good = client
        .post(server.url(&format!("/webhooks/scrapely/{token}")))
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", key.sign("msg_1", now, &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
    let bad_signature = client
        .post(server.url(&format!("/webhooks/scrapely/{token}")))
        .header("webhook-id", "msg_2")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", "v1,AAAA")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_signature.status(), 401);
    let wrong_token = client
        .post(server.url("/webhooks/scrapely/not-the-token"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 401);
    let paused = crate::helpers::fixture("account_paused");
    let alert = client
        .post(server.url(&format!("/webhooks/scrapely/{token}")))
        .header("webhook-id", "msg_3")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", key.sign("msg_3", now, &paused))
        .body(paused)
        .send()
        .await
        .unwrap();
    assert_eq!(alert.status(), 200);
    let timeout = std::time::Duration::from_secs(15);
    // The CRM rule reads the conversation's tag and notes first; the fake refuses this key (401).
    let lookup = vendor
        .wait_for("GET", "/api/v1/conversations", 1, timeout)
        .await;
    assert_eq!(lookup[0].api_key.as_deref(), Some("key-SECRET-scrapely"));
    vendor
        .wait_for("POST", "/slack/services/T0/B0/SECRET-slack", 1, timeout)
        .await;

    let (status, logs) = server.terminate();
    assert!(status.success());
    assert!(logs.contains("TRACE"), "the log really is at TRACE level");
    let leaks: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("SECRET") || l.contains(&signing_secret[6..20]))
        .collect();
    assert!(
        leaks.is_empty(),
        "secrets in the log:\n{}",
        leaks.join("\n")
    );
}
