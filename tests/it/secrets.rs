//! Credentials in rules never reach the database: `{{ secrets.NAME }}` and
//! credentials written literally are sent to the receiver in clear, while every
//! stored and shown copy (params, matches, attempts, `jobs show`, `audit`, the
//! whole database file) holds only `«secret:NAME»` / `«literal:…»` markers.

use crate::actions::actions;
use crate::helpers::fake_vendor::FakeVendor;
use crate::helpers::{Backend, TestApp, fixture, poll_until};
use crate::on_both_backends;
use std::time::Duration;

const HOOK_PATH: &str = "/slack/services/T111/B111/hooksecret9f8e7d";
const TOKEN: &str = "tok-4b3a2c1d-secretvalue";

const SECRET_RULE: &str = r#"
- name: alert with secrets
  on: scrapely.account_paused
  do:
    - action: slack.post
      with:
        webhook_url: "{{ secrets.HOOK }}"
        text: "@{{ data.account_handle }} was paused"
    - action: http.request
      with:
        url: "http://ADDR/hook/echo?access_token={{ secrets.API_TOKEN }}&page=2"
        headers:
          Authorization: "Bearer {{ secrets.API_TOKEN }}"
        json: { handle: "{{ data.account_handle }}", token: "{{ secrets.api_token }}" }
    - action: http.request
      with:
        url: "http://ADDR/hook/dynamic/{{ secrets[data.account_handle] }}"
"#;

/// Every action's status, in id order, once none is still on its way.
async fn settled(app: &TestApp, count: usize) -> Vec<String> {
    let mut last = Vec::new();
    let done = poll_until(Duration::from_secs(20), async || {
        last = actions(&app.store).await;
        last.len() == count && last.iter().all(|a| a.1 == "succeeded" || a.1 == "dead")
    })
    .await;
    assert!(done, "actions did not settle: {last:?}");
    last.into_iter().map(|a| a.1).collect()
}

/// One column of every row, as text.
async fn texts(app: &TestApp, sql: &'static str) -> Vec<String> {
    crate::on_store!(&app.store, p => sqlx::query_scalar::<_, Option<String>>(sql).fetch_all(p).await.unwrap())
        .into_iter()
        .flatten()
        .collect()
}

