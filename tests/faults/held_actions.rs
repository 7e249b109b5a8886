//! Scenario 2: SIGKILL while the fake vendors hold a call of every action kind
//! open — two identical DMs (the first reached the conversation, the second did
//! not), a scheduled tweet, a CRM note, a Slack post, an HTTP request and the
//! cancel of a tweet scheduled earlier — `rounds` times, then one process
//! recovers everything. Each kind is held to the README's crash-semantics table.

use crate::db::{Backend, TestDb};
use crate::fake_vendor::{CONVERSATION, FakeVendor, Reply, SLACK_PATH};
use crate::load::reply;
use crate::report::Table;
use crate::{Run, poll_until, start_process};
use std::collections::HashMap;
use std::time::Duration;

const DM: &str = "/api/v1/dm/send";
const TWEETS: &str = "/api/v1/scheduled-tweets";
const CRM: &str = "/api/v1/crm/update";

const RULES: &str = r#"
- name: every kind
  on: scrapely.new_reply
  keywords: [round]
  do:
    - action: scrapely.send_dm
      with: { message: "Round {{ data.message.id }}" }
    - action: scrapely.send_dm
      with: { message: "Round {{ data.message.id }}" }
    - action: scrapely.schedule_tweet
      with: { account: yourhandle, tweet_text: "Round {{ data.message.id }}", scheduled_at: "in 2h" }
    - action: scrapely.update_crm
      with: { notes: "Round {{ data.message.id }}" }
    - action: slack.post
      with: { text: "Round {{ data.message.id }}" }
    - action: http.request
      with: { url: "HOOK/hook", json: { round: "{{ data.message.id }}" } }
- name: prepare
  on: scrapely.new_reply
  keywords: [prepare]
  do:
    - action: scrapely.schedule_tweet
      with: { account: yourhandle, tweet_text: "Prepared {{ data.message.id }}", scheduled_at: "in 2h",
              ref: "{{ data.message.id }}" }
- name: call off
  on: scrapely.new_reply
  keywords: [cancel]
  do:
    - action: scrapely.cancel_scheduled_tweet
      with: { scheduled_by: prepare, ref: "{{ data.message.text | replace('cancel ', '') }}" }
"#;

/// The kinds, in the rule's order, with what their promise allows.
const KINDS: [&str; 6] = [
    "scrapely.send_dm",
    "scrapely.schedule_tweet",
    "scrapely.update_crm",
    "slack.post",
    "http.request",
    "scrapely.cancel_scheduled_tweet",
];

pub fn table() -> Table {
    Table::new(
        "2. kill -9 with a call of every action kind held open at the fake vendor",
        &[
            "kind",
            "backend",
            "rounds",
            "calls seen",
            "duplicated",
            "lost / falsely succeeded",
            "resent as documented",
            "wrong status",
        ],
    )
}

/// Per kind: (calls, duplicated, lost or falsely succeeded, allowed resends, wrong status).
#[derive(Default)]
struct Tally {
    calls: usize,
    duplicated: Vec<String>,
    lost: Vec<String>,
    resent: usize,
    wrong: Vec<String>,
}

