//! The console's rules page, playground and backtest over real HTTP: counts
//! that match what is stored, the playground's verdicts (match, near miss,
//! rendered action, intent) with credentials only as markers, hostile input
//! said on the page, forged cross-site POSTs refused, and a backtest counting
//! what `starling rules backtest` counts. The quarantine pages are in
//! `console_quarantine`.

use crate::helpers::browser::Browser;
use crate::helpers::{Backend, TestApp, fixture, new_reply};
use crate::on_both_backends;
use serde_json::Value;
use starling::cli::audit::Format;
use starling::cli::backtest::{self, Options, Reader};

pub const TOKEN: &str = "tok-sekrit-123";
const LITERAL: &str = "literal-cred-0123456789abcdef";

const RULES: &str = r#"
- name: tag interested
  description: "<b>bold</b> replies"
  on: scrapely.new_reply
  keywords: [interested]
  do:
    - action: http.request
      with:
        url: "http://127.0.0.1:9/hook?api_key=literal-cred-0123456789abcdef"
        headers:
          Authorization: "Bearer {{ secrets.API_TOKEN }}"
        json: { who: "{{ data.receiver.screen_name }}" }
- name: paused alert
  on: scrapely.account_paused
  do:
    - action: slack.post
      with: { text: "paused" }
- name: someday
  enabled: false
  on: scrapely.new_reply
  do:
    - action: slack.post
      with: { text: "later" }
"#;

async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .rules(&[("rules.yaml", RULES)])
        .env(&[
            ("STARLING__ACTIONS__DRY_RUN", "true"),
            ("STARLING__SECRETS__API_TOKEN", TOKEN),
        ])
        .start()
        .await
}

/// A reply whose text is `text` (and message id `id`).
fn reply(id: &str, text: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&new_reply(id)).unwrap();
    v["data"]["message"]["text"] = text.into();
    serde_json::to_vec(&v).unwrap()
}

async fn post_reply(app: &TestApp, id: &str, text: &str) {
    let answer = app.post("/webhooks/scrapely", reply(id, text)).await;
    assert_eq!(answer.status(), 200);
}

/// The `<tr data-rule="NAME">` row of a page.
pub fn row<'p>(page: &'p str, rule: &str) -> &'p str {
    let at = page
        .find(&format!("data-rule=\"{rule}\""))
        .unwrap_or_else(|| panic!("no row for {rule}: {page}"));
    let rest = &page[at..];
    &rest[..rest.find("</tr>").unwrap()]
}

fn cell(row: &str, class: &str) -> String {
    let open = format!("class=\"{class}\">");
    let at = row
        .find(&open)
        .unwrap_or_else(|| panic!("no {class}: {row}"))
        + open.len();
    row[at..at + row[at..].find('<').unwrap()].to_string()
}

async fn event_ids(app: &TestApp) -> Vec<i64> {
    crate::on_store!(&app.store, p => sqlx::query_scalar("SELECT id FROM events ORDER BY id").fetch_all(p).await.unwrap())
}

/// Backdates a match and an action of `rule` on `event` by `days`.
async fn seed_old(app: &TestApp, event: i64, rule: &str, days: i64, outcome: &str) {
    let ago = match app.store {
        starling::store::Store::Sqlite(_) => {
            format!("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{days} days')")
        }
        starling::store::Store::Postgres(_) => format!("now() - interval '{days} days'"),
    };
    let sql = format!(
        "INSERT INTO rule_matches (event_id, rule, rule_hash, matched_at, outcome, error) \
         VALUES ($1, $2, 'h', {ago}, $3, $4)"
    );
    let error = (outcome == "error").then_some("boom <b>here</b>");
    crate::on_store!(&app.store, p => sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(event).bind(rule).bind(outcome).bind(error).execute(p).await.map(|_| ()).unwrap());
    let ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 - days * 86_400_000;
    let sql = "INSERT INTO actions (event_id, rule, action_index, kind, params, status, run_at, created_at, updated_at) \
               VALUES ($1, $2, 0, 'slack.post', '{}', 'succeeded', $3, $3, $3)";
    crate::on_store!(&app.store, p => sqlx::query(sql).bind(event).bind(rule).bind(ms).execute(p).await.map(|_| ()).unwrap());
}

