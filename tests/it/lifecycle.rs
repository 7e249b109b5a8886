//! The action lifecycle is one module: no other code writes `actions.status`,
//! and the database itself refuses a status or an outcome outside the enums.

use crate::helpers::{Backend, TestDb};
use crate::{on_both_backends, on_store};
use starling::store::Store;
use std::path::Path;

/// Every `UPDATE actions SET …` in `src/` that sets `status` outside the
/// lifecycle module (file, line).
fn status_updates_outside_lifecycle(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            status_updates_outside_lifecycle(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("store/lifecycle.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // SQL spans Rust line continuations: judge each statement up to its WHERE.
        let flat = text.replace("\\\n", " ");
        let upper = flat.to_uppercase();
        for (at, _) in upper.match_indices("UPDATE ACTIONS") {
            let statement = &upper[at..];
            let end = statement.find("WHERE").unwrap_or(statement.len().min(400));
            let set = statement[..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let sets_status = set
                .split([',', ' '])
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| (w[0] == "STATUS" && w[1] == "=") || w[0] == "STATUS=");
            if sets_status {
                let line = flat[..at].lines().count();
                found.push(format!(
                    "{}:{line}: {}",
                    path.display(),
                    &set[..set.len().min(80)]
                ));
            }
        }
    }
}

#[test]
fn no_module_but_the_lifecycle_changes_an_action_status() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    status_updates_outside_lifecycle(&src, &mut found);
    assert!(
        found.is_empty(),
        "status changes outside src/store/lifecycle.rs:\n{}",
        found.join("\n")
    );
    // The check can see one: the lifecycle module itself has several.
    let lifecycle = std::fs::read_to_string(src.join("store/lifecycle.rs")).unwrap();
    assert!(lifecycle.matches("UPDATE actions SET status").count() >= 5);
}

on_both_backends!(the_database_refuses_an_unknown_status_or_outcome);

async fn the_database_refuses_an_unknown_status_or_outcome(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let event = "INSERT INTO events (source, kind, dedupe_key, received_at, last_seen_at, payload) \
                 VALUES ('scrapely', 'scrapely.new_reply', 'k1', 'now', 'now', '{}') RETURNING id";
    let action = "INSERT INTO actions (event_id, rule, action_index, kind, params, status, run_at, created_at, updated_at) \
                  VALUES ($1, 'r', 0, 'slack.post', '{}', $2, 0, 0, 0) RETURNING id";
    let attempt = "INSERT INTO action_attempts (action_id, series, attempt, worker, started_at, outcome) \
                   VALUES ($1, 1, 1, 'w', 0, $2) RETURNING id";
    let id = on_store!(&store, pool => {
        let event_id: i64 = sqlx::query_scalar(event).fetch_one(pool).await.unwrap();
        let refused = sqlx::query_scalar::<_, i64>(action).bind(event_id).bind("sent").fetch_one(pool).await;
        assert_refused(refused.map(|_| ()), "actions_status_known");
        let id: i64 = sqlx::query_scalar(action).bind(event_id).bind("pending").fetch_one(pool).await.unwrap();
        let refused = sqlx::query("UPDATE actions SET status = 'done' WHERE id = $1").bind(id).execute(pool).await;
        assert_refused(refused.map(|_| ()), "actions_status_known");
        let refused = sqlx::query_scalar::<_, i64>(attempt).bind(id).bind("ok").fetch_one(pool).await;
        assert_refused(refused.map(|_| ()), "action_attempts_outcome_known");
        let attempt_id: i64 = sqlx::query_scalar(attempt).bind(id).bind(None::<String>).fetch_one(pool).await.unwrap();
        let refused = sqlx::query("UPDATE action_attempts SET outcome = 'fine' WHERE id = $1")
            .bind(attempt_id).execute(pool).await;
        assert_refused(refused.map(|_| ()), "action_attempts_outcome_known");
        sqlx::query("UPDATE action_attempts SET outcome = 'abandoned' WHERE id = $1")
            .bind(attempt_id).execute(pool).await.unwrap();
        id
    });
    // What the checks let through reads back typed.
    let got = starling::store::actions::get(&store, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, starling::store::status::ActionStatus::Pending);
}

fn assert_refused(result: Result<(), sqlx::Error>, constraint: &str) {
    let error = result.expect_err("the database accepted a value outside the enum");
    assert!(error.to_string().contains(constraint), "{error}");
}

#[test]
fn the_readme_diagram_is_the_lifecycle_table() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let diagram = format!("```mermaid\n{}\n```", starling::store::lifecycle::diagram());
    assert!(
        readme.contains(&diagram),
        "README.md should show:\n{diagram}"
    );
}