pub async fn run(run: &mut Run, backend: Backend, table: &mut Table) {
    let n = run.rounds;
    let vendor = FakeVendor::start().await;
    let db = TestDb::new(backend).await;
    let rules = tempfile::tempdir().unwrap();
    let hook = format!("http://{}", vendor.addr);
    std::fs::write(
        rules.path().join("rules.yaml"),
        RULES.replace("HOOK", &hook),
    )
    .unwrap();
    let mut env: Vec<(&str, String)> = vendor.env();
    for (k, v) in [
        ("STARLING__DATABASE__URL", db.url.as_str()),
        ("STARLING__RULES__DIR", rules.path().to_str().unwrap()),
        ("STARLING__ACTIONS__POLL_INTERVAL_MS", "100"),
        ("STARLING__ACTIONS__HEARTBEAT_SECS", "1"),
        // A dead run's lease is 2 × timeout + 5 s = 11 s: the recovery waits that long.
        ("STARLING__ACTIONS__TIMEOUT_SECS", "3"),
        ("STARLING__SCRAPELY__RATE_LIMIT", "1000"),
        // Every round DMs the same person on purpose.
        ("STARLING__OUTREACH__CONTACT_WINDOW", "0"),
    ] {
        env.push((k, v.to_string()));
    }
    let client = crate::process_client();
    let mut process = start_process(&env);

    // Tweets for the rounds' cancels to call off, scheduled with nothing held.
    for r in 0..n {
        post(&client, &process, reply(&format!("p{r}"), "prepare")).await;
    }
    let prepared = poll_until(Duration::from_secs(30), async || {
        vendor.scheduled_tweets().len() >= n
    })
    .await;
    assert!(prepared, "the tweets to cancel were not scheduled");
    let tweet_of: HashMap<String, String> = vendor
        .scheduled_tweets()
        .into_iter()
        .map(|t| (t.2, t.0))
        .collect();

    for round in 0..n {
        let id = format!("r{round}");
        vendor.script(DM, vec![Reply::Hold, Reply::HoldUnsent]);
        // The schedule (POST) and the cancel (DELETE) share the path.
        vendor.script(TWEETS, vec![Reply::Hold, Reply::Hold]);
        for path in [CRM, SLACK_PATH, "/hook"] {
            vendor.script(path, vec![Reply::Hold]);
        }
        post(&client, &process, reply(&id, "round")).await;
        post(
            &client,
            &process,
            reply(&format!("c{round}"), &format!("cancel p{round}")),
        )
        .await;
        let text = format!("Round {id}");
        let cancelled = tweet_of[&format!("Prepared p{round}")].clone();
        let all_held = poll_until(Duration::from_secs(30), async || {
            let calls = vendor.all_requests();
            let has =
                |method: &str, path: &str, n: usize, f: &dyn Fn(&serde_json::Value) -> bool| {
                    calls
                        .iter()
                        .filter(|c| c.method == method && c.path == path && f(&c.body))
                        .count()
                        >= n
                };
            has("POST", DM, 2, &|b| b["message"] == text.as_str())
                && has("POST", TWEETS, 1, &|b| b["tweet_text"] == text.as_str())
                && has("PATCH", CRM, 1, &|b| {
                    b["notes"].as_str().is_some_and(|s| s.ends_with(&text))
                })
                && has("POST", SLACK_PATH, 1, &|b| b["text"] == text.as_str())
                && has("POST", "/hook", 1, &|b| b["round"] == id.as_str())
                && has("DELETE", TWEETS, 1, &|b| {
                    b["tweet_id"] == cancelled.as_str()
                })
        })
        .await;
        assert!(
            all_held,
            "round {round}: not every kind's call reached the fake"
        );
        process.kill9();
        process = start_process(&env);
    }
    // The recovering process gets plain answers.
    vendor.clear_scripts();
    let store = starling::store::Store::connect(&db.url, 2).await.unwrap();
    let expected = 8 * n;
    let mut rows = Vec::new();
    let settled = poll_until(Duration::from_secs(120), async || {
        rows = actions(&store).await;
        rows.len() == expected
            && rows
                .iter()
                .all(|a| !matches!(a.2.as_str(), "pending" | "running" | "failed" | "held"))
    })
    .await;
    assert!(settled, "{backend:?}: actions did not settle: {rows:?}");
    store.close().await;
    let (status, _) = process.terminate();
    assert!(status.success());

    let tallies = judge(&vendor, &rows, n, &tweet_of);
    let name = format!("{backend:?}").to_lowercase();
    for (kind, t) in KINDS.iter().zip(tallies) {
        table.row(vec![
            kind.to_string(),
            name.clone(),
            n.to_string(),
            t.calls.to_string(),
            t.duplicated.len().to_string(),
            t.lost.len().to_string(),
            t.resent.to_string(),
            t.wrong.len().to_string(),
        ]);
        table.fail_if_any(&format!("{name} {kind}: duplicated"), &t.duplicated);
        table.fail_if_any(
            &format!("{name} {kind}: lost or falsely succeeded"),
            &t.lost,
        );
        table.fail_if_any(&format!("{name} {kind}: wrong status"), &t.wrong);
    }
}