/// Three replies matched now, one three days ago, one ten days ago (outside
/// both windows), an error two days ago: the page counts each window, shows the
/// error escaped, marks the disabled rule and links to the rule's actions.
async fn the_rules_page_counts_each_rules_matches_and_actions(backend: Backend) {
    let app = app(backend).await;
    for i in 0..3 {
        post_reply(&app, &format!("m-{i}"), "I'm interested!").await;
    }
    for i in 3..6 {
        post_reply(&app, &format!("m-{i}"), "who is this?").await;
    }
    assert_eq!(app.count("actions").await, 3, "committed with their events");
    let ids = event_ids(&app).await;
    seed_old(&app, ids[3], "tag interested", 3, "fired").await;
    seed_old(&app, ids[4], "tag interested", 10, "fired").await;
    seed_old(&app, ids[5], "paused alert", 2, "error").await;

    let mut browser = Browser::new(&app);
    let (status, page, _) = browser.get("/rules").await;
    assert_eq!(status, 200, "{page}");
    let tagged = row(&page, "tag interested");
    assert_eq!(
        ["matches-24h", "matches-7d", "actions-24h", "actions-7d"].map(|c| cell(tagged, c)),
        ["3", "4", "3", "4"],
        "{tagged}"
    );
    assert!(tagged.contains("&lt;b&gt;bold"), "escaped: {tagged}");
    assert!(
        tagged.contains("href=\"&#x2f;actions?rule=tag+interested\""),
        "{tagged}"
    );
    let paused = row(&page, "paused alert");
    assert!(
        paused.contains("boom &lt;b&gt;here&lt;&#x2f;b&gt;")
            || paused.contains("boom &lt;b&gt;here&lt;/b&gt;"),
        "the last error, escaped: {paused}"
    );
    assert_eq!(cell(paused, "matches-7d"), "1");
    assert!(row(&page, "someday").contains("disabled"));
    assert!(!page.contains(TOKEN) && !page.contains(LITERAL));
}

async fn try_event(browser: &mut Browser, fields: &[(&str, &str)]) -> (u16, String) {
    let csrf = browser.csrf();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let origin = browser.origin();
    browser.post("/rules/playground", &form, &origin).await
}

/// A matching reply: the rule matches with its action rendered (the secret and
/// the literal credential as markers only), the others say why not, the intent
/// shows its evidence; a reply without the keyword is a near miss that names
/// the keyword; a stored event picked by id is tried the same way.
async fn the_playground_shows_matches_near_misses_and_rendered_actions(backend: Backend) {
    let app = app(backend).await;
    let mut browser = Browser::new(&app);
    let (status, form, _) = browser.get("/rules/playground").await;
    assert_eq!(status, 200);
    assert!(form.contains("name=\"event\""), "{form}");

    let body = String::from_utf8(fixture("new_reply")).unwrap();
    let (status, page) = try_event(&mut browser, &[("event", &body)]).await;
    assert_eq!(status, 200, "{page}");
    let tagged = row(&page, "tag interested");
    assert!(tagged.contains("verdict matched"), "{tagged}");
    assert!(
        tagged.contains("http.request") && tagged.contains("prospect"),
        "{tagged}"
    );
    assert!(tagged.contains("«secret:API_TOKEN»"), "{tagged}");
    assert!(tagged.contains("«literal:"), "{tagged}");
    assert!(!page.contains(TOKEN) && !page.contains(LITERAL), "{page}");
    let paused = row(&page, "paused alert");
    assert!(
        paused.contains("near-miss") && paused.contains("is not in on"),
        "{paused}"
    );
    assert!(row(&page, "someday").contains("disabled (enabled: false)"));
    assert!(page.contains("id=\"intent\"><b>interested</b>"), "{page}");
    assert!(page.contains("id=\"evidence\"><li>"), "{page}");

    let other = String::from_utf8(reply("m-2", "who is this?")).unwrap();
    let (_, page) = try_event(
        &mut browser,
        &[("event", &other), ("rule", "tag interested")],
    )
    .await;
    let tagged = row(&page, "tag interested");
    assert!(
        tagged.contains("near-miss") && tagged.contains("keywords: none of"),
        "{tagged}"
    );
    assert!(
        !page.contains("data-rule=\"paused alert\""),
        "only the rule asked"
    );

    post_reply(&app, "m-3", "I'm interested").await;
    let id = event_ids(&app).await[0].to_string();
    let (status, page) = try_event(&mut browser, &[("event_id", &id)]).await;
    assert_eq!(status, 200, "{page}");
    assert!(row(&page, "tag interested").contains("verdict matched"));
    assert!(!page.contains(TOKEN));
}

