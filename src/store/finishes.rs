//! A group's finished attempts written in a few statements instead of a few
//! each: the plain ones (a success, a dry run, an outcome left for a person —
//! nothing but the attempt, the action and the budget slot to write) as one
//! update of the attempts, one of the actions and one restamp of the slots per
//! chunk; every other finish goes through [`FinishConn::finish_on`] one by one.
//! SQLite takes the rows as `VALUES`, PostgreSQL as `UNNEST` arrays (the store
//! idiom, `store/mod.rs`).

use super::attempts::{FinishConn, Finished};
use super::lifecycle::{FINISH_MANY_HEAD, FINISH_MANY_TAIL, after};
use super::status::ActionStatus;
use super::{POSTGRES_STATEMENT_BYTES, SQLITE_ROWS_PER_STATEMENT, chunks_by_size};
use sqlx::{PgConnection, QueryBuilder, Sqlite, SqliteConnection};
use std::sync::LazyLock;

/// Writes every finish of a group: the plain ones together, the rest one by one.
pub(crate) async fn finish_all<C>(
    conn: &mut C,
    finished: &[&Finished],
    now: i64,
) -> Result<(), sqlx::Error>
where
    C: FinishConn + FinishMany,
{
    let (plain, other): (Vec<&Finished>, Vec<&Finished>) =
        finished.iter().copied().partition(|f| is_plain(f));
    if !plain.is_empty() {
        conn.finish_many(&plain, now).await?;
    }
    for f in other {
        conn.finish_on(f.action_id, f.attempt_id, &f.finish, now)
            .await?;
    }
    Ok(())
}

/// A finish with an attempt that moves its action to a status needing no
/// follow-up: no delivery or tweet to record, no retry job, no contact claim or
/// cooldown to give back.
fn is_plain(f: &Finished) -> bool {
    let x = &f.finish;
    f.attempt_id.is_some()
        && x.delivery.is_none()
        && x.tweet.is_none()
        && x.retry_in.is_none()
        && !x.release_cooldown
        && matches!(
            after(x.outcome),
            Some(status) if !matches!(status, ActionStatus::Dead | ActionStatus::Skipped)
        )
}

/// The next status of a plain finish.
fn next_status(f: &Finished) -> &'static str {
    after(f.finish.outcome)
        .expect("a plain finish moves its action")
        .as_str()
}

/// [`finish_all`]'s multi-row statements, per backend.
pub(crate) trait FinishMany {
    async fn finish_many(&mut self, plain: &[&Finished], now: i64) -> Result<(), sqlx::Error>;
}

const ATTEMPTS_SET: &str = "UPDATE action_attempts SET finished_at = v.finished_at, \
    outcome = v.outcome, status_code = v.status_code, response_excerpt = v.response_excerpt, \
    request_id = v.request_id, latency_ms = v.latency_ms, error_class = v.error_class, \
    error = v.error, retry_in_ms = NULL, method = COALESCE(v.method, action_attempts.method), \
    url = COALESCE(v.url, action_attempts.url), \
    request_body = COALESCE(v.request_body, action_attempts.request_body) FROM ";
const ATTEMPTS_WHERE: &str = " WHERE action_attempts.id = v.id";
const ATTEMPT_COLUMNS: &str = "v(id, finished_at, outcome, status_code, response_excerpt, request_id, \
    latency_ms, error_class, error, method, url, request_body)";

/// The recorded request's parts, empty ones as unknown (kept as written).
fn request_parts(f: &Finished) -> (Option<String>, Option<String>, Option<String>) {
    let given = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    match &f.finish.request {
        Some(r) => (given(&r.method), given(&r.url), r.body.clone()),
        None => (None, None, None),
    }
}

/// The distinct budget slots the group's calls took, by bucket.
fn slots<'a>(plain: &[&'a Finished]) -> Vec<(&'a str, Vec<i64>)> {
    let mut by_bucket: Vec<(&str, Vec<i64>)> = Vec::new();
    for (bucket, at) in plain.iter().filter_map(|f| f.finish.budget_slot.as_ref()) {
        match by_bucket.iter_mut().find(|(b, _)| b == bucket) {
            Some((_, ats)) => ats.push(*at),
            None => by_bucket.push((bucket, vec![*at])),
        }
    }
    for (_, ats) in &mut by_bucket {
        ats.sort_unstable();
        ats.dedup();
    }
    by_bucket
}

