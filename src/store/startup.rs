//! Start-up's wait for PostgreSQL: in a compose file or after a reboot Starling
//! often starts before its database answers. Until PostgreSQL accepts a
//! connection Starling says so every few seconds ("waiting for PostgreSQL at
//! host:port (connection refused), attempt n") instead of failing, for up to
//! `database.startup_wait_secs`; a database that answers but refuses (a wrong
//! password, no such database) fails at once.

use super::StoreError;
use crate::secret::redact_url;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::str::FromStr;
use std::time::Duration;

/// How long one attempt may take, and the pause before the next.
pub const WAIT_EVERY: Duration = Duration::from_secs(2);

/// Returns once PostgreSQL at `url` accepts a connection; fails after `wait`.
pub async fn wait_for_postgres(url: &str, wait: Duration) -> Result<(), StoreError> {
    let connect_err = |source| StoreError::Connect {
        url: redact_url(url),
        source,
    };
    let options = PgConnectOptions::from_str(url).map_err(connect_err)?;
    let at = format!("{}:{}", options.get_host(), options.get_port());
    let give_up = tokio::time::Instant::now() + wait;
    for attempt in 1u64.. {
        let reason = match tokio::time::timeout(WAIT_EVERY, PgConnection::connect_with(&options))
            .await
        {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                if attempt > 1 {
                    tracing::info!("PostgreSQL at {at} answers (attempt {attempt})");
                }
                return Ok(());
            }
            Ok(Err(e)) => match not_answering(&e) {
                Some(_) if tokio::time::Instant::now() >= give_up => return Err(connect_err(e)),
                Some(reason) => reason,
                None => return Err(connect_err(e)),
            },
            Err(_) if tokio::time::Instant::now() >= give_up => {
                return Err(connect_err(sqlx::Error::PoolTimedOut));
            }
            Err(_) => format!("no answer within {} s", WAIT_EVERY.as_secs()),
        };
        tracing::warn!("waiting for PostgreSQL at {at} ({reason}), attempt {attempt}");
        tokio::time::sleep(WAIT_EVERY).await;
    }
    unreachable!("the attempts never run out")
}

/// Why PostgreSQL did not answer, if that is what happened (rather than an
/// answer refusing us, which waiting would not change).
fn not_answering(error: &sqlx::Error) -> Option<String> {
    use std::io::ErrorKind;
    match error {
        sqlx::Error::Io(io) => Some(match io.kind() {
            ErrorKind::ConnectionRefused => "connection refused".into(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => "connection reset".into(),
            ErrorKind::TimedOut => "connection timed out".into(),
            _ => io.to_string(),
        }),
        sqlx::Error::PoolTimedOut => Some("no connection in time".into()),
        // "the database system is starting up" (57P03) is PostgreSQL not ready yet.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("57P03") => {
            Some("starting up".into())
        }
        _ => None,
    }
}
