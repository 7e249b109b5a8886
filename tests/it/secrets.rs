//! Credentials in rules never reach the database: `{{ secrets.NAME }}` and
//! credentials written literally are sent to the receiver in clear, while every
//! stored and shown copy (params, matches, attempts, `jobs show`, `audit`, the
//! whole database file) holds only `«secret:NAME»` / `«literal:…»` markers.

use crate::actions::{actions, spawn};
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
    let (app, _rules) = spawn(
        backend,
        &vendor,
        Some(&[("secrets.yaml", rule.as_str())]),
        // The environment sets both; `api_token` is the same name in other case.
        &[
            ("STARLING__SECRETS__HOOK", hook.as_str()),
            ("STARLING__SECRETS__API_TOKEN", TOKEN),
        ],
    )
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
    let (app, _rules) = spawn(
        backend,
        &vendor,
        Some(&[("literal.yaml", rule.as_str())]),
        &[],
    )
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

const CHECKED: &str = r#"- name: alert
  on: scrapely.account_paused
  do:
    - action: slack.post
      with:
        text: "paused: {{ data.account_handle }}"
        webhook_url: "{{ secrets.SLACK_HOKO }}"
    - action: http.request
      with:
        url: "https://api.example.com/v1/notify?api_key=ak-literal-77aa&who={{ data.account_handle }}"
        headers:
          Authorization: "Bearer sk-literal-99bb"
"#;

/// `starling ARGS` outside any database, in `dir`: (success, stdout + stderr).
fn starling_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("the binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn rules_check_names_an_unknown_secret_and_warns_about_literal_credentials() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.yaml"), CHECKED).unwrap();
    let env = [(
        "STARLING__SECRETS__SLACK_HOOK",
        "https://hooks.slack.com/services/T0/B0/hookvalue",
    )];
    let (ok, out) = starling_in(dir.path(), &["rules", "check", "."], &env);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "r.yaml:7:34: with.webhook_url: unknown secret `SLACK_HOKO`; did you mean `SLACK_HOOK`?"
        ),
        "{out}"
    );

    let fixed = CHECKED.replace("SLACK_HOKO", "slack_hook");
    std::fs::write(dir.path().join("r.yaml"), &fixed).unwrap();
    let (ok, out) = starling_in(dir.path(), &["rules", "check", "."], &env);
    assert!(ok, "{out}");
    assert!(
        out.contains("r.yaml:10:57: warning: with.url holds a credential written in the rule file"),
        "{out}"
    );
    assert!(
        out.contains("r.yaml:12:34: warning: with.headers.Authorization holds a credential"),
        "{out}"
    );
    assert!(
        out.contains("move it to [secrets] and write {{ secrets.NAME }}"),
        "{out}"
    );
    assert!(
        out.contains("1 rules OK") && out.contains("2 warning(s)"),
        "{out}"
    );
    // Without the secret configured, the reference is an error again.
    let (ok, out) = starling_in(dir.path(), &["rules", "check", "."], &[]);
    assert!(!ok && out.contains("unknown secret `slack_hook`"), "{out}");

    // `rules test` shows what would be stored: markers, never values.
    let event = format!(
        "{}/tests/fixtures/scrapely/account_paused.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let args = [
        "rules", "test", "--dir", ".", "--event", &event, "--format", "json",
    ];
    let (ok, out) = starling_in(dir.path(), &args, &env);
    assert!(ok, "{out}");
    assert!(out.contains("«secret:slack_hook»"), "{out}");
    assert!(out.contains("Bearer «literal:"), "{out}");
    for value in ["hookvalue", "ak-literal-77aa", "sk-literal-99bb"] {
        assert!(!out.contains(value), "{out}");
    }
}

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
    let (app, _rules) = spawn(
        backend,
        &vendor,
        Some(&[("delayed.yaml", rule.as_str())]),
        &[],
    )
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

