//! `rules check`: every kind of problem, each at its file, line and column.

use starling::rules::load::load_sources;

/// Loads one file `r.yaml` and returns its problems as "line:col: message".
fn problems(yaml: &str) -> Vec<String> {
    match load_sources(&[("r.yaml".to_string(), yaml.to_string())]) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .0
            .iter()
            .map(|e| format!("{}:{}: {}", e.pos.line, e.pos.column, e.message))
            .collect(),
    }
}

fn assert_problem(yaml: &str, at: &str, contains: &[&str]) {
    let found = problems(yaml);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with(&format!("{at}: ")) && contains.iter().all(|c| p.contains(c))),
        "expected a problem at {at} containing {contains:?}; got {found:#?}"
    );
}

const OK: &str = "- name: ok\n  on: scrapely.new_reply\n  do:\n    - action: slack.post\n      with: { text: hi }\n";

#[test]
fn a_valid_rule_has_no_problems() {
    assert!(problems(OK).is_empty(), "{:?}", problems(OK));
}

#[test]
fn yaml_syntax_errors_are_located() {
    assert_problem(
        "- name: x\n  on: [scrapely.new_reply\n",
        "3:1",
        &["YAML syntax error"],
    );
    assert_problem("name: x\non: tweet\n", "1:1", &["expected a list of rules"]);
}

#[test]
fn unknown_keys_suggest_the_right_one() {
    let yaml = OK.replace("  on:", "  whn: x == 1\n  on:");
    assert_problem(
        &yaml,
        "2:3",
        &[
            "unknown key `whn`",
            "did you mean `when`?",
            "expected one of: name, description",
        ],
    );
    let yaml = OK.replace("      with:", "      dealy: 5m\n      with:");
    assert_problem(
        &yaml,
        "5:7",
        &["unknown key `dealy` in an action", "did you mean `delay`?"],
    );
}

#[test]
fn missing_name_on_and_do_are_reported() {
    assert_problem(
        "- on: tweet\n  do:\n    - action: slack.post\n      with: {text: x}\n",
        "1:3",
        &["missing `name`"],
    );
    assert_problem(
        "- name: x\n  do:\n    - action: slack.post\n      with: {text: x}\n",
        "1:3",
        &["missing `on`", "scrapely.new_reply"],
    );
    assert_problem("- name: x\n  on: tweet\n", "1:3", &["missing `do`"]);
}

#[test]
fn duplicate_names_are_reported_at_both_places() {
    let found = problems(&format!("{OK}{OK}"));
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("6:9: duplicate rule name `ok`; also defined at r.yaml:1:9")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("1:9: duplicate rule name `ok`; also defined at r.yaml:6:9")),
        "{found:?}"
    );
}

#[test]
fn unknown_event_kinds_and_actions_are_named() {
    let yaml = OK.replace("scrapely.new_reply", "scrapely.new_replies");
    assert_problem(
        &yaml,
        "2:7",
        &[
            "unknown event kind `scrapely.new_replies`",
            "did you mean `scrapely.new_reply`?",
        ],
    );
    let yaml = OK.replace("slack.post", "slack.posts");
    assert_problem(
        &yaml,
        "4:15",
        &[
            "unknown action `slack.posts`",
            "did you mean `slack.post`?",
            "scrapely.send_dm",
        ],
    );
}

#[test]
fn action_parameters_are_checked() {
    let yaml = OK.replace("with: { text: hi }", "with: { txt: hi }");
    assert_problem(
        &yaml,
        "5:15",
        &[
            "unknown parameter `txt` of slack.post",
            "did you mean `text`?",
        ],
    );
    assert_problem(
        &yaml,
        "4:7",
        &["missing required parameter `text` of slack.post"],
    );
    let crm = "- name: c\n  on: scrapely.new_reply\n  do:\n    - action: scrapely.update_crm\n      with: { deal_value: lots }\n";
    assert_problem(crm, "5:27", &["with.deal_value: `lots` is not a number"]);
}

#[test]
fn jinja_errors_point_inside_the_rule_file() {
    let yaml = OK.replace("  do:", "  when: data.message.text | length >\n  do:");
    assert_problem(
        &yaml,
        "3:37",
        &["when: Jinja syntax error", "unexpected end"],
    );
    let yaml = OK.replace(
        "with: { text: hi }",
        "with: { text: \"hi {{ data.x | }}\" }",
    );
    assert_problem(
        &yaml,
        "5:37",
        &["with.text: Jinja syntax error", "expected identifier"],
    );
    let block = OK.replace(
        "with: { text: hi }",
        "with:\n        text: |\n          line one\n          {% if x %}unclosed\n",
    );
    let found = problems(&block);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("8:") && p.contains("with.text: Jinja syntax error")),
        "{found:?}"
    );
    let braces = OK.replace("  do:", "  when: \"{{ data.x }}\"\n  do:");
    assert_problem(&braces, "3:20", &["drop the `{{ }}`"]);
}

#[test]
fn bad_durations_and_regular_expressions_are_located() {
    let yaml = OK.replace("      with:", "      delay: soon\n      with:");
    assert_problem(&yaml, "5:14", &["delay: `soon` is not a duration", "30d"]);
    let yaml = OK.replace(
        "  do:",
        "  cooldown: { key: \"{{ data.account_handle }}\", for: 3 fortnights }\n  do:",
    );
    assert_problem(
        &yaml,
        "3:54",
        &["cooldown.for: `3 fortnights` is not a duration"],
    );
    let yaml = OK.replace(
        "  do:",
        "  when: data.message.text is matches_regex('(unclosed')\n  do:",
    );
    assert_problem(&yaml, "3:45", &["invalid regular expression `(unclosed`"]);
}

