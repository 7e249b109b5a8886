//! The Standard Webhooks signature on Scrapely's webhooks, checked against the
//! published test vectors with an injected clock, on both backends.

use crate::helpers::{Backend, TestApp, fixture};
use crate::on_both_backends;
use serde_json::Value;
use starling::clock::Clock;
use time::OffsetDateTime;

on_both_backends!(standard_webhooks_vectors_are_checked_with_an_injected_clock);

/// The two published Standard Webhooks test vectors: (secret, id, timestamp, body, signature),
/// from `tests/fixtures/standard_webhooks_vectors.json`.
fn vectors() -> Vec<(String, String, i64, String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/standard_webhooks_vectors.json"
    );
    let all: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all.iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (
                s("secret"),
                s("id"),
                v["timestamp"].as_i64().unwrap(),
                s("body"),
                s("signature"),
            )
        })
        .collect()
}

async fn standard_webhooks_vectors_are_checked_with_an_injected_clock(backend: Backend) {
    for (secret, id, ts, body, signature) in vectors() {
        let (secret, id, body, signature) = (
            secret.as_str(),
            id.as_str(),
            body.as_str(),
            signature.as_str(),
        );
        let clock = Clock::Fixed(OffsetDateTime::from_unix_timestamp(ts).unwrap());
        let app = TestApp::builder(backend)
            .env(&[("STARLING__WEBHOOKS__SCRAPELY__SIGNING_SECRET", secret)])
            .clock(clock)
            .start()
            .await;
        let send = |id: &str, ts: i64, sig: &str, body: &str| {
            app.client
                .post(app.url("/webhooks/scrapely"))
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(body.to_string())
                .send()
        };

        // Authentic: the signature passes. The vector bodies are not Scrapely envelopes,
        // so they are kept in quarantine (422), which only authentic bodies reach.
        let response = send(id, ts, signature, body).await.unwrap();
        assert_eq!(
            response.status(),
            422,
            "vector {id} is accepted by the signature check"
        );
        assert_eq!(app.count("quarantine").await, 1);

        // One character changed in the body, in the signature, or in the id: refused.
        let altered_body = body.replacen('t', "T", 1);
        let mut altered_sig = signature.to_string();
        altered_sig.replace_range(5..6, if &signature[5..6] == "A" { "B" } else { "A" });
        for (i, s, b) in [
            (id, signature, altered_body.as_str()),
            (id, altered_sig.as_str(), body),
            ("msg_x", signature, body),
        ] {
            let response = send(i, ts, s, b).await.unwrap();
            assert_eq!(response.status(), 401);
        }
        // A timestamp 301 s off (either way) is refused even with a correct signature for it.
        let key = starling::webhooks::signature::SigningKey::parse(secret).unwrap();
        for off in [ts - 301, ts + 301] {
            let response = send(id, off, &key.sign(id, off, body.as_bytes()), body)
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
            let detail: Value = response.json().await.unwrap();
            assert!(
                detail["detail"].as_str().unwrap().contains("301 s"),
                "{detail}"
            );
        }
        assert_eq!(
            app.count("quarantine").await,
            1,
            "refused deliveries store nothing"
        );

        // A signed Scrapely event is stored.
        let reply = String::from_utf8(fixture("new_reply")).unwrap();
        let response = send(
            "msg_reply",
            ts,
            &key.sign("msg_reply", ts, reply.as_bytes()),
            &reply,
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(app.count("events").await, 1);
        app.stop().await;
    }
}
