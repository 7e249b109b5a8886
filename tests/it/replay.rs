//! `starling replay` while `starling serve` runs on the same database: stored
//! events through fixed rules fire only what is new, the running server sends
//! it, and nothing that ran is sent again.

use crate::helpers::fake_vendor::{FakeVendor, SLACK_PATH};
use crate::helpers::{Backend, TestApp, new_reply, settings};
use serde_json::Value;
use starling::cli::audit::Format;
use starling::cli::replay::{ReplayArgs, run};

/// Rule set A: `first` fires on every reply; `picky` on none (its condition is wrong).
const RULES_A: &str = r#"
- name: first
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "first {{ data.message.id }}" }
- name: picky
  on: scrapely.new_reply
  when: data.message.id == "never"
  do:
    - action: slack.post
      with: { text: "picky {{ data.message.id }}" }
"#;

/// Rule set B, the fix: `picky`'s condition now matches `m-2`, and `second` is new.
const RULES_B: &str = r#"
- name: first
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "first {{ data.message.id }}" }
- name: picky
  on: scrapely.new_reply
  when: data.message.id == "m-2"
  do:
    - action: slack.post
      with: { text: "picky {{ data.message.id }}" }
- name: second
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "second {{ data.message.id }}" }
"#;

/// A replay over the last hour as the CLI runs it, its `--format json` report parsed.
async fn replay(app: &TestApp, rule: Option<&str>, until: Option<String>, dry_run: bool) -> Value {
    let dir = app.rules_dir.display().to_string();
    let settings = settings(&app.db, &[("STARLING__RULES__DIR", dir.as_str())]);
    let args = ReplayArgs {
        since: "1h".into(),
        until,
        rule: rule.map(String::from),
        dry_run,
        format: Format::Json,
        dir: None,
    };
    let out = run(&settings, &args).await.expect("the replay runs");
    serde_json::from_str(&out).expect("--format json is JSON")
}

/// The report's tally of `rule`, as (matched, already decided, fired, actions new, actions existing).
fn tally(report: &Value, rule: &str) -> (u64, u64, u64, u64, u64) {
    let t = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap_or_else(|| panic!("no tally for {rule} in {report}"));
    let n = |k: &str| t[k].as_u64().unwrap();
    (
        n("matched"),
        n("already_decided"),
        n("fired"),
        n("actions_new"),
        n("actions_existing"),
    )
}

/// The texts Slack received, sorted.
fn slack_texts(vendor: &FakeVendor) -> Vec<String> {
    let mut texts: Vec<String> = vendor
        .requests("POST", SLACK_PATH)
        .iter()
        .map(|r| r.body["text"].as_str().unwrap_or_default().to_string())
        .collect();
    texts.sort();
    texts
}

/// Rows a dry run must not change: matches, cooldown claims, actions, jobs.
async fn written(app: &TestApp) -> [i64; 4] {
    let jobs = match app.store {
        starling::store::Store::Sqlite(_) => "SELECT COUNT(*) FROM Jobs",
        starling::store::Store::Postgres(_) => "SELECT COUNT(*) FROM apalis.jobs",
    };
    let jobs: i64 =
        crate::on_store!(&app.store, p => sqlx::query_scalar(jobs).fetch_one(p).await.unwrap());
    [
        app.count("rule_matches").await,
        app.count("rule_cooldowns").await,
        app.count("actions").await,
        jobs,
    ]
}

/// `received_at` of the event of reply `message_id`, as RFC 3339 text.
async fn received_at(app: &TestApp, message_id: &str) -> String {
    let sql = match app.store {
        starling::store::Store::Sqlite(_) => {
            "SELECT received_at FROM events WHERE json_extract(payload, '$.data.message.id') = $1"
        }
        starling::store::Store::Postgres(_) => {
            "SELECT to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') \
             FROM events WHERE payload->'data'->'message'->>'id' = $1"
        }
    };
    crate::on_store!(&app.store, p => sqlx::query_scalar(sql).bind(message_id).fetch_one(p).await.unwrap())
}

/// One number of `rule`'s tally.
fn field(report: &Value, rule: &str, key: &str) -> u64 {
    report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .and_then(|r| r[key].as_u64())
        .unwrap_or_else(|| panic!("no {key} for {rule} in {report}"))
}

