//! The writer's own database connection, kept from one group to the next.

use super::availability;
use sqlx::pool::PoolConnection;

/// The writer's own connection, kept across groups. SQLite drops a
/// connection's page cache whenever another connection wrote, so groups that
/// took turns over the pool's connections re-read their pages on every group;
/// on PostgreSQL the writer never queues for a connection behind the
/// executor's finishes. After a failure the next group starts on a fresh one.
#[derive(Default)]
pub(super) struct Held {
    sqlite: Option<PoolConnection<sqlx::Sqlite>>,
    postgres: Option<PoolConnection<sqlx::Postgres>>,
}

impl Held {
    pub(super) async fn sqlite(
        &mut self,
        pool: &sqlx::SqlitePool,
    ) -> Result<&mut PoolConnection<sqlx::Sqlite>, sqlx::Error> {
        if self.sqlite.is_none() {
            self.sqlite = Some(pool.acquire().await?);
        }
        Ok(self.sqlite.as_mut().expect("just acquired"))
    }

    /// A server that is down makes the pool retry until its own timeout: past
    /// [`availability::BEGIN_DEADLINE`] the commit is refused, the callers told at once.
    pub(super) async fn postgres(
        &mut self,
        pool: &sqlx::PgPool,
    ) -> Result<&mut PoolConnection<sqlx::Postgres>, sqlx::Error> {
        if self.postgres.is_none() {
            let acquired = tokio::time::timeout(availability::BEGIN_DEADLINE, pool.acquire())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)??;
            self.postgres = Some(acquired);
        }
        Ok(self.postgres.as_mut().expect("just acquired"))
    }

    pub(super) fn drop_all(&mut self) {
        *self = Held::default();
    }
}
