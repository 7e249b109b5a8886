//! The console benchmark's data (`#[path]` module): `events` rows spread evenly
//! over the last 30 days into Starling's migrated schema, with the other tables
//! in the proportions a busy install has — one sighting per event (a second for
//! a fifth of the tweets), a rule match on a fifth of the events, an action per
//! fired match in every status, attempts with latencies, replies with an
//! `intent`, quarantined payloads, a paused account, streams.
//!
//! Everything is bulk SQL run by the database itself (a recursive CTE on SQLite,
//! `generate_series` on PostgreSQL): one statement per table, so a million events
//! take seconds, not a million round trips. The rows are a pure function of the
//! event number, so two seeds of the same size are the same data.

use starling::store::Store;
use std::time::{SystemTime, UNIX_EPOCH};

/// Bumped whenever the seeded data changes (it keys the cached SQLite file).
pub const SEED_VERSION: u32 = 1;

const DAY_SECS: i64 = 86_400;

/// How the two SQL dialects spell what the seed needs.
struct Dialect {
    sqlite: bool,
}

impl Dialect {
    /// A CTE `n(i)` of 1..=count.
    fn series(&self, count: i64) -> String {
        match self.sqlite {
            true => format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})"
            ),
            false => format!("WITH n(i) AS (SELECT generate_series(1, {count}::bigint))"),
        }
    }

    /// A timestamp column value from Unix seconds.
    fn ts(&self, secs: &str) -> String {
        match self.sqlite {
            true => format!("strftime('%Y-%m-%dT%H:%M:%fZ', {secs}, 'unixepoch')"),
            false => format!("to_timestamp({secs})"),
        }
    }

    fn object(&self) -> &'static str {
        if self.sqlite {
            "json_object"
        } else {
            "jsonb_build_object"
        }
    }

    fn array(&self) -> &'static str {
        if self.sqlite {
            "json_array"
        } else {
            "jsonb_build_array"
        }
    }

    fn blob(&self, text: &str) -> String {
        match self.sqlite {
            true => format!("CAST({text} AS BLOB)"),
            false => format!("convert_to({text}, 'UTF8')"),
        }
    }

    /// A JSON column value from a text expression.
    fn json(&self, text: &str) -> String {
        match self.sqlite {
            true => text.to_string(),
            false => format!("({text})::jsonb"),
        }
    }

    fn as_text(&self, column: &str) -> String {
        match self.sqlite {
            true => column.to_string(),
            false => format!("{column}::text"),
        }
    }
}

/// What the page list needs to know about the seeded data.
#[derive(Debug, Clone)]
pub struct Facts {
    pub events: i64,
    /// An event with a rule match, a dead action and its attempts.
    pub event: i64,
    pub action: i64,
    /// An id a third of the way back: a deep keyset page (about 20 days ago).
    pub deep: i64,
}