async fn start(backend: Backend, vendor: &FakeVendor) -> TestApp {
    let app = TestApp::builder(backend)
        .vendor(vendor)
        .quick_actions()
        .rules(&[("rules.yaml", RULES_A)])
        .start()
        .await;
    for id in ["m-1", "m-2", "m-3"] {
        let answer = app.post("/webhooks/scrapely", new_reply(id)).await;
        assert_eq!(answer.status(), 200);
    }
    app.settle().await;
    assert_eq!(slack_texts(vendor), ["first m-1", "first m-2", "first m-3"]);
    app
}

/// After a rule fix, replays fire only the new actions, `--dry-run` writes
/// nothing, `--rule` and `--until` limit, and a second replay is a no-op; the
/// server running on the same database sends each new action once.
async fn a_replay_after_a_rule_fix_fires_only_the_new_actions(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = start(backend, &vendor).await;
    std::fs::write(app.rules_dir.join("rules.yaml"), RULES_B).unwrap();

    // Dry run: says what would be new, writes nothing.
    let before = written(&app).await;
    let dry = replay(&app, None, None, true).await;
    assert_eq!(dry["events"], 3);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["actions_new"], 4, "{dry}");
    assert_eq!(tally(&dry, "first"), (3, 3, 0, 0, 3));
    assert_eq!(tally(&dry, "picky"), (1, 0, 1, 1, 0));
    assert_eq!(tally(&dry, "second"), (3, 0, 3, 3, 0));
    assert_eq!(written(&app).await, before, "a dry run wrote something");

    // --rule: only `picky` decides.
    let picky = replay(&app, Some("picky"), None, false).await;
    assert_eq!(picky["actions_new"], 1, "{picky}");
    assert_eq!(picky["rules"].as_array().unwrap().len(), 1);

    // --until (exclusive): only the reply received before m-2.
    let until = received_at(&app, "m-2").await;
    let early = replay(&app, Some("second"), Some(until), false).await;
    assert_eq!(early["events"], 1, "{early}");
    assert_eq!(tally(&early, "second"), (1, 0, 1, 1, 0));

    // The rest: `second` on m-2 and m-3; everything else was decided already.
    let rest = replay(&app, None, None, false).await;
    assert_eq!(rest["actions_new"], 2, "{rest}");
    assert_eq!(tally(&rest, "first"), (3, 3, 0, 0, 3));
    assert_eq!(tally(&rest, "picky"), (1, 1, 0, 0, 1));
    assert_eq!(tally(&rest, "second"), (3, 1, 2, 2, 1));

    app.settle().await;
    let expected = [
        "first m-1",
        "first m-2",
        "first m-3",
        "picky m-2",
        "second m-1",
        "second m-2",
        "second m-3",
    ];
    assert_eq!(slack_texts(&vendor), expected);
    assert_eq!(app.count("actions").await, 7);
    assert_eq!(app.count("rule_matches").await, 7);

    // Twice: nothing new, nothing sent again.
    let again = replay(&app, None, None, false).await;
    assert_eq!(again["actions_new"], 0, "{again}");
    assert_eq!(tally(&again, "second"), (3, 3, 0, 0, 3));
    app.settle().await;
    assert_eq!(slack_texts(&vendor), expected);
    app.stop().await;
}

/// Two replays racing each other (and the server) on one database: the unique
/// keys decide, every new action is created exactly once.
async fn two_replays_at_once_create_each_action_once(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = start(backend, &vendor).await;
    std::fs::write(app.rules_dir.join("rules.yaml"), RULES_B).unwrap();
    let (a, b) = tokio::join!(
        replay(&app, None, None, false),
        replay(&app, None, None, false)
    );
    let new = a["actions_new"].as_u64().unwrap() + b["actions_new"].as_u64().unwrap();
    assert_eq!(new, 4, "{a}\n{b}");
    app.settle().await;
    assert_eq!(app.count("actions").await, 7);
    assert_eq!(slack_texts(&vendor).len(), 7);
    app.stop().await;
}

const COOLDOWN_B: &str = r#"
- name: first
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "first {{ data.message.id }}" }
- name: once per person
  on: scrapely.new_reply
  cooldown: { key: "{{ data.receiver.screen_name }}", for: 30d }
  do:
    - action: slack.post
      with: { text: "once {{ data.message.id }}" }
"#;