#[test]
fn keywords_need_an_event_with_text() {
    let yaml = "- name: k\n  on: scrapely.account_paused\n  keywords: [x]\n  do:\n    - action: slack.post\n      with: { text: hi }\n";
    assert_problem(yaml, "3:13", &["carry no text"]);
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let yaml = "- name: a\n  on: tweets\n  do:\n    - action: nope\n- name: b\n  on: tweet\n  whne: x\n  do: []\n";
    assert_eq!(problems(yaml).len(), 4, "{:#?}", problems(yaml));
}

#[test]
fn null_is_a_value_only_where_scrapely_takes_one() {
    let crm = "- name: c\n  on: scrapely.new_reply\n  do:\n    - action: scrapely.update_crm\n      with: { tag: null, notes: ~ }\n";
    assert_eq!(problems(crm), Vec::<String>::new());
    let rules = load_sources(&[("r.yaml".to_string(), crm.to_string())]).unwrap();
    let yaml = OK.replace("with: { text: hi }", "with: { text: null }");
    assert_problem(
        &yaml,
        "5:21",
        &[
            "with.text: null is not a value for `text`",
            "no parameter of slack.post is nullable",
        ],
    );
    let dm = "- name: d\n  on: scrapely.new_reply\n  do:\n    - action: scrapely.send_dm\n      with: { message: ~ }\n";
    assert_problem(dm, "5:24", &["null is not a value for `message`"]);
    drop(rules);
}

#[test]
fn unknown_filters_tests_and_fields_are_refused_with_did_you_mean() {
    let yaml = r#"- name: typo
  on: scrapely.new_reply
  when: data.message.text | lenght > 3 and data.mesage.text is matchs_regex("x")
  do:
    - action: slack.post
      with: { text: "{{ dat.x }} {{ event.kindd }} {{ data.receiver.screen_nam }}" }
"#;
    assert_problem(
        yaml,
        "3:29",
        &["unknown filter `lenght`", "did you mean `length`?"],
    );
    assert_problem(
        yaml,
        "3:64",
        &[
            "unknown test `matchs_regex`",
            "did you mean `matches_regex`?",
        ],
    );
    assert_problem(
        yaml,
        "3:49",
        &[
            "`data.mesage` is not a field of scrapely.new_reply events",
            "did you mean `message`?",
        ],
    );
    assert_problem(
        yaml,
        "6:25",
        &["unknown variable `dat`", "did you mean `data`?"],
    );
    assert_problem(
        yaml,
        "6:43",
        &[
            "`event.kindd` is not a field of `event`",
            "did you mean `kind`?",
        ],
    );
    assert_problem(
        yaml,
        "6:69",
        &["`data.receiver.screen_nam`", "did you mean `screen_name`?"],
    );
    assert_eq!(problems(yaml).len(), 6, "{:#?}", problems(yaml));
}

#[test]
fn a_did_you_mean_only_offers_filters_and_tests_that_exist() {
    // minijinja has no `containing` test: it used to be suggested for itself.
    let when = |condition: &str| OK.replace("  do:", &format!("  when: '{condition}'\n  do:"));
    let yaml = when(r#"data.message.text is containing("interested")"#);
    assert_problem(&yaml, "3:31", &["unknown test `containing`", "\" in text"]);
    // `length` is a filter, not a test: it is not offered for `is lenght`.
    let typo = when("data.message.text is lenght");
    assert_problem(&typo, "3:31", &["unknown test `lenght`"]);
    for found in [problems(&yaml), problems(&typo)] {
        assert!(
            found.iter().all(|p| !p.contains("did you mean")),
            "{found:#?}"
        );
    }
    // What it is offered instead passes.
    let fine =
        when(r#""interested" in data.message.text and data.message.text is startingwith("I")"#);
    assert!(problems(&fine).is_empty(), "{:#?}", problems(&fine));
}

#[test]
fn documented_fields_open_payloads_and_template_variables_pass_the_static_checks() {
    let yaml = r#"- name: fine
  on: [tweet, telegram.message]
  when: data.text | lower is has_keyword("launch") and data.entities.hashtags is defined
  do:
    - action: slack.post
      with:
        text: "{% for w in data.text.split() %}{{ loop.index }} {{ w | upper }}{% endfor %} {{ data.chat.anything | default('') }} {{ now }} {{ event.received_at }} '| not a filter'"
- name: replies
  on: scrapely.new_reply
  when: data.message is not none and "a | b" in data.message.text.lower()
  do:
    - action: scrapely.update_crm
      with: { tag: interested_reply, notes: "{{ data.receiver.screen_name | truncate(10) }} {{ data.message.created_at }}" }
"#;
    assert!(problems(yaml).is_empty(), "{:#?}", problems(yaml));
    // `tweet` is only there on tweet rules.
    let wrong = "- name: t\n  on: scrapely.new_reply\n  when: tweet.text == 'x'\n  do:\n    - action: slack.post\n      with: { text: hi }\n";
    assert!(
        problems(wrong)
            .iter()
            .any(|p| p.contains("`tweet` is only defined")),
        "{:#?}",
        problems(wrong)
    );
}
