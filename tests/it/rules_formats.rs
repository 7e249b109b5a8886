//! `--format json|csv|table` is honoured by `rules check` and by every mode of
//! `rules test` (the `tests:` blocks, one `--event`, `--events`), through the
//! real binary; a run-time undefined value names what the event lacks.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const RULES: &str = r#"
- name: greet
  on: scrapely.new_reply
  intent: [interested]
  do:
    - action: scrapely.update_crm
      with:
        tag: interested_reply
        notes: "from {{ data.receiver.screen_name }}"
  tests:
    - name: interest is tagged
      event:
        event: new_reply
        timestamp: "2024-02-28T12:00:00.000Z"
        data:
          conversation_id: c1
          account_handle: me
          receiver: { screen_name: ann }
          message: { id: "1", text: "Interested, send me a calendar link" }
      expect: { match: true }
    - name: a wrong expectation fails
      event:
        event: new_reply
        timestamp: "2024-02-28T12:00:00.000Z"
        data:
          conversation_id: c2
          account_handle: me
          receiver: { screen_name: ben }
          message: { id: "2", text: "Interested, let's talk" }
      expect: { match: false }
"#;

const BROKEN: &str = r#"
- name: typo
  on: scrapely.new_reply
  do:
    - action: scrapely.update_crm
      with: { tag: "{{ data.mesage.text | lenght }}" }
"#;

fn starling(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(args)
        .env_clear()
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn rules_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    for (name, yaml) in files {
        std::fs::write(dir.path().join("rules").join(name), yaml).unwrap();
    }
    dir
}

#[test]
fn rules_check_reports_problems_as_json_csv_or_lines() {
    let dir = rules_dir(&[("ok.yaml", RULES), ("broken.yaml", BROKEN)]);
    let (ok, out) = starling(dir.path(), &["rules", "check", "rules", "--format", "json"]);
    assert!(!ok);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], false);
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{out}");
    for p in problems {
        assert_eq!(p["severity"], "error");
        assert_eq!(p["file"], "rules/broken.yaml");
        assert_eq!(p["line"], 6);
    }
    let messages: Vec<&str> = problems
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("did you mean `length`")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("did you mean `message`")),
        "{messages:?}"
    );

    let (_, csv) = starling(dir.path(), &["rules", "check", "rules", "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("severity,file,line,column,message"));
    assert_eq!(
        lines
            .filter(|l| l.starts_with("error,rules/broken.yaml,6,"))
            .count(),
        2,
        "{csv}"
    );

    let (_, table) = starling(dir.path(), &["rules", "check", "rules"]);
    assert!(table.contains("rules/broken.yaml:6:"), "{table}");
    assert!(table.ends_with("2 problem(s) found\n"), "{table}");

    std::fs::remove_file(dir.path().join("rules/broken.yaml")).unwrap();
    let (ok, out) = starling(dir.path(), &["rules", "check", "rules", "--format", "json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(ok && report["ok"] == true && report["rules"] == 1, "{out}");
}

#[test]
fn rules_test_blocks_and_one_event_honour_every_format() {
    let dir = rules_dir(&[("r.yaml", RULES)]);
    let (ok, out) = starling(
        dir.path(),
        &["rules", "test", "--dir", "rules", "--format", "json"],
    );
    assert!(!ok, "one test fails");
    let results: Vec<Value> = serde_json::from_str(&out).unwrap();
    let passed: Vec<(&str, bool)> = results
        .iter()
        .map(|r| (r["test"].as_str().unwrap(), r["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        passed,
        [
            ("interest is tagged", true),
            ("a wrong expectation fails", false)
        ]
    );
    assert!(
        results[1]["location"]
            .as_str()
            .unwrap()
            .ends_with("r.yaml:21:7"),
        "{out}"
    );
    let (_, csv) = starling(
        dir.path(),
        &["rules", "test", "--dir", "rules", "--format", "csv"],
    );
    assert!(
        csv.starts_with("rule,test,passed,location,problems\ngreet,interest is tagged,true,"),
        "{csv}"
    );
    let (_, table) = starling(dir.path(), &["rules", "test", "--dir", "rules"]);
    assert!(table.contains("2 tests, 1 passed, 1 failed"), "{table}");

    // One event without a receiver: an error that says what the event lacks.
    let event = dir.path().join("reply.json");
    let reply = r#"{"event":"new_reply","timestamp":"2024-02-28T12:00:00.000Z","data":{"conversation_id":"c9","account_handle":"me","message":{"id":"9","text":"yes, let's book a demo"}}}"#;
    std::fs::write(&event, reply).unwrap();
    let event = event.to_str().unwrap();
    let args = |format| {
        [
            "rules", "test", "--dir", "rules", "--event", event, "--format", format,
        ]
    };
    let (ok, out) = starling(dir.path(), &args("json"));
    assert!(!ok);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["intent"]["label"], "interested", "{out}");
    let error = report["rules"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("undefined value: `data` has no `receiver` in this event"),
        "{error}"
    );
    let (_, csv) = starling(dir.path(), &args("csv"));
    assert!(csv.starts_with("rule,result,detail\ngreet,ERROR,"), "{csv}");
    let (_, table) = starling(dir.path(), &args("table"));
    assert!(table.starts_with("intent: interested ("), "{table}");
}
