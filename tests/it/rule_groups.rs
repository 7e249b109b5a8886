//! Rules that do what their author means: `unless_keywords:` vetoes, exclusive
//! `group:`s (one tag per reply by construction, in the server and in `rules
//! test`), the conflicting-tags warning, and `rules test --events` batches.

use crate::helpers::{Backend, TestApp, new_reply};
use crate::on_both_backends;
use serde_json::Value;
use starling::rules::load::load_sources;
use starling::store::Store;

on_both_backends!(a_group_fires_one_rule_per_reply_by_priority_and_unless_vetoes);

/// Three tagging rules in one group, the refusal first; the interest rule also
/// vetoes negations itself.
const TAGGING: &str = r#"
- name: interested
  on: scrapely.new_reply
  group: crm-tag
  keywords: [interested, demo]
  unless_keywords: ["not interested", "no thanks"]
  do:
    - action: scrapely.update_crm
      with: { tag: interested_reply }
- name: refusal
  on: scrapely.new_reply
  group: crm-tag
  priority: 10
  keywords: ["no thanks", "not interested", "not now"]
  do:
    - action: scrapely.update_crm
      with: { tag: not_interested }
- name: anything else
  on: scrapely.new_reply
  group: crm-tag
  priority: -1
  do:
    - action: scrapely.update_crm
      with: { tag: neutral_reply }
- name: always alert
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "reply {{ data.message.id }}" }
"#;

fn reply(id: &str, text: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&new_reply(id)).unwrap();
    v["data"]["message"]["text"] = text.into();
    serde_json::to_vec(&v).unwrap()
}

/// (message id, rule) of every fired match.
async fn fired(app: &TestApp) -> Vec<(String, String)> {
    let sql = "SELECT e.dedupe_key, m.rule FROM rule_matches m JOIN events e ON e.id = m.event_id \
               WHERE m.outcome = 'fired' ORDER BY m.id";
    let rows: Vec<(String, String)> = match &app.store {
        Store::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
    };
    rows
}

async fn a_group_fires_one_rule_per_reply_by_priority_and_unless_vetoes(backend: Backend) {
    let app = TestApp::builder(backend)
        .rules(&[("crm.yaml", TAGGING)])
        .start()
        .await;
    let replies = [
        ("1", "Interested! Can we do a demo?"),
        ("2", "No thanks, not interested."),
        ("3", "Interested, but not now."),
        ("4", "Who is this?"),
    ];
    for (id, text) in replies {
        let answer = app.post("/webhooks/scrapely", reply(id, text)).await;
        assert_eq!(answer.status(), 200);
    }
    let found = fired(&app).await;
    let rules_of = |id: &str| -> Vec<String> {
        found
            .iter()
            .filter(|(key, _)| key.ends_with(&format!(":{id}")) || key == id)
            .map(|(_, r)| r.clone())
            .collect()
    };
    assert_eq!(rules_of("1"), ["interested", "always alert"], "{found:?}");
    // Both keyword lists hit; the refusal's priority wins, the interest rule never fires.
    assert_eq!(rules_of("2"), ["refusal", "always alert"], "{found:?}");
    assert_eq!(rules_of("3"), ["refusal", "always alert"], "{found:?}");
    assert_eq!(
        rules_of("4"),
        ["anything else", "always alert"],
        "{found:?}"
    );
    app.stop().await;
}

#[test]
fn a_failing_rule_takes_its_group_so_a_lower_rule_never_sets_another_tag() {
    let yaml = r#"
- name: broken first
  on: scrapely.new_reply
  group: crm-tag
  priority: 5
  do:
    - action: scrapely.update_crm
      with: { tag: interested_reply, notes: "{{ data.receiver.id }}" }
- name: fallback
  on: scrapely.new_reply
  group: crm-tag
  do:
    - action: scrapely.update_crm
      with: { tag: neutral_reply }
"#;
    let set = load_sources(&[("r.yaml".into(), yaml.into())]).unwrap();
    let event: Value = serde_json::from_slice(&new_reply("9")).unwrap();
    let ctx = starling::rules::testing::sample_context(&event).unwrap();
    let decided: Vec<(String, bool)> = set
        .evaluate(&ctx)
        .iter()
        .map(|m| {
            let failed = matches!(m.outcome, starling::rules::Outcome::Failed(_));
            (m.rule.name.clone(), failed)
        })
        .collect();
    assert_eq!(decided, [("broken first".to_string(), true)]);
}

