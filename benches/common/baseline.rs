//! The ingest bench's two baseline servers (`#[path]` module), run as child
//! processes of the bench (`--serve bare`, `--serve group-commit DB_URL`): `bare`
//! parses the JSON and answers; `group-commit` group-commits one INSERT per request
//! into the same database with the same durability as Starling.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use starling::store::sqlite_options;
use tokio::sync::{mpsc, oneshot};

pub async fn serve(kind: &str, db_url: Option<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let router = match kind {
        "bare" => Router::new().route("/webhooks/scrapely", post(bare)),
        "group-commit" => {
            let writer = GroupCommit::start(&db_url.expect("a database URL")).await;
            Router::new()
                .route("/webhooks/scrapely", post(insert))
                .with_state(writer)
        }
        other => panic!("unknown baseline {other}"),
    };
    println!("LISTENING {}", listener.local_addr().unwrap());
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        term.recv().await;
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .unwrap();
}

async fn bare(body: Bytes) -> StatusCode {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

type Insert = (String, String, oneshot::Sender<()>);

#[derive(Clone)]
struct GroupCommit(mpsc::Sender<Insert>);

impl GroupCommit {
    async fn start(url: &str) -> Self {
        let (tx, mut rx) = mpsc::channel::<Insert>(2048);
        if url.starts_with("sqlite:") {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(sqlite_options(url).unwrap())
                .await
                .unwrap();
            sqlx::query("CREATE TABLE bench_events (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL)").execute(&pool).await.unwrap();
            tokio::spawn(async move {
                let mut group = Vec::new();
                while rx.recv_many(&mut group, 512).await > 0 {
                    let mut tx = pool.begin().await.unwrap();
                    for (key, payload, _) in &group {
                        sqlx::query("INSERT INTO bench_events (key, payload) VALUES (?1, ?2)")
                            .bind(key)
                            .bind(payload)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                    }
                    tx.commit().await.unwrap();
                    for (_, _, done) in group.drain(..) {
                        let _ = done.send(());
                    }
                }
            });
        } else {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(url)
                .await
                .unwrap();
            sqlx::query("CREATE TABLE bench_events (id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL UNIQUE, payload JSONB NOT NULL)").execute(&pool).await.unwrap();
            tokio::spawn(async move {
                let mut group = Vec::new();
                while rx.recv_many(&mut group, 512).await > 0 {
                    let mut tx = pool.begin().await.unwrap();
                    for (key, payload, _) in &group {
                        sqlx::query(
                            "INSERT INTO bench_events (key, payload) VALUES ($1, $2::jsonb)",
                        )
                        .bind(key)
                        .bind(payload)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    }
                    tx.commit().await.unwrap();
                    for (_, _, done) in group.drain(..) {
                        let _ = done.send(());
                    }
                }
            });
        }
        Self(tx)
    }
}

async fn insert(State(writer): State<GroupCommit>, body: Bytes) -> StatusCode {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let key = value["data"]["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (done, committed) = oneshot::channel();
    writer.0.send((key, value.to_string(), done)).await.unwrap();
    match committed.await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}