impl FinishMany for SqliteConnection {
    async fn finish_many(&mut self, plain: &[&Finished], now: i64) -> Result<(), sqlx::Error> {
        for chunk in plain.chunks(SQLITE_ROWS_PER_STATEMENT) {
            // SQLite names a VALUES list's columns column1…: named by a SELECT.
            let mut q = QueryBuilder::<Sqlite>::new(ATTEMPTS_SET);
            q.push("(SELECT column1 AS id, column2 AS finished_at, column3 AS outcome, \
                column4 AS status_code, column5 AS response_excerpt, column6 AS request_id, \
                column7 AS latency_ms, column8 AS error_class, column9 AS error, column10 AS method, \
                column11 AS url, column12 AS request_body FROM (");
            q.push_values(chunk, |mut b, f| {
                let x = &f.finish;
                let (method, url, body) = request_parts(f);
                b.push_bind(f.attempt_id)
                    .push_bind(now)
                    .push_bind(x.outcome.as_str())
                    .push_bind(x.status_code)
                    .push_bind(x.response_excerpt.clone())
                    .push_bind(x.request_id.clone())
                    .push_bind(x.latency_ms)
                    .push_bind(x.error_class.clone())
                    .push_bind(x.error.clone())
                    .push_bind(method)
                    .push_bind(url)
                    .push_bind(body);
            });
            q.push(")) AS v");
            q.push(ATTEMPTS_WHERE);
            q.build().execute(&mut *self).await?;

            let mut q = QueryBuilder::<Sqlite>::new(FINISH_MANY_HEAD);
            q.push("(SELECT column1 AS id, column2 AS status, column3 AS at, column4 AS last_error FROM (");
            q.push_values(chunk, |mut b, f| {
                b.push_bind(f.action_id)
                    .push_bind(next_status(f))
                    .push_bind(now)
                    .push_bind(f.finish.error.clone());
            });
            q.push(")) AS v");
            q.push(FINISH_MANY_TAIL.as_str());
            q.build().execute(&mut *self).await?;
        }
        for (bucket, ats) in slots(plain) {
            for ats in ats.chunks(SQLITE_ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::<Sqlite>::new("UPDATE rate_limit_calls SET at = ");
                q.push_bind(now)
                    .push(" WHERE bucket = ")
                    .push_bind(bucket)
                    .push(" AND at IN (");
                let mut list = q.separated(", ");
                for at in ats {
                    list.push_bind(*at);
                }
                q.push(")");
                q.build().execute(&mut *self).await?;
            }
        }
        Ok(())
    }
}

static PG_ATTEMPTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{ATTEMPTS_SET}UNNEST($1::int8[], $2::int8[], $3::text[], $4::int4[], $5::text[], \
         $6::text[], $7::float8[], $8::text[], $9::text[], $10::text[], $11::text[], \
         $12::text[]) AS {ATTEMPT_COLUMNS}{ATTEMPTS_WHERE}"
    )
});
static PG_ACTIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{FINISH_MANY_HEAD}UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[]) \
         AS v(id, status, at, last_error){}",
        FINISH_MANY_TAIL.as_str()
    )
});

impl FinishMany for PgConnection {
    async fn finish_many(&mut self, plain: &[&Finished], now: i64) -> Result<(), sqlx::Error> {
        let size = |f: &&Finished| {
            let x = &f.finish;
            let request = x.request.as_ref();
            256 + x.response_excerpt.as_ref().map_or(0, String::len)
                + x.error.as_ref().map_or(0, String::len)
                + request.map_or(0, |r| r.url.len() + r.body.as_ref().map_or(0, String::len))
        };
        for chunk in chunks_by_size(plain, POSTGRES_STATEMENT_BYTES, size) {
            let column = |f: &dyn Fn(&Finished) -> Option<String>| {
                chunk.iter().map(|x| f(x)).collect::<Vec<Option<String>>>()
            };
            let ids: Vec<i64> = chunk.iter().filter_map(|f| f.attempt_id).collect();
            let parts: Vec<_> = chunk.iter().map(|f| request_parts(f)).collect();
            sqlx::query(PG_ATTEMPTS.as_str())
                .bind(&ids)
                .bind(vec![now; chunk.len()])
                .bind(column(&|f| Some(f.finish.outcome.as_str().to_string())))
                .bind(
                    chunk
                        .iter()
                        .map(|f| f.finish.status_code)
                        .collect::<Vec<_>>(),
                )
                .bind(column(&|f| f.finish.response_excerpt.clone()))
                .bind(column(&|f| f.finish.request_id.clone()))
                .bind(
                    chunk
                        .iter()
                        .map(|f| f.finish.latency_ms)
                        .collect::<Vec<_>>(),
                )
                .bind(column(&|f| f.finish.error_class.clone()))
                .bind(column(&|f| f.finish.error.clone()))
                .bind(parts.iter().map(|p| p.0.clone()).collect::<Vec<_>>())
                .bind(parts.iter().map(|p| p.1.clone()).collect::<Vec<_>>())
                .bind(parts.iter().map(|p| p.2.clone()).collect::<Vec<_>>())
                .execute(&mut *self)
                .await?;
            sqlx::query(PG_ACTIONS.as_str())
                .bind(chunk.iter().map(|f| f.action_id).collect::<Vec<_>>())
                .bind(column(&|f| Some(next_status(f).to_string())))
                .bind(vec![now; chunk.len()])
                .bind(column(&|f| f.finish.error.clone()))
                .execute(&mut *self)
                .await?;
        }
        for (bucket, ats) in slots(plain) {
            sqlx::query(
                "UPDATE rate_limit_calls SET at = $1 WHERE bucket = $2 AND at = ANY($3::int8[])",
            )
            .bind(now)
            .bind(bucket)
            .bind(ats)
            .execute(&mut *self)
            .await?;
        }
        Ok(())
    }
}