fn warnings(yaml: &str) -> Vec<String> {
    let set = load_sources(&[("r.yaml".into(), yaml.into())]).unwrap();
    set.warnings.iter().map(|w| w.to_string()).collect()
}

fn problems(yaml: &str) -> Vec<String> {
    match load_sources(&[("r.yaml".into(), yaml.into())]) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn rules_that_can_set_different_tags_outside_a_group_are_warned_about() {
    let ungrouped = TAGGING.replace("  group: crm-tag\n", "");
    let found = warnings(
        &ungrouped
            .replace("  priority: 10\n", "")
            .replace("  priority: -1\n", ""),
    );
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].contains("rules `interested` and `refusal` can both set a CRM tag")
            && found[0].contains("group:"),
        "{found:#?}"
    );
    assert!(warnings(TAGGING).is_empty(), "{:#?}", warnings(TAGGING));
    // The same tag twice is no conflict.
    let same = TAGGING
        .replace("  group: crm-tag\n", "")
        .replace("  priority: 10\n", "")
        .replace("  priority: -1\n", "")
        .replace("not_interested", "interested_reply")
        .replace("neutral_reply", "interested_reply");
    assert!(warnings(&same).is_empty(), "{:#?}", warnings(&same));
}

#[test]
fn group_priority_and_unless_keywords_are_checked() {
    let base = "- name: x\n  on: scrapely.new_reply\n  do:\n    - action: slack.post\n      with: { text: hi }\n";
    let lonely = base.replace("  do:", "  priority: 3\n  do:");
    assert!(
        problems(&lonely)
            .iter()
            .any(|p| p.contains("r.yaml:3:13") && p.contains("expected a `group:`")),
        "{:#?}",
        problems(&lonely)
    );
    let bad = base.replace("  do:", "  group: g\n  priority: high\n  do:");
    assert!(
        problems(&bad)
            .iter()
            .any(|p| p.contains("`high` is not an integer")),
        "{:#?}",
        problems(&bad)
    );
    let both = base.replace(
        "  do:",
        "  unless_keywords: [a]\n  not_keywords: [b]\n  do:",
    );
    assert!(
        problems(&both).iter().any(|p| p.contains("not both")),
        "{:#?}",
        problems(&both)
    );
    let no_text = base
        .replace("scrapely.new_reply", "scrapely.account_paused")
        .replace("  do:", "  unless_keywords: [a]\n  do:");
    assert!(
        problems(&no_text)
            .iter()
            .any(|p| p.contains("unless_keywords: events of kind")),
        "{:#?}",
        problems(&no_text)
    );
}

