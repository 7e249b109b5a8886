//! Failures announce themselves in the transaction that makes them: after a
//! group's finishes and holds, the actions they moved are read back, and each
//! one now dead, left with an unknown outcome, or held becomes an internal event
//! (`crate::event::internal`) that the same group stores and lets the rules
//! decide on, its actions created in the outbox like any event's.
//!
//! Why here and not in `store::lifecycle`'s statements: the lifecycle's SQL
//! moves the action, but only the writer holds the rule set and the outbox, and
//! an alert that is stored without its rules deciding on it would never fire.
//! In the writer's transaction the event commits with the move or not at all
//! (never lost, never doubled: its dedupe key names the action and its series),
//! and its actions are as durable as any event's.

use crate::event::NewEvent;
use crate::event::internal::{self, ActionFacts};
use sqlx::{PgConnection, SqliteConnection};

/// Reads back the moved actions with the kind of the event that fired them.
pub(crate) trait AnnounceSql {
    async fn action_facts(&mut self, ids: &[i64]) -> Result<Vec<ActionFacts>, sqlx::Error>;
}

const COLUMNS: &str = "SELECT a.id, a.kind, a.status, a.rule, a.event_id, e.kind, a.account, \
    a.last_error, a.attempts, a.series, a.updated_at FROM actions a JOIN events e ON e.id = a.event_id";

type Row = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    i32,
    i32,
    i64,
);

fn facts(r: Row) -> ActionFacts {
    ActionFacts {
        id: r.0,
        kind: r.1,
        status: r.2,
        rule: r.3,
        event_id: r.4,
        event_kind: r.5,
        account: r.6,
        error: r.7,
        attempts: r.8,
        series: r.9,
        updated_at: r.10,
    }
}

impl AnnounceSql for SqliteConnection {
    async fn action_facts(&mut self, ids: &[i64]) -> Result<Vec<ActionFacts>, sqlx::Error> {
        let sql =
            format!("{COLUMNS} WHERE a.id IN (SELECT value FROM json_each($1)) ORDER BY a.id");
        let ids = serde_json::to_string(ids).expect("ids serialize");
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(self)
            .await?;
        Ok(rows.into_iter().map(facts).collect())
    }
}

impl AnnounceSql for PgConnection {
    async fn action_facts(&mut self, ids: &[i64]) -> Result<Vec<ActionFacts>, sqlx::Error> {
        let sql = format!("{COLUMNS} WHERE a.id = ANY($1::int8[]) ORDER BY a.id");
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(self)
            .await?;
        Ok(rows.into_iter().map(facts).collect())
    }
}

/// The internal events the moves of `ids` raise (none for an action that needs
/// no one, nor for one fired by an event about an action).
pub(super) async fn actions(
    conn: &mut impl AnnounceSql,
    ids: &mut Vec<i64>,
) -> Result<Vec<NewEvent>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    ids.sort_unstable();
    ids.dedup();
    let facts = conn.action_facts(ids).await?;
    Ok(facts.iter().filter_map(internal::about_action).collect())
}
