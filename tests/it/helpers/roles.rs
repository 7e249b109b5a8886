//! PostgreSQL login roles that tests create (audit readers, non-superuser owners).
//!
//! Roles are cluster-wide and tests run in parallel on one server, so every name
//! is suffixed with the test's own database name, and the guard drops the role —
//! with whatever was granted to it — when it goes out of scope, even on a panic.

use super::db::{admin, admin_url, with_database};
use sqlx::{Connection, Executor, PgConnection};

pub struct PgRole {
    pub name: String,
    /// A URL that logs in as this role to the database it was made for.
    pub url: String,
    database: String,
}

impl PgRole {
    /// `CREATE ROLE <database>_<suffix> LOGIN <attributes>` (e.g. `NOSUPERUSER`).
    pub async fn create(database: &str, suffix: &str, attributes: &str) -> Self {
        let name = format!("{database}_{suffix}");
        assert!(name.len() <= 63, "{name} is longer than a PostgreSQL name");
        let password = format!("pw-{suffix}");
        admin()
            .await
            .execute(sqlx::AssertSqlSafe(format!(
                "CREATE ROLE {name} LOGIN PASSWORD '{password}' {attributes}"
            )))
            .await
            .unwrap();
        let url = with_user(&with_database(&admin_url(), database), &name, &password);
        Self {
            name,
            url,
            database: database.to_string(),
        }
    }

    /// Runs `sql` as the cluster's administrator in this role's database.
    pub async fn admin_execute(&self, sql: &str) {
        let mut conn = PgConnection::connect(&with_database(&admin_url(), &self.database))
            .await
            .unwrap();
        conn.execute(sqlx::AssertSqlSafe(sql.to_string()))
            .await
            .unwrap();
    }
}

impl Drop for PgRole {
    fn drop(&mut self) {
        let (name, database) = (self.name.clone(), self.database.clone());
        // Drop runs outside async context; use a private runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                // Privileges and default privileges live in the database; a role
                // cannot be dropped while any remain.
                if let Ok(mut conn) =
                    PgConnection::connect(&with_database(&admin_url(), &database)).await
                {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!("DROP OWNED BY {name}")))
                        .await;
                }
                if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {name}")))
                        .await;
                }
            });
        })
        .join();
    }
}

/// `url` logging in as `user` with `password` instead of its own user.
pub fn with_user(url: &str, user: &str, password: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{}{user}:{password}@{host}", &url[..scheme_end])
}

/// Settings to run `starling audit` as a user would on `app`'s database: on
/// PostgreSQL as a reader role this test creates, granted by the same call
/// `serve` makes at start; on SQLite on the file itself. Keep the role alive
/// while auditing.
pub async fn audit_as_reader(
    app: &super::TestApp,
    overrides: &[(&str, &str)],
) -> (starling::config::Settings, Option<PgRole>) {
    let reader = match app.db.pg_name() {
        Some(database) => {
            let role = PgRole::create(database, "audit", "NOSUPERUSER").await;
            app.store.grant_audit_reader(&role.name).await.unwrap();
            Some(role)
        }
        None => None,
    };
    let mut all = overrides.to_vec();
    if let Some(role) = &reader {
        all.push(("STARLING__AUDIT__DATABASE_URL", role.url.as_str()));
    }
    (super::settings(&app.db, &all), reader)
}