/// Everything the database holds, as bytes: the SQLite files (WAL included) or a
/// `pg_dump` of the PostgreSQL database.
fn database_bytes(app: &TestApp) -> Vec<u8> {
    match app.db.pg_name() {
        Some(_) => {
            let out = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(&app.db.url)
                .output()
                .expect("pg_dump runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
        None => {
            let file = app.db.url.trim_start_matches("sqlite://");
            let mut all = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                all.extend(std::fs::read(format!("{file}{suffix}")).unwrap_or_default());
            }
            assert!(!all.is_empty(), "no database file at {file}");
            all
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// `starling ARGS` on `app`'s database: (success, stdout).
fn starling(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(args)
        .env_clear()
        .env("STARLING__DATABASE__URL", &app.db.url)
        .current_dir(app.rules_dir.as_path())
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn a_secret_reference_is_sent_in_clear_and_stored_only_as_its_marker(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let rule = SECRET_RULE.replace("ADDR", &vendor.addr.to_string());
    let hook = format!("http://{}{HOOK_PATH}", vendor.addr);
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("secrets.yaml", rule.as_str())])
        // The environment sets both; `api_token` is the same name in other case.
        .env(&[
            ("STARLING__SECRETS__HOOK", hook.as_str()),
            ("STARLING__SECRETS__API_TOKEN", TOKEN),
        ])
        .start()
        .await;
    let posted = app
        .post("/webhooks/scrapely", fixture("account_paused"))
        .await;
    assert_eq!(posted.status(), 200);

    // The receivers got the values.
    let slack = vendor
        .wait_for("POST", HOOK_PATH, 1, Duration::from_secs(10))
        .await;
    assert_eq!(slack[0].body["text"], "@yourhandle was paused");
    let echo = vendor
        .wait_for("POST", "/hook/echo", 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        echo[0].headers["authorization"].to_str().unwrap(),
        format!("Bearer {TOKEN}")
    );
    assert_eq!(echo[0].query, format!("access_token={TOKEN}&page=2"));
    assert_eq!(echo[0].body["token"], TOKEN);
    // A name known only when the event arrives and not configured: dead, never sent.
    assert_eq!(settled(&app, 3).await, ["succeeded", "succeeded", "dead"]);
    assert!(vendor.requests("GET", "/hook/dynamic").is_empty());
    let errors = texts(&app, "SELECT last_error FROM actions WHERE status = 'dead'").await;
    assert!(
        errors[0].contains("secret `yourhandle` is not configured"),
        "{errors:?}"
    );

    // What is stored shows the markers.
    let params = texts(&app, "SELECT CAST(params AS TEXT) FROM actions ORDER BY id").await;
    assert!(params[0].contains("«secret:HOOK»"), "{params:?}");
    assert!(
        params[1].contains("Bearer «secret:API_TOKEN»"),
        "{params:?}"
    );
    let matches = texts(&app, "SELECT CAST(actions AS TEXT) FROM rule_matches").await;
    assert!(matches[0].contains("«secret:HOOK»"), "{matches:?}");
    let bodies = texts(&app, "SELECT request_body FROM action_attempts").await;
    assert!(
        bodies.iter().any(|b| b.contains("«secret:api_token»")),
        "{bodies:?}"
    );
    // The echo of the Authorization header is scrubbed from the excerpt.
    let excerpts = texts(&app, "SELECT response_excerpt FROM action_attempts").await;
    assert!(
        excerpts
            .iter()
            .any(|e| e.contains("Bearer «secret:API_TOKEN»")),
        "{excerpts:?}"
    );

    // What is shown never has the values.
    let ids: Vec<String> = actions(&app.store)
        .await
        .iter()
        .map(|a| a.0.to_string())
        .collect();
    for id in &ids {
        let (ok, shown) = starling(&app, &["jobs", "show", id]);
        assert!(ok, "{shown}");
        assert!(
            !shown.contains(TOKEN) && !shown.contains("hooksecret"),
            "{shown}"
        );
    }
    let (_, slack_job) = starling(&app, &["jobs", "show", &ids[0]]);
    assert!(slack_job.contains("«secret:HOOK»"), "{slack_job}");
    let (settings, _reader) = crate::helpers::roles::audit_as_reader(&app, &[]).await;
    for sql in [
        "SELECT * FROM audit_log",
        "SELECT * FROM action_attempts",
        "SELECT * FROM rule_matches",
    ] {
        let shown = starling::cli::audit::run_to_string(
            &settings,
            Some(sql),
            starling::cli::audit::Format::Json,
        )
        .await
        .unwrap();
        assert!(
            !shown.contains(TOKEN) && !shown.contains("hooksecret"),
            "{shown}"
        );
    }
    let bytes = database_bytes(&app);
    assert!(contains(&bytes, "yourhandle"), "the dump holds the data");
    for value in [TOKEN, "hooksecret9f8e7d"] {
        assert!(!contains(&bytes, value), "the database holds {value}");
    }
    app.stop().await;
}

const LITERAL_RULE: &str = r#"
- name: literal credentials
  on: scrapely.account_paused
  do:
    - action: http.request
      with:
        url: "http://ADDR/hook/echo?api_key=qk-literal-5e6f7a&page=2"
        headers:
          Authorization: "Bearer sk-literal-1a2b3c4d"
          X-Api-Key: xk-literal-8c9d0e
        json: { handle: "{{ data.account_handle }}" }
"#;

const LITERALS: [&str; 3] = [
    "qk-literal-5e6f7a",
    "sk-literal-1a2b3c4d",
    "xk-literal-8c9d0e",
];

async fn credentials_written_literally_are_sent_but_never_stored(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let rule = LITERAL_RULE.replace("ADDR", &vendor.addr.to_string());
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("literal.yaml", rule.as_str())])
        .start()
        .await;
    let posted = app
        .post("/webhooks/scrapely", fixture("account_paused"))
        .await;
    assert_eq!(posted.status(), 200);
    let echo = vendor
        .wait_for("POST", "/hook/echo", 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        echo[0].headers["authorization"].to_str().unwrap(),
        "Bearer sk-literal-1a2b3c4d"
    );
    assert_eq!(echo[0].headers["x-api-key"].to_str().unwrap(), LITERALS[2]);
    assert_eq!(echo[0].query, "api_key=qk-literal-5e6f7a&page=2");
    assert_eq!(settled(&app, 1).await, ["succeeded"]);

    let params = texts(&app, "SELECT CAST(params AS TEXT) FROM actions").await;
    assert!(params[0].contains("Bearer «literal:"), "{params:?}");
    assert!(params[0].contains("api_key=«literal:"), "{params:?}");
    let id = actions(&app.store).await[0].0.to_string();
    let (ok, shown) = starling(&app, &["jobs", "show", &id]);
    assert!(ok && shown.contains("«literal:"), "{shown}");
    let bytes = database_bytes(&app);
    for value in LITERALS {
        assert!(!contains(&bytes, value), "the database holds {value}");
        assert!(!shown.contains(value), "{shown}");
    }
    app.stop().await;
}

on_both_backends!(
    a_secret_reference_is_sent_in_clear_and_stored_only_as_its_marker,
    credentials_written_literally_are_sent_but_never_stored,
);

const DELAYED_LITERAL: &str = r#"
- name: delayed literal
  on: scrapely.account_paused
  do:
    - action: http.request
      delay: 6s
      with:
        url: "http://ADDR/hook/later"
        headers:
          Authorization: "Bearer sk-before-edit-1234"
"#;

/// The loaded rule set's version, as `/readyz` reports it.
async fn rules_version(app: &TestApp) -> String {
    let ready: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ready["checks"]["rules"]["version"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A pending action whose literal credential an edit removed is never sent
/// without it: it is dead, saying why; with the literal back, `jobs retry` sends it.
async fn a_literal_credential_removed_by_an_edit_fails_its_pending_action_clearly(
    backend: Backend,
) {
    let vendor = FakeVendor::start().await;
    let rule = DELAYED_LITERAL.replace("ADDR", &vendor.addr.to_string());
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .rules(&[("delayed.yaml", rule.as_str())])
        .start()
        .await;
    let file = app.rules_dir.join("delayed.yaml");
    let before = rules_version(&app).await;
    let posted = app
        .post("/webhooks/scrapely", fixture("account_paused"))
        .await;
    assert_eq!(posted.status(), 200);
    std::fs::write(
        &file,
        rule.replace("sk-before-edit-1234", "sk-after-edit-5678"),
    )
    .unwrap();
    let reloaded = poll_until(Duration::from_secs(5), async || {
        rules_version(&app).await != before
    })
    .await;
    assert!(reloaded, "the edit was not loaded");
    assert_eq!(settled(&app, 1).await, ["dead"]);
    let errors = texts(&app, "SELECT last_error FROM actions").await;
    assert!(
        errors[0].contains("no longer in the rule files"),
        "{errors:?}"
    );
    assert!(vendor.requests("GET", "/hook/later").is_empty());

    std::fs::write(&file, &rule).unwrap();
    let restored = poll_until(Duration::from_secs(5), async || {
        rules_version(&app).await == before
    })
    .await;
    assert!(restored, "the restored rule was not loaded");
    let id = actions(&app.store).await[0].0;
    starling::cli::jobs::retry(&app.store, id).await.unwrap();
    let sent = vendor
        .wait_for("GET", "/hook/later", 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        sent[0].headers["authorization"].to_str().unwrap(),
        "Bearer sk-before-edit-1234"
    );
    app.stop().await;
}

mod sqlite_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_literal_credential_removed_by_an_edit_fails_its_pending_action_clearly() {
        super::a_literal_credential_removed_by_an_edit_fails_its_pending_action_clearly(
            crate::helpers::Backend::Sqlite,
        )
        .await
    }
}