/// Seeds `events` events (and the rest) into the migrated, empty `store`.
pub async fn seed(store: &Store, events: i64) -> anyhow::Result<()> {
    let d = Dialect {
        sqlite: matches!(store, Store::Sqlite(_)),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let base = now - 30 * DAY_SECS;
    let step = (30 * DAY_SECS) as f64 / events as f64;
    let statements = [
        events_sql(&d, events, base, step),
        sightings_sql(&d),
        second_sightings_sql(&d),
        matches_sql(&d),
        actions_sql(base, step),
        attempts_sql(),
        rest_sql(&d, now),
    ];
    let script = statements.join(";\n");
    match store {
        Store::Sqlite(pool) => {
            let mut conn = pool.acquire().await?;
            // A seed, not ingestion: no fsync per page, a large cache.
            sqlx::raw_sql("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144")
                .execute(&mut *conn)
                .await?;
            let sql = format!("BEGIN; {script}; COMMIT; PRAGMA synchronous = FULL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await?;
        }
        Store::Postgres(pool) => {
            // A synchronous commit (one fsync for the whole seed): a VACUUM
            // right after an asynchronous one finds the commit not yet flushed,
            // sets no hint bits and marks no page all-visible, and every count
            // then reads the heap (measured: the overview 3× slower).
            let sql = format!(
                "BEGIN; {script}; {sequences}; COMMIT",
                sequences = pg_sequences()
            );
            let mut conn = pool.acquire().await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await?;
            // What autovacuum does after a bulk load: statistics and the
            // visibility map (index-only scans).
            sqlx::raw_sql("VACUUM ANALYZE").execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// The facts of a seeded store.
pub async fn facts(store: &Store) -> anyhow::Result<Facts> {
    let one = |sql: &'static str| async move {
        let value: i64 = match store {
            Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        };
        anyhow::Ok(value)
    };
    let events = one("SELECT max(id) FROM events").await?;
    let action = one("SELECT max(id) FROM actions WHERE status = 'dead'").await?;
    let event = one(
        "SELECT event_id FROM actions WHERE id = (SELECT max(id) FROM actions WHERE status = 'dead')",
    )
    .await?;
    Ok(Facts {
        events,
        event,
        action,
        deep: events / 3,
    })
}

/// Events: 25 % Scrapely replies (with an intent), 50 % Scrapest tweets, 17 %
/// ScrapeBadger tweets, 5 % Telegram messages, 3 % Scrapely notices. About 6 % of
/// the events say "pricing"; 10 in a million say "zeppelin".
fn events_sql(d: &Dialect, events: i64, base: i64, step: f64) -> String {
    let at = d.ts(&format!("{base} + i * {step}"));
    let vendor_at = d.ts(&format!("{base} + i * {step} - 1"));
    let (obj, arr) = (d.object(), d.array());
    let bucket = "((i * 37) % 100)";
    let text = "CASE WHEN i % 99991 = 17 THEN 'Booked the zeppelin tour for the team offsite' \
        ELSE CASE (i * 11) % 8 \
        WHEN 0 THEN 'Hey! I''m interested, let''s chat.' \
        WHEN 1 THEN 'What is the pricing for a team of five?' \
        WHEN 2 THEN 'Not right now, maybe next quarter.' \
        WHEN 3 THEN 'Please stop messaging me.' \
        WHEN 4 THEN 'Talk to my colleague Sam, she runs ops here.' \
        WHEN 5 THEN 'I am out of office until Monday.' \
        WHEN 6 THEN 'Sounds good, send me the pricing deck.' \
        ELSE 'Shipping the new scheduler release today, thread below' END END";
    let reply = format!(
        "{obj}('event', 'new_reply', 'timestamp', {at}, 'data', {obj}('conversation_id', 'c-' || i, \
         'account_handle', 'acct' || (i % 3), 'receiver', {obj}('screen_name', 'prospect' || (i % 5000), \
         'name', 'Prospect ' || (i % 5000), 'profile_image_url', 'https://pbs.twimg.com/p/' || i || '.jpg'), \
         'message', {obj}('id', '' || i, 'text', {text}, 'created_at', {at})))"
    );
    let tweet = format!(
        "{obj}('id', 't' || i, 'text', {text}, 'lang', 'en', 'url', 'https://x.com/user' || (i % 20000) || '/status/' || i, \
         'author', {obj}('handle', 'user' || (i % 20000), 'followers', (i * 31) % 50000), \
         'origin', {obj}('stream', 'firehose', 'latency_ms', i % 900))"
    );
    let notice = format!(
        "{obj}('event', 'leads_exhausted', 'data', {obj}('campaign_id', 'camp-' || (i % 40)))"
    );
    let intent = "CASE (i * 13) % 20 WHEN 0 THEN 'interested' WHEN 1 THEN 'interested' WHEN 2 THEN 'interested' \
        WHEN 3 THEN 'interested' WHEN 4 THEN 'interested' WHEN 5 THEN 'interested' WHEN 6 THEN 'question' \
        WHEN 7 THEN 'question' WHEN 8 THEN 'question' WHEN 9 THEN 'not_now' WHEN 10 THEN 'not_now' \
        WHEN 11 THEN 'not_interested' WHEN 12 THEN 'not_interested' WHEN 13 THEN 'not_interested' \
        WHEN 14 THEN 'unsubscribe' WHEN 15 THEN 'referral' WHEN 16 THEN 'out_of_office' ELSE 'other' END";
    let channel = format!(
        "CASE WHEN {bucket} < 25 THEN 'scrapely.webhook' WHEN {bucket} < 75 THEN 'scrapest.ws' \
         WHEN {bucket} < 92 THEN 'scrapebadger.ws' WHEN {bucket} < 97 THEN 'scrapest.sse' ELSE 'scrapely.webhook' END"
    );
    format!(
        "INSERT INTO events (id, source, kind, dedupe_key, vendor_ts, received_at, last_seen_at, sightings, \
         channels, payload, quality, intent, intent_confidence, intent_evidence) \
         {series} SELECT i, \
         CASE WHEN {bucket} < 25 OR {bucket} >= 97 THEN 'scrapely' WHEN {bucket} < 75 OR ({bucket} >= 92) THEN 'scrapest' ELSE 'scrapebadger' END, \
         CASE WHEN {bucket} < 25 THEN 'scrapely.new_reply' WHEN {bucket} < 92 THEN 'tweet' \
              WHEN {bucket} < 97 THEN 'telegram.message' ELSE 'scrapely.leads_exhausted' END, \
         'bench:' || i, {vendor_at}, {at}, {at}, \
         CASE WHEN {bucket} >= 25 AND {bucket} < 92 AND i % 5 = 0 THEN 2 ELSE 1 END, \
         CASE WHEN {bucket} >= 25 AND {bucket} < 92 AND i % 5 = 0 THEN {arr}({channel}, 'scrapest.filter') ELSE {arr}({channel}) END, \
         CASE WHEN {bucket} < 25 THEN {reply} WHEN {bucket} < 97 THEN {tweet} ELSE {notice} END, \
         i % 3, \
         CASE WHEN {bucket} < 25 THEN {intent} END, \
         CASE WHEN {bucket} < 25 THEN 0.5 + (i % 50) / 100.0 END, \
         CASE WHEN {bucket} < 25 THEN '[\"cue\"]' END \
         FROM n",
        series = d.series(events),
    )
}

fn sightings_sql(d: &Dialect) -> String {
    format!(
        "INSERT INTO event_sightings (event_id, stream, channel, received_at, quality, payload) \
         SELECT id, CASE WHEN source = 'scrapely' THEN NULL ELSE 'firehose' END, \
         CASE WHEN source = 'scrapely' THEN 'scrapely.webhook' WHEN source = 'scrapebadger' THEN 'scrapebadger.ws' ELSE 'scrapest.ws' END, \
         received_at, quality, {payload} FROM events",
        payload = d.as_text("payload")
    )
}

fn second_sightings_sql(d: &Dialect) -> String {
    format!(
        "INSERT INTO event_sightings (event_id, stream, channel, received_at, quality, payload) \
         SELECT id, 'filter', 'scrapest.filter', last_seen_at, quality, {payload} FROM events WHERE sightings = 2",
        payload = d.as_text("payload")
    )
}

/// A match on every fifth event: 90 % fired, 10 % cooldown or error.
fn matches_sql(d: &Dialect) -> String {
    let rendered = "CASE id % 100 WHEN 95 THEN '[]' WHEN 90 THEN '[]' ELSE '[{\"kind\":\"scrapely.send_dm\"}]' END";
    format!(
        "INSERT INTO rule_matches (event_id, rule, rule_hash, matched_at, outcome, cooldown_key, error, actions) \
         SELECT id, CASE (id / 5) % 6 WHEN 0 THEN 'crm-interested' WHEN 1 THEN 'dm-followup' WHEN 2 THEN 'slack-alerts' \
           WHEN 3 THEN 'tag-pricing' WHEN 4 THEN 'unsubscribe' ELSE 'tweets-watch' END, \
         'abc123', received_at, \
         CASE id % 100 WHEN 95 THEN 'error' WHEN 90 THEN 'cooldown' ELSE 'fired' END, \
         CASE id % 100 WHEN 90 THEN 'prospect' || (id % 5000) END, \
         CASE id % 100 WHEN 95 THEN 'template: unknown variable `event.data.x`' END, {actions} \
         FROM events WHERE id % 5 = 0",
        actions = d.json(rendered)
    )
}

/// An action per fired match, in every status (succeeded the most).
fn actions_sql(base: i64, step: f64) -> String {
    let created = format!(
        "CAST({base}000 + m.event_id * {ms} AS BIGINT)",
        ms = (step * 1000.0) as i64
    );
    let status = "CASE (m.event_id * 7) % 200 WHEN 0 THEN 'dead' WHEN 1 THEN 'dead' WHEN 2 THEN 'dead' \
        WHEN 3 THEN 'dead' WHEN 4 THEN 'failed' WHEN 5 THEN 'failed' WHEN 6 THEN 'pending' WHEN 7 THEN 'pending' \
        WHEN 8 THEN 'running' WHEN 9 THEN 'held' WHEN 10 THEN 'held' WHEN 11 THEN 'outcome_unknown' \
        WHEN 12 THEN 'cancelled' WHEN 13 THEN 'cancelled' WHEN 14 THEN 'dry_run' ELSE \
        CASE WHEN (m.event_id * 7) % 200 < 40 THEN 'skipped' ELSE 'succeeded' END END";
    format!(
        "INSERT INTO actions (event_id, rule, action_index, kind, params, account, status, attempts, series, \
         run_at, created_at, updated_at, last_error) \
         SELECT s.event_id, s.rule, 0, CASE WHEN s.rule = 'slack-alerts' THEN 'slack.post' ELSE 'scrapely.send_dm' END, \
         '{{\"conversation_id\":\"c-' || s.event_id || '\",\"text\":\"Thanks, here is the link\"}}', \
         'acct' || (s.event_id % 3), s.status, \
         CASE s.status WHEN 'dead' THEN 3 WHEN 'failed' THEN 2 WHEN 'pending' THEN 0 WHEN 'held' THEN 0 \
           WHEN 'skipped' THEN 0 WHEN 'cancelled' THEN 0 ELSE 1 END, 1, \
         s.created, s.created, s.created + 900, \
         CASE WHEN s.status IN ('dead', 'failed') THEN 'HTTP 503: upstream unavailable' END \
         FROM (SELECT m.event_id, m.rule, {status} AS status, {created} AS created \
               FROM rule_matches m WHERE m.outcome = 'fired') s ORDER BY s.event_id"
    )
}

/// The attempts of each action that was tried: dead ones three, failed two.
fn attempts_sql() -> String {
    "INSERT INTO action_attempts (action_id, series, attempt, worker, started_at, finished_at, outcome, \
     method, url, request_body, status_code, response_excerpt, request_id, latency_ms, error_class, error) \
     SELECT a.id, 1, k.k, 'bench-worker', a.created_at + (k.k - 1) * 30000, \
     CASE WHEN a.status = 'running' THEN NULL ELSE a.created_at + (k.k - 1) * 30000 + 80 + (a.id * 37) % 900 END, \
     CASE WHEN k.k < a.attempts THEN 'retry' WHEN a.status IN ('running') THEN NULL \
          WHEN a.status = 'failed' THEN 'retry' ELSE a.status END, \
     'POST', 'https://api.scrapely.example/v1/dm/send', '{\"text\":\"[redacted]\"}', \
     CASE WHEN k.k < a.attempts OR a.status IN ('dead', 'failed') THEN 503 WHEN a.status = 'running' THEN NULL ELSE 200 END, \
     '{\"ok\":true}', 'req-' || a.id || '-' || k.k, 80 + (a.id * 37) % 900 + k.k * 13, \
     CASE WHEN k.k < a.attempts OR a.status IN ('dead', 'failed') THEN 'server_error' END, \
     CASE WHEN k.k < a.attempts OR a.status IN ('dead', 'failed') THEN 'HTTP 503: upstream unavailable' END \
     FROM actions a JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) k ON k.k <= a.attempts \
     ORDER BY a.id, k.k"
        .to_string()
}

/// Quarantined payloads, a paused account, the streams.
fn rest_sql(d: &Dialect, now: i64) -> String {
    let at = d.ts(&format!("{now} - i * 3600"));
    let body = d.blob("'{\"event\":\"new_reply\",\"data\":' || i || '}'");
    format!(
        "INSERT INTO quarantine (source, channel, received_at, reason, content_type, body, body_sha256, sightings, last_seen_at) \
         {series} SELECT 'scrapely', 'scrapely.webhook', {at}, 'data.message: missing field `id`', \
         'application/json', {body}, 'sha-' || i, 1, {at} FROM n; \
         INSERT INTO paused_accounts (account, account_id, paused_at, reason, event_id) \
         VALUES ('acct1', '1001', {now}000, 'Scrapely paused the account: too many DMs', 1); \
         INSERT INTO streams (name, kind, state, connected_since, last_message_at, messages, reconnects, updated_at) \
         VALUES ('firehose', 'scrapest.ws', 'connected', {now}000 - 86400000, {now}000, 750000, 3, {now}000), \
                ('filter', 'scrapest.filter', 'connected', {now}000 - 3600000, {now}000, 20000, 12, {now}000), \
                ('badger', 'scrapebadger.ws', 'backing_off', NULL, {now}000 - 60000, 170000, 40, {now}000)",
        series = d.series(25),
    )
}

fn pg_sequences() -> String {
    [
        "events",
        "event_sightings",
        "rule_matches",
        "actions",
        "action_attempts",
        "quarantine",
    ]
    .map(|t| {
        format!("SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))")
    })
    .join("; ")
}