const TESTED_LITERAL: &str = r#"
- name: alert by a literal hook
  on: scrapely.leads_exhausted
  do:
    - action: slack.post
      with:
        webhook_url: https://hooks.slack.com/services/T9/B9/literalhookvalue
        text: "{{ data.campaign_name }} ran dry"
  tests:
    - name: the hook and the text
      event:
        event: leads_exhausted
        timestamp: "2024-02-28T12:00:00.000Z"
        data: { campaign_id: c1, campaign_name: Founders, account_handle: yourhandle, total_sent: 5 }
      expect:
        match: true
        actions:
          - with: { webhook_url: https://hooks.slack.com/services/T9/B9/literalhookvalue, text: Founders ran dry }
"#;

/// A rule's `tests:` may spell out the literal it sends; what it renders (and
/// `rules test` shows) is the marker.
#[test]
fn a_rule_test_naming_a_literal_credential_passes_while_the_rendering_is_masked() {
    let set =
        starling::rules::load::load_sources(&[("r.yaml".into(), TESTED_LITERAL.into())]).unwrap();
    let results = starling::rules::testing::run_tests(&set);
    assert!(results.iter().all(|r| r.problems.is_empty()), "{results:?}");
    assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    let event = serde_json::json!({"event": "leads_exhausted", "timestamp": "2024-02-28T12:00:00.000Z", "data": {"campaign_id": "c1", "campaign_name": "X", "account_handle": "yourhandle", "total_sent": 5}});
    let ctx = starling::rules::testing::sample_context(&event).unwrap();
    let shown = format!(
        "{:?}",
        starling::rules::testing::explain(&set, &set.rules[0], &ctx)
    );
    assert!(
        shown.contains("«literal:") && !shown.contains("literalhookvalue"),
        "{shown}"
    );
}

const LOGGED_RULE: &str = r#"
- name: alert with secrets
  on: scrapely.account_paused
  do:
    - action: slack.post
      with:
        webhook_url: "{{ secrets.HOOK }}"
        text: "@{{ data.account_handle }} was paused"
    - action: http.request
      with:
        url: "http://ADDR/hook/echo?token={{ secrets.TOKEN }}"
        headers:
          Authorization: "Bearer {{ secrets.TOKEN }}"
          X-Api-Key: SECRET-literal-key
"#;

/// The real binary at TRACE level sends rule credentials and logs none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_credentials_never_appear_in_trace_logs() {
    let vendor = FakeVendor::start().await;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("r.yaml"),
        LOGGED_RULE.replace("ADDR", &vendor.addr.to_string()),
    )
    .unwrap();
    let db = format!("sqlite://{}", tmp.path().join("s.db").display());
    let rules = tmp.path().display().to_string();
    let hook = format!(
        "http://{}/slack/services/T0/B0/SECRET-rule-hook",
        vendor.addr
    );
    let server = crate::helpers::process::StarlingProcess::start(&[
        ("RUST_LOG", "trace"),
        ("STARLING__DATABASE__URL", &db),
        ("STARLING__RULES__DIR", &rules),
        ("STARLING__SECRETS__HOOK", &hook),
        ("STARLING__SECRETS__TOKEN", "SECRET-rule-token"),
    ]);
    let posted = crate::helpers::http()
        .post(server.url("/webhooks/scrapely"))
        .body(fixture("account_paused"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let timeout = Duration::from_secs(15);
    vendor
        .wait_for("POST", "/slack/services/T0/B0/SECRET-rule-hook", 1, timeout)
        .await;
    let echo = vendor.wait_for("GET", "/hook/echo", 1, timeout).await;
    assert_eq!(echo[0].headers["x-api-key"], "SECRET-literal-key");
    let (status, logs) = server.terminate();
    assert!(status.success());
    assert!(logs.contains("TRACE"), "the log really is at TRACE level");
    let leaks: Vec<&str> = logs.lines().filter(|l| l.contains("SECRET")).collect();
    assert!(
        leaks.is_empty(),
        "secrets in the log:\n{}",
        leaks.join("\n")
    );
}