/// "What happened to this reply, and why not": a stored event's page links to
/// the playground with its id filled in, and trying it there says which
/// condition each rule that did not fire failed.
async fn an_event_page_leads_to_why_the_other_rules_did_not_match(backend: Backend) {
    let app = app(backend).await;
    post_reply(&app, "m-why", "who is this?").await;
    let id = event_ids(&app).await[0];
    let mut browser = Browser::new(&app);
    let (status, page, _) = browser.get(&format!("/events/{id}")).await;
    assert_eq!(status, 200, "{page}");
    let link = format!("href=\"/rules/playground?event_id={id}\"");
    assert!(page.contains(&link), "{page}");
    // Following the link answers the question: the verdicts, not only the form.
    let (status, linked, _) = browser
        .get(&format!("/rules/playground?event_id={id}"))
        .await;
    assert_eq!(status, 200, "{linked}");
    assert!(
        linked.contains(&format!("name=\"event_id\" value=\"{id}\"")),
        "{linked}"
    );
    let (status, posted) = try_event(&mut browser, &[("event_id", &id.to_string())]).await;
    assert_eq!(status, 200, "{posted}");
    for page in [&linked, &posted] {
        let tagged = row(page, "tag interested");
        assert!(
            tagged.contains("near-miss") && tagged.contains("keywords: none of"),
            "{tagged}"
        );
    }
    // A link to an event that is not there says so.
    let (status, missing, _) = browser.get("/rules/playground?event_id=999999").await;
    assert_eq!(status, 404, "{missing}");
    assert!(missing.contains("999999"), "{missing}");
}

/// Form fields, the status expected and what the page must say.
type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);

/// Broken input is a message on the page saying what was wrong and what was
/// expected, never a 500; what was typed comes back escaped.
async fn hostile_playground_input_is_said_on_the_page(backend: Backend) {
    let app = app(backend).await;
    let mut browser = Browser::new(&app);
    browser.get("/rules/playground").await;
    let big = format!("{{\"kind\":\"x\",\"data\":\"{}\"}}", "a".repeat(300 * 1024));
    let huge = "a".repeat(1024 * 1024);
    let cases: Vec<Case> = vec![
        (
            vec![("event", "{not json <script>")],
            400,
            "The event is not JSON",
        ),
        (vec![("event", "[1, 2]")], 400, "wrong shape"),
        (vec![("event", "{\"kind\": 5}")], 400, "{kind, data}"),
        (
            vec![(
                "event",
                "{\"event\":\"new_reply\",\"timestamp\":\"x\",\"data\":{}}",
            )],
            400,
            "not a valid Scrapely webhook",
        ),
        (vec![], 400, "Paste an event"),
        (vec![("event_id", "abc")], 400, "is not a number"),
        (
            vec![("event_id", "999999")],
            404,
            "There is no stored event 999999",
        ),
        (vec![("event", "{}"), ("event_id", "1")], 400, "not both"),
        (vec![("event", &big)], 413, "at most 256 KiB"),
        (vec![("event", &huge)], 413, "at most 256 KiB"),
        (
            vec![("rule", "nope"), ("event", "{\"kind\":\"x\"}")],
            404,
            "no loaded rule named `nope`",
        ),
    ];
    for (fields, status, says) in cases {
        let (got, page) = try_event(&mut browser, &fields).await;
        assert_eq!(got, status, "{fields:?}: {}", &page[..page.len().min(2000)]);
        assert!(page.contains(says), "{fields:?} should say {says}");
        assert!(
            page.contains("class=\"error\" id=\"problem\""),
            "on the page"
        );
        assert!(!page.contains("<script>"), "escaped");
    }
}

