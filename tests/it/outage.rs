//! PostgreSQL stopped under Starling (a throwaway cluster of the test's own):
//! while it is down every webhook is answered 503 with `Retry-After` within 2 s
//! and `/readyz` says why; once it is back, webhooks are stored again within a
//! second, without a restart; nothing that was acknowledged is lost.

use crate::helpers::cluster::Cluster;
use crate::helpers::{Backend, TestApp, TestDb, new_reply, poll_until};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_get_a_prompt_503_while_postgres_is_down_and_resume_after() {
    let cluster = Cluster::start().expect("PostgreSQL binaries under /usr/lib/postgresql");
    let app = TestApp::builder(Backend::Postgres)
        .db(TestDb::external(&cluster.url()))
        .start()
        .await;
    let mut acknowledged = Vec::new();
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("before"))
            .await
            .status(),
        200
    );
    acknowledged.push("before".to_string());

    cluster.stop();
    // Twenty webhooks at once, then twenty more: each answered 503 within 2 s.
    for round in 0..2 {
        let posts = (0..20).map(|i| {
            let id = format!("down-{round}-{i}");
            let app = &app;
            async move {
                let started = Instant::now();
                let response = app.post("/webhooks/scrapely", new_reply(&id)).await;
                (
                    id,
                    response.status().as_u16(),
                    response.headers().contains_key("retry-after"),
                    started.elapsed(),
                )
            }
        });
        for (id, status, retry_after, took) in futures::future::join_all(posts).await {
            assert!(
                took < Duration::from_secs(2),
                "{id}: answered after {took:?}"
            );
            assert_eq!(
                status, 503,
                "{id}: a webhook acknowledged while the database is down"
            );
            assert!(retry_after, "{id}: 503 without Retry-After");
        }
    }
    let started = Instant::now();
    let ready = app
        .client
        .get(format!("http://{}/readyz", app.addr))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(ready.status(), 503);
    let body = ready.text().await.unwrap();
    assert!(body.contains("cannot take commits"), "{body}");

    cluster.start_again();
    let back = Instant::now();
    let mut resumed_after = None;
    let resumed = poll_until(Duration::from_secs(10), async || {
        let id = format!("after-{}", back.elapsed().as_millis());
        let ok = app
            .post("/webhooks/scrapely", new_reply(&id))
            .await
            .status()
            == 200;
        if ok {
            resumed_after = Some(back.elapsed());
            acknowledged.push(id);
        }
        ok
    })
    .await;
    assert!(
        resumed,
        "webhooks were not stored again after the database came back"
    );
    let resumed_after = resumed_after.unwrap();
    // The probe asks every 250 ms; a second is the promise, with slack for a loaded machine.
    assert!(
        resumed_after < Duration::from_millis(1500),
        "resumed after {resumed_after:?}"
    );
    let ready = app
        .client
        .get(format!("http://{}/readyz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    for id in &acknowledged {
        let sql = "SELECT count(*) FROM events WHERE CAST(payload AS TEXT) LIKE $1";
        let pattern = format!("%\"{id}\"%");
        let stored: i64 = crate::on_store!(&app.store, p => sqlx::query_scalar(sql).bind(&pattern).fetch_one(p).await.unwrap());
        assert_eq!(stored, 1, "acknowledged {id} is not stored once");
    }
    assert_eq!(
        app.count("events").await,
        acknowledged.len() as i64,
        "only acknowledged events are stored"
    );
    app.stop().await;
}

/// The console while PostgreSQL is down: each page is answered 503 "the database
/// did not answer" within 2 s (not after the pool's 10 s wait), and reads again
/// once the database is back, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_get_a_prompt_503_while_postgres_is_down_and_read_again_after() {
    let cluster = Cluster::start().expect("PostgreSQL binaries under /usr/lib/postgresql");
    let app = TestApp::builder(Backend::Postgres)
        .db(TestDb::external(&cluster.url()))
        .start()
        .await;
    let page = |path: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app
                .client
                .get(format!("http://{}{path}", app.addr))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap(), started.elapsed())
        }
    };
    assert_eq!(
        app.post("/webhooks/scrapely", new_reply("before"))
            .await
            .status(),
        200
    );
    const PAGES: [&str; 5] = ["/", "/events", "/events/1", "/actions", "/accounts"];
    for path in PAGES {
        assert_eq!(page(path).await.0, 200, "{path} before the outage");
    }

    cluster.stop();
    for path in PAGES {
        let (status, body, took) = page(path).await;
        assert_eq!(status, 503, "{path} while the database is down: {body}");
        assert!(
            body.contains("The database did not answer"),
            "{path}: {body}"
        );
        assert!(
            took < Duration::from_secs(2),
            "{path}: answered after {took:?}"
        );
    }

    cluster.start_again();
    let back = poll_until(Duration::from_secs(10), async || {
        page("/events").await.0 == 200
    })
    .await;
    assert!(
        back,
        "the console did not read again after the database came back"
    );
    for path in PAGES {
        let (status, body, _) = page(path).await;
        assert_eq!(status, 200, "{path} after the outage: {body}");
    }
    app.stop().await;
}
