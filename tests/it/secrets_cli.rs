//! Credentials in rules as users see them outside the database: `rules check`
//! (unknown names are errors, literal credentials warnings), `rules test` and
//! `tests:` blocks (markers), and the logs of the real binary (nothing).

use crate::helpers::fake_vendor::FakeVendor;
use crate::helpers::fixture;
use std::time::Duration;

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
