//! `starling audit`: read-only SQL, refused writes, on both backends.

use crate::helpers::{Backend, fixture, spawn_app};
use crate::on_both_backends;
use starling::cli::audit::{Format, run};

on_both_backends!(audit_reads_and_refuses_every_write);

async fn audit_reads_and_refuses_every_write(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.post("/webhooks/scrapely", fixture("new_reply"))
            .await
            .status(),
        200
    );
    let url = app.db.url.clone();

    let latest = run(&url, None, Format::Csv).await.unwrap();
    assert!(latest.starts_with("id,kind,dedupe_key"), "{latest}");
    assert!(latest.contains("scrapely:new_reply:1234567890123456789"));

    let json = run(
        &url,
        Some("SELECT kind, sightings FROM events"),
        Format::Json,
    )
    .await
    .unwrap();
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows[0]["kind"], "scrapely.new_reply");
    assert_eq!(rows[0]["sightings"], 1);

    let attach = if backend == Backend::Sqlite {
        "ATTACH DATABASE 'elsewhere.db' AS elsewhere"
    } else {
        "ATTACH DATABASE 'elsewhere' AS elsewhere"
    };
    for write in [
        "DELETE FROM events",
        "UPDATE events SET kind = 'x'",
        "DROP TABLE events",
        "INSERT INTO quarantine (source, channel, received_at, reason, body) VALUES ('x','x','2024-01-01T00:00:00Z','x', x'00')",
        "CREATE TABLE sneaky (id INTEGER)",
        attach,
    ] {
        let result = run(&url, Some(write), Format::Table).await;
        assert!(result.is_err(), "{write} was not refused");
    }
    assert_eq!(
        app.count("events WHERE kind = 'scrapely.new_reply'").await,
        1
    );
    assert_eq!(app.count("quarantine").await, 0);
    app.stop().await;
}