/// A replay claims cooldowns the way live events do, from the replay's time: one
/// of three replies of one person fires, and a reply arriving after the replay
/// is held by the claim the replay took.
async fn a_replay_respects_cooldowns_through_the_same_claim(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = start(backend, &vendor).await;
    std::fs::write(app.rules_dir.join("rules.yaml"), COOLDOWN_B).unwrap();
    let dry = replay(&app, Some("once per person"), None, true).await;
    assert_eq!(dry["actions_new"], 1, "{dry}");
    assert_eq!(field(&dry, "once per person", "held_by_cooldown"), 2);
    let report = replay(&app, None, None, false).await;
    assert_eq!(tally(&report, "once per person"), (3, 0, 1, 1, 0));
    assert_eq!(field(&report, "once per person", "held_by_cooldown"), 2);

    // Once the server has reloaded the fixed rules, a new reply of the same
    // person is held by the claim the replay took.
    let once = "rule_matches WHERE rule = 'once per person'";
    let mut n = 3;
    let decided = crate::helpers::poll_until(std::time::Duration::from_secs(10), async || {
        n += 1;
        let answer = app
            .post("/webhooks/scrapely", new_reply(&format!("m-{n}")))
            .await;
        assert_eq!(answer.status(), 200);
        app.count(once).await == 4
    })
    .await;
    assert!(decided, "the server never decided with the fixed rules");
    assert_eq!(
        app.count("rule_matches WHERE rule = 'once per person' AND outcome = 'fired'")
            .await,
        1
    );
    app.settle().await;
    let sent: Vec<String> = slack_texts(&vendor)
        .into_iter()
        .filter(|t| t.starts_with("once"))
        .collect();
    assert_eq!(sent, ["once m-1"]);
    app.stop().await;
}

const ALERT_ON_PAUSE: &str = r#"
- name: alert on pause
  on: scrapely.account_paused
  do:
    - action: slack.post
      with: { text: "paused {{ data.account_handle }}" }
"#;

/// A replay runs the rules only: an `account_paused` event, replayed after its
/// account was resumed, fires the new rule but does not pause the account again.
async fn a_replayed_pause_fires_its_rules_and_does_not_pause_again(backend: Backend) {
    let vendor = FakeVendor::start().await;
    let app = TestApp::builder(backend)
        .vendor(&vendor)
        .quick_actions()
        .start()
        .await;
    let paused = crate::helpers::fixture("account_paused");
    assert_eq!(app.post("/webhooks/scrapely", paused).await.status(), 200);
    assert_eq!(app.count("paused_accounts").await, 1);
    starling::cli::accounts::resume(&app.store, "yourhandle")
        .await
        .unwrap();
    assert_eq!(app.count("paused_accounts").await, 0);
    std::fs::write(app.rules_dir.join("alert.yaml"), ALERT_ON_PAUSE).unwrap();
    let report = replay(&app, None, None, false).await;
    assert_eq!(tally(&report, "alert on pause"), (1, 0, 1, 1, 0));
    app.settle().await;
    assert_eq!(slack_texts(&vendor), ["paused yourhandle"]);
    assert_eq!(app.count("paused_accounts").await, 0);
    app.stop().await;
}

crate::on_both_backends!(
    a_replay_after_a_rule_fix_fires_only_the_new_actions,
    two_replays_at_once_create_each_action_once,
    a_replay_respects_cooldowns_through_the_same_claim,
    a_replayed_pause_fires_its_rules_and_does_not_pause_again,
);

/// Bad input says what was wrong and what was expected; output to a pipe has no
/// progress bar, only the report and its summary line.
#[tokio::test]
async fn the_command_line_explains_bad_input_and_keeps_pipes_clean() {
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("rules.yaml"), RULES_A).unwrap();
    let dir = rules.path().display().to_string();
    let env = [
        ("STARLING__DATABASE__URL", db.url.as_str()),
        ("STARLING__RULES__DIR", dir.as_str()),
    ];
    let starling = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
            .args(args)
            .env_clear()
            .envs(env)
            .output()
            .expect("the binary runs")
    };
    let out = starling(&["replay", "--since", "24h"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.ends_with(
            "0 new actions queued (the running server, or the next `starling serve`, runs them).\n"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\r') && !stdout.contains('\u{1b}'),
        "{stdout:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\r'));

    let out = starling(&["replay", "--since", "last tuesday"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--since") && err.contains("expected RFC 3339"),
        "{err}"
    );
    let out = starling(&["replay", "--since", "1h", "--rule", "frist"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no rule named `frist`") && err.contains("first, picky"),
        "{err}"
    );

    for args in [
        ["replay", "--help"].as_slice(),
        &["quarantine", "--help"],
        &["quarantine", "list", "--help"],
        &["quarantine", "show", "--help"],
        &["quarantine", "replay", "--help"],
    ] {
        let out = starling(args);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && help.contains("Example: starling"),
            "{args:?}: {help}"
        );
    }
}