/// A POST from another site's page, even with the right token, changes and
/// evaluates nothing.
async fn a_forged_playground_post_is_refused(backend: Backend) {
    let app = app(backend).await;
    let mut browser = Browser::new(&app);
    browser.get("/rules").await;
    let csrf = browser.csrf();
    let body = String::from_utf8(fixture("new_reply")).unwrap();
    let form = [("csrf", csrf.as_str()), ("event", body.as_str())];
    let (status, page) = browser
        .post("/rules/playground", &form, "http://evil.example")
        .await;
    assert_eq!(status, 403, "{page}");
    assert!(!page.contains("verdict matched"));
    let (status, _) = browser
        .post("/rules/backtest", &[("csrf", "wrong")], &browser.origin())
        .await;
    assert_eq!(status, 403);
}

/// The console's backtest counts what `starling rules backtest` counts on the
/// same events and window; a bad time or limit is said on the page.
async fn the_backtest_counts_what_the_cli_counts(backend: Backend) {
    let app = app(backend).await;
    for i in 0..4 {
        post_reply(&app, &format!("m-{i}"), "I'm interested").await;
    }
    post_reply(&app, "m-9", "who is this?").await;
    let mut browser = Browser::new(&app);
    browser.get("/rules").await;
    let csrf = browser.csrf();
    let since = "2020-01-01T00:00:00Z";
    let until =
        starling::clock::format_utc(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
    let form = [
        ("csrf", csrf.as_str()),
        ("rule", ""),
        ("since", since),
        ("until", until.as_str()),
        ("limit", "3"),
    ];
    let (status, page) = browser
        .post("/rules/backtest", &form, &browser.origin())
        .await;
    assert_eq!(status, 200, "{page}");

    let set = starling::rules::load::load_sources(&[("rules.yaml".into(), RULES.into())]).unwrap();
    let options = Options {
        rule: None,
        since: Some(since),
        until: Some(&until),
        limit: 3,
    };
    let cli = backtest::run(Reader::Url(&app.db.url), &set, options, Format::Json)
        .await
        .unwrap();
    let cli: Value = serde_json::from_str(&cli).unwrap();
    assert_eq!(
        (cli["events"].as_u64(), cli["left_out"].as_u64()),
        (Some(3), Some(2))
    );
    assert!(
        page.contains("3 stored events replayed; 2 older events left out"),
        "{page}"
    );
    for rule in cli["rules"].as_array().unwrap() {
        let shown = row(&page, rule["rule"].as_str().unwrap());
        let totals = &rule["totals"];
        assert_eq!(
            cell(shown, "would-fire"),
            totals["would_fire"].to_string(),
            "{shown}"
        );
        assert_eq!(cell(shown, "held"), totals["held_by_cooldown"].to_string());
        assert_eq!(cell(shown, "errors"), totals["errors"].to_string());
    }
    assert_eq!(cli["rules"][0]["totals"]["would_fire"], 2, "{cli}");

    for (field, value, says) in [
        ("since", "yesterday", "since: expected an RFC 3339 time"),
        ("until", "soon", "until: expected an RFC 3339 time"),
        (
            "limit",
            "1000000",
            "limit: expected a whole number from 1 to 100000",
        ),
        ("rule", "nope", "no rule named `nope`"),
    ] {
        let form = [("csrf", csrf.as_str()), (field, value)];
        let (status, page) = browser
            .post("/rules/backtest", &form, &browser.origin())
            .await;
        assert_eq!(status, 400, "{field}: {page}");
        assert!(page.contains(says), "{field}: {page}");
    }
}

on_both_backends!(
    the_rules_page_counts_each_rules_matches_and_actions,
    the_playground_shows_matches_near_misses_and_rendered_actions,
    an_event_page_leads_to_why_the_other_rules_did_not_match,
    hostile_playground_input_is_said_on_the_page,
    a_forged_playground_post_is_refused,
    the_backtest_counts_what_the_cli_counts,
);
