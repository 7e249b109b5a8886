//! `dm_deliveries`: which delivered message proves which DM action.
//!
//! A DM is recorded here when Scrapely's answer says it was sent (`answer`) or
//! when reconciliation found its message in the conversation (`reconciled`).
//! The table is unique per (conversation, message), so one delivered message can
//! prove at most one action, and per action, so an action is proved once.

use super::Store;
use super::action_rows::{now_ms, on_pool};
use sha2::{Digest, Sha256};

/// What proved that a DM was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvedBy {
    /// `POST /dm/send` answered success.
    Answer,
    /// Its message was found in the conversation after an attempt with no answer.
    Reconciled,
}

impl ProvedBy {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProvedBy::Answer => "answer",
            ProvedBy::Reconciled => "reconciled",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "answer" {
            ProvedBy::Answer
        } else {
            ProvedBy::Reconciled
        }
    }
}

/// One delivered DM and the message that proves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub conversation_id: String,
    /// `id:<message id>`; `t:<time>:<text hash>` for a message found without an
    /// id; `answer:<action id>` for an answer that named no message id.
    pub message_key: String,
    pub text_hash: String,
    pub proved_by: ProvedBy,
    /// The message was sent in this window (ms).
    pub sent_after: i64,
    pub sent_before: i64,
    /// The message's time in the conversation, when it was found there.
    pub message_time: Option<i64>,
}

/// A short hash of a message's text (the table never holds the text twice).
pub fn text_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

type Row = (String, String, String, String, i64, i64, Option<i64>);

const COLUMNS: &str =
    "conversation_id, message_key, text_hash, proved_by, sent_after, sent_before, message_time";

fn from_row(r: Row) -> Delivery {
    Delivery {
        conversation_id: r.0,
        message_key: r.1,
        text_hash: r.2,
        proved_by: ProvedBy::parse(&r.3),
        sent_after: r.4,
        sent_before: r.5,
        message_time: r.6,
    }
}

/// The delivery already recorded for an action, if any.
pub async fn of_action(store: &Store, action_id: i64) -> Result<Option<Delivery>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM dm_deliveries WHERE action_id = $1");
    let row: Option<Row> = on_pool!(store, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(action_id).fetch_optional(pool).await)?;
    Ok(row.map(from_row))
}

/// Every delivery recorded in a conversation.
pub async fn of_conversation(
    store: &Store,
    conversation_id: &str,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM dm_deliveries WHERE conversation_id = $1");
    let rows: Vec<Row> = on_pool!(store, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(conversation_id).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// An older DM of the same text into the same conversation whose fate is still
/// open: not final, nothing proves it yet, and its last attempt (started at
/// `since`) may have reached Scrapely. A delivered message goes to the oldest
/// such DM first, whichever of them reconciles first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rival {
    pub action_id: i64,
    pub since: i64,
}

/// The [`Rival`]s of DM `action_id`, oldest first.
pub async fn older_rivals(
    store: &Store,
    action_id: i64,
    conversation_id: &str,
    text_hash: &str,
) -> Result<Vec<Rival>, sqlx::Error> {
    use super::status::{ActionStatus as S, sql_set};
    let sql = format!(
        "SELECT a.id, t.id, t.started_at, t.error_class, t.outcome, t.request_body FROM actions a \
         JOIN action_attempts t ON t.action_id = a.id AND t.series = a.series \
         WHERE a.kind = 'scrapely.send_dm' AND a.id < $1 AND a.status IN {open} \
           AND NOT EXISTS (SELECT 1 FROM dm_deliveries d WHERE d.action_id = a.id) \
           AND t.id = (SELECT max(l.id) FROM action_attempts l WHERE l.action_id = a.id AND l.series = a.series) \
         ORDER BY a.id",
        open = sql_set(&[S::Pending, S::Running, S::Failed, S::Held]),
    );
    type Row = (
        i64,
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = on_pool!(store, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(action_id).fetch_all(pool).await)?;
    let mut rivals = Vec::new();
    for (id, attempt_id, started_at, error_class, outcome, body) in rows {
        let outcome = outcome
            .map(super::status::AttemptOutcome::try_from)
            .transpose()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let last = super::attempts::OpenAttempt {
            id: attempt_id,
            started_at,
            error_class,
            outcome,
        };
        let body: Option<serde_json::Value> = body.and_then(|b| serde_json::from_str(&b).ok());
        let same_dm = body.as_ref().is_some_and(|b| {
            b.get("conversation_id").and_then(|c| c.as_str()) == Some(conversation_id)
                && b.get("message")
                    .and_then(|m| m.as_str())
                    .map(self::text_hash)
                    .as_deref()
                    == Some(text_hash)
        });
        if same_dm && last.may_have_reached_vendor() {
            rivals.push(Rival {
                action_id: id,
                since: started_at,
            });
        }
    }
    Ok(rivals)
}

pub(crate) const INSERT: &str = "INSERT INTO dm_deliveries \
    (action_id, conversation_id, message_key, text_hash, proved_by, sent_after, sent_before, message_time, recorded_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING";

/// Claims `delivery`'s message for `action_id`; `false` when another action
/// claimed that message first (or this action is already proved).
pub async fn claim(store: &Store, action_id: i64, d: &Delivery) -> Result<bool, sqlx::Error> {
    let inserted = on_pool!(store, pool => sqlx::query(INSERT)
        .bind(action_id).bind(&d.conversation_id).bind(&d.message_key).bind(&d.text_hash)
        .bind(d.proved_by.as_str()).bind(d.sent_after).bind(d.sent_before).bind(d.message_time)
        .bind(now_ms()).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(inserted == 1)
}