#[test]
fn rules_test_events_gives_one_result_per_line_with_groups_applied() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crm.yaml"), TAGGING).unwrap();
    let lines: Vec<String> = ["Interested in a demo", "No thanks, not interested.", "hmm"]
        .iter()
        .enumerate()
        .map(|(i, text)| String::from_utf8(reply(&format!("m{i}"), text)).unwrap())
        .chain(["{not json".to_string()])
        .collect();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, lines.join("\n") + "\n").unwrap();
    let run = |format: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
            .args(["rules", "test", "--dir"])
            .arg(dir.path())
            .arg("--events")
            .arg(&events)
            .args(["--format", format])
            .env_clear()
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run("json");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The bad line fails the run, after every line was answered.
    assert!(!out.status.success(), "{stdout}");
    let results: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), 4, "{stdout}");
    let fired = |r: &Value| -> Vec<String> {
        r["fired"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(fired(&results[0]), ["interested", "always alert"]);
    assert_eq!(results[0]["id"], "m0");
    assert_eq!(
        results[0]["fired"][0]["actions"][0]["params"]["tag"],
        "interested_reply"
    );
    assert_eq!(fired(&results[1]), ["refusal", "always alert"]);
    assert_eq!(fired(&results[2]), ["anything else", "always alert"]);
    assert_eq!(results[3]["line"], 4);
    assert!(
        results[3]["error"].as_str().unwrap().contains("not JSON"),
        "{stdout}"
    );
    let table = String::from_utf8_lossy(&run("table").stdout).to_string();
    assert!(table.contains("4 events, 3 with a rule firing"), "{table}");
    let csv = String::from_utf8_lossy(&run("csv").stdout).to_string();
    assert!(csv.starts_with("line,intent,fired,errors\n"), "{csv}");
    assert!(
        csv.contains("\n2,not_interested,\"refusal; always alert\",\"\"\n"),
        "{csv}"
    );
    assert_eq!(results[1]["intent"]["label"], "not_interested");
}

/// The shipped `rules/crm.yaml` over every reply of the intent corpus's dev
/// split, through `rules test --events`: never two tags on one reply, an
/// `unsubscribe` always blocks the person, and interest is tagged as such.
#[test]
fn the_shipped_crm_rules_give_each_dev_reply_at_most_one_tag() {
    let dev = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/replies/dev.jsonl"
    ))
    .unwrap();
    let labelled: Vec<(String, String)> = dev
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["text"].as_str().unwrap().to_string(),
                v["label"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("dev_replies.jsonl");
    let lines: Vec<String> = labelled
        .iter()
        .enumerate()
        .map(|(i, (text, _))| String::from_utf8(reply(&format!("dev{i}"), text)).unwrap())
        .collect();
    std::fs::write(&events, lines.join("\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling"))
        .args([
            "rules",
            "test",
            "--dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
            "--format",
            "json",
            "--events",
        ])
        .arg(&events)
        .env_clear()
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), labelled.len());
    let (mut interested, mut tagged_interested) = (0, 0);
    for (result, (text, label)) in results.iter().zip(&labelled) {
        let actions: Vec<&Value> = result["fired"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["actions"].as_array().unwrap())
            .collect();
        let tags: Vec<&Value> = actions
            .iter()
            .filter(|a| a["action"] == "scrapely.update_crm")
            .map(|a| &a["params"]["tag"])
            .collect();
        assert!(tags.len() <= 1, "two tags on {text:?}: {result}");
        if label == "unsubscribe" {
            assert!(
                actions
                    .iter()
                    .any(|a| a["action"] == "starling.do_not_contact"),
                "an unsubscribe not blocked: {text:?}: {result}"
            );
        }
        if label == "interested" {
            interested += 1;
            tagged_interested +=
                usize::from(tags.first().is_some_and(|t| *t == "interested_reply"));
        }
    }
    assert!(
        tagged_interested * 100 >= interested * 80,
        "{tagged_interested} of {interested} interested replies tagged interested_reply"
    );
}

#[test]
fn the_intent_key_and_function_see_what_the_reply_means() {
    let yaml = r#"
- name: hot lead
  on: scrapely.new_reply
  intent: [interested]
  min_confidence: 0.5
  do:
    - action: slack.post
      with: { text: "{{ data.intent.label }} / {{ intent('stop messaging me').label }}" }
"#;
    let set = load_sources(&[("r.yaml".into(), yaml.into())]).unwrap();
    let verdict = |text: &str| {
        let event: Value = serde_json::from_slice(&reply("1", text)).unwrap();
        let ctx = starling::rules::testing::sample_context(&event).unwrap();
        starling::rules::testing::explain(&set, &set.rules[0], &ctx)
    };
    match verdict("Sounds great, send me a calendar link") {
        starling::rules::testing::Verdict::Matched { actions, .. } => {
            assert_eq!(actions[0].params["text"], "interested / unsubscribe")
        }
        other => panic!("{other:?}"),
    }
    match verdict("No thanks, not interested.") {
        starling::rules::testing::Verdict::NotMatched(why) => {
            assert!(why.contains("reads as `not_interested`"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    let bad = yaml.replace("[interested]", "[intrested]");
    assert!(
        problems(&bad)
            .iter()
            .any(|p| p.contains("unknown label `intrested`")
                && p.contains("did you mean `interested`?")),
        "{:#?}",
        problems(&bad)
    );
    let lonely = yaml.replace("  intent: [interested]\n", "");
    assert!(
        problems(&lonely)
            .iter()
            .any(|p| p.contains("min_confidence: applies to `intent:`"))
    );
}