/// Holds the vendor's record and the actions' statuses to each kind's promise.
fn judge(
    vendor: &FakeVendor,
    rows: &[(i64, String, String, String)],
    n: usize,
    tweet_of: &HashMap<String, String>,
) -> Vec<Tally> {
    let mut t: Vec<Tally> = (0..KINDS.len()).map(|_| Tally::default()).collect();
    let messages = vendor.messages(CONVERSATION);
    let tweets = vendor.scheduled_tweets();
    let notes = vendor.crm(CONVERSATION)["notes"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let slack = vendor.requests("POST", SLACK_PATH);
    let hooks = vendor.requests("POST", "/hook");
    let deletes = vendor.requests("DELETE", TWEETS);
    t[0].calls = vendor.requests("POST", DM).len();
    t[1].calls = vendor
        .requests("POST", TWEETS)
        .iter()
        .filter(|r| {
            r.body["tweet_text"]
                .as_str()
                .is_some_and(|s| s.starts_with("Round"))
        })
        .count();
    let crm_patches = vendor.requests("PATCH", CRM);
    t[2].calls = crm_patches.len();
    t[3].calls = slack.len();
    t[4].calls = hooks.len();
    t[5].calls = deletes.len();
    let statuses = |message_id: &str, kind: &str| -> Vec<String> {
        rows.iter()
            .filter(|a| a.3 == message_id && a.1 == kind)
            .map(|a| a.2.clone())
            .collect()
    };
    let expect = |t: &mut Tally, what: &str, got: Vec<String>, want: &[&str]| {
        let mut got = got;
        got.sort();
        if got != want {
            t.wrong.push(format!("{what}: {got:?}, expected {want:?}"));
        }
    };
    for round in 0..n {
        let id = format!("r{round}");
        let text = format!("Round {id}");
        // send_dm: in the conversation once; one `succeeded`, one `outcome_unknown`.
        let sent = messages
            .iter()
            .filter(|m| m["text"] == text.as_str())
            .count();
        let dms = statuses(&id, KINDS[0]);
        let succeeded = dms.iter().filter(|s| *s == "succeeded").count();
        if sent > 1 {
            t[0].duplicated
                .push(format!("{id}: in the conversation {sent} times"));
        }
        if succeeded > sent {
            t[0].lost
                .push(format!("{id}: {succeeded} succeeded, {sent} sent"));
        }
        expect(&mut t[0], &id, dms, &["outcome_unknown", "succeeded"]);
        // schedule_tweet: scheduled once.
        let scheduled = tweets.iter().filter(|x| x.2 == text).count();
        match scheduled {
            0 => t[1].lost.push(format!("{id}: not scheduled")),
            1 => {}
            k => t[1].duplicated.push(format!("{id}: scheduled {k} times")),
        }
        expect(&mut t[1], &id, statuses(&id, KINDS[1]), &["succeeded"]);
        // update_crm: the note is one line of the conversation's notes.
        let lines = notes
            .lines()
            .filter(|l| l.trim_end().ends_with(&text))
            .count();
        match lines {
            0 => t[2].lost.push(format!("{id}: the note is not in the CRM")),
            1 => {}
            k => t[2]
                .duplicated
                .push(format!("{id}: the note is there {k} times")),
        }
        let patches = crm_patches
            .iter()
            .filter(|r| {
                r.body["notes"]
                    .as_str()
                    .and_then(|n| n.lines().last())
                    .is_some_and(|l| l.ends_with(&text))
            })
            .count();
        t[2].resent += patches.saturating_sub(1);
        expect(&mut t[2], &id, statuses(&id, KINDS[2]), &["succeeded"]);
        // slack.post: at least once; more is the documented at-least-once.
        let posts = slack
            .iter()
            .filter(|r| r.body["text"] == text.as_str())
            .count();
        if posts == 0 {
            t[3].lost.push(format!("{id}: never posted"));
        }
        t[3].resent += posts.saturating_sub(1);
        expect(&mut t[3], &id, statuses(&id, KINDS[3]), &["succeeded"]);
        // http.request: at least once, every copy with one Idempotency-Key.
        let keys: Vec<String> = hooks
            .iter()
            .filter(|r| r.body["round"] == id.as_str())
            .map(|r| {
                r.headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(none)")
                    .to_string()
            })
            .collect();
        if keys.is_empty() {
            t[4].lost.push(format!("{id}: never sent"));
        }
        if keys.windows(2).any(|w| w[0] != w[1]) || keys.iter().any(|k| k == "(none)") {
            t[4].duplicated
                .push(format!("{id}: copies with different keys {keys:?}"));
        }
        t[4].resent += keys.len().saturating_sub(1);
        expect(&mut t[4], &id, statuses(&id, KINDS[4]), &["succeeded"]);
        // cancel_scheduled_tweet: the prepared tweet is cancelled; a resend is idempotent.
        let target = &tweet_of[&format!("Prepared p{round}")];
        let fate = tweets
            .iter()
            .find(|x| &x.0 == target)
            .map(|x| x.4.clone())
            .unwrap_or_default();
        if fate != "cancelled" {
            t[5].lost.push(format!("p{round}: the tweet is {fate}"));
        }
        let copies = deletes
            .iter()
            .filter(|r| r.body["tweet_id"] == target.as_str())
            .count();
        t[5].resent += copies.saturating_sub(1);
        let cancel_id = format!("c{round}");
        expect(
            &mut t[5],
            &cancel_id,
            statuses(&cancel_id, KINDS[5]),
            &["succeeded"],
        );
    }
    t
}

/// (id, kind, status, the event's message id) of every action.
async fn actions(store: &starling::store::Store) -> Vec<(i64, String, String, String)> {
    let sql = "SELECT a.id, a.kind, a.status, CAST(e.payload AS TEXT) FROM actions a \
               JOIN events e ON e.id = a.event_id ORDER BY a.id";
    let rows: Vec<(i64, String, String, String)> = match store {
        starling::store::Store::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await,
        starling::store::Store::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await,
    }
    .unwrap();
    rows.into_iter()
        .map(|(id, kind, status, payload)| {
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
            let message = v["data"]["message"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (id, kind, status, message)
        })
        .collect()
}

async fn post(client: &reqwest::Client, process: &crate::process::StarlingProcess, body: Vec<u8>) {
    let response = client
        .post(process.url("/webhooks/scrapely"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(status, 200, "{:?}", response.text().await);
}
