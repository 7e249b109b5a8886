//! `starling backup FILE [--force]`: an online copy of the SQLite database,
//! safe while `starling serve` runs. `VACUUM INTO` reads one snapshot in a read
//! transaction (WAL lets the writer go on meanwhile), so the copy holds every
//! event committed before it started — every webhook acknowledged by then — and
//! is a compact, consistent database of its own. It is written beside FILE
//! under a temporary name, synced, then moved into place, so FILE is never
//! half-written; without `--force` an existing FILE is refused.
//!
//! On PostgreSQL the command says how to use `pg_dump` instead.

use crate::config::Settings;
use crate::secret::redact_url;
use anyhow::{Context, bail};
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};

/// `starling backup`'s arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  starling backup /var/backups/starling-$(date +%F).db
  starling backup --force /var/backups/starling-latest.db
  sqlite3 /var/backups/starling-latest.db 'SELECT count(*) FROM events'

SQLite only, and safe while `starling serve` runs. On PostgreSQL use pg_dump
(the command prints the exact line). See README, \"Retention and backup\".")]
pub struct BackupArgs {
    /// The copy to write: a new SQLite database file.
    pub file: PathBuf,
    /// Replace FILE if it exists (it is replaced only once the copy is complete).
    #[arg(long)]
    pub force: bool,
}

pub async fn run(settings: &Settings, args: &BackupArgs) -> anyhow::Result<String> {
    let url = settings.database.url.expose();
    if !url.starts_with("sqlite:") {
        bail!("{}", pg_dump_advice(url, &args.file));
    }
    let database = crate::store::sqlite_options(url)?.get_filename().to_owned();
    if same_file(&database, &args.file) {
        bail!(
            "{} is the database itself; give the backup a path of its own",
            args.file.display()
        );
    }
    if args.file.exists() && !args.force {
        bail!(
            "{} exists; pass --force to replace it, or choose a new file",
            args.file.display()
        );
    }
    let started = crate::clock::format_utc(time::OffsetDateTime::now_utc());
    let partial = partial_path(&args.file)?;
    let copied = copy(url, &partial).await;
    let placed = copied.and_then(|()| place(&partial, &args.file, args.force));
    if let Err(error) = placed {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    let events = count_events(&args.file).await?;
    let bytes = std::fs::metadata(&args.file)?.len();
    Ok(format!(
        "Backed up {} to {} ({events} events, {bytes} bytes): everything committed before {started}.\n",
        redact_url(url),
        args.file.display()
    ))
}

/// `VACUUM INTO` on a connection of its own (no migration: a backup changes nothing).
async fn copy(url: &str, into: &Path) -> anyhow::Result<()> {
    let options = crate::store::sqlite_options(url)?.create_if_missing(false);
    let mut conn = options
        .connect()
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(url)))?;
    let into_text = into
        .to_str()
        .context("the backup path is not valid UTF-8")?
        .to_string();
    sqlx::query("VACUUM INTO $1")
        .bind(into_text)
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot write the backup to {}", into.display()))?;
    conn.close().await?;
    // Durable before it takes FILE's name.
    std::fs::File::open(into)?.sync_all()?;
    Ok(())
}

/// Whether `a` and `b` name one file (`b` may not exist yet: its directory
/// and name are compared).
fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| -> Option<PathBuf> {
        if let Ok(full) = p.canonicalize() {
            return Some(full);
        }
        let dir = match p.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => dir.canonicalize().ok()?,
            None => std::env::current_dir().ok()?,
        };
        Some(dir.join(p.file_name()?))
    };
    matches!((resolve(a), resolve(b)), (Some(a), Some(b)) if a == b)
}

/// `.FILE.partial-PID` beside FILE (same directory: the move is a rename).
fn partial_path(file: &Path) -> anyhow::Result<PathBuf> {
    let name = file
        .file_name()
        .with_context(|| format!("{} is not a file name", file.display()))?;
    let partial = format!(".{}.partial-{}", name.to_string_lossy(), std::process::id());
    Ok(file.with_file_name(partial))
}

/// Moves the finished copy to FILE: replacing it with `force`, else only if
/// FILE still does not exist (a hard link fails on an existing name).
fn place(partial: &Path, file: &Path, force: bool) -> anyhow::Result<()> {
    if force {
        std::fs::rename(partial, file)
            .with_context(|| format!("cannot move the backup to {}", file.display()))?;
    } else {
        std::fs::hard_link(partial, file).with_context(|| {
            format!(
                "cannot create {} (pass --force to replace an existing file)",
                file.display()
            )
        })?;
        std::fs::remove_file(partial)?;
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The new name durable too.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The copy's events: it opens as a database, and says what it holds.
async fn count_events(file: &Path) -> anyhow::Result<i64> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .read_only(true);
    let mut conn = options.connect().await?;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut conn)
        .await
        .context("the backup does not hold Starling's tables")?;
    conn.close().await?;
    Ok(events)
}

/// What to run instead on PostgreSQL: the exact `pg_dump` line, password left out.
pub fn pg_dump_advice(url: &str, file: &Path) -> String {
    let url = redact_url(url).replace(":***@", "@");
    format!(
        "starling backup copies SQLite databases only; this one is PostgreSQL. Use pg_dump \
         (an online, consistent dump that includes the job queue's `apalis` schema):\n  \
         pg_dump --format=custom --file={} '{url}'\n\
         (the password from PGPASSWORD or ~/.pgpass), and restore into an empty database with\n  \
         pg_restore --dbname='{url}' {}",
        file.display(),
        file.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pg_dump_line_names_the_database_but_never_the_password() {
        let advice = pg_dump_advice(
            "postgres://starling:hunter2@db:5432/starling",
            Path::new("/backups/s.dump"),
        );
        assert!(
            advice.contains(
                "pg_dump --format=custom --file=/backups/s.dump 'postgres://starling@db:5432/starling'"
            ),
            "{advice}"
        );
        assert!(!advice.contains("hunter2"), "{advice}");
        assert!(advice.contains("apalis"), "{advice}");
    }

    #[test]
    fn the_database_itself_is_no_backup_path() {
        let dir = tempfile_dir();
        let db = dir.join("s.db");
        std::fs::write(&db, b"").unwrap();
        assert!(same_file(&db, &dir.join(".").join("s.db")));
        assert!(!same_file(&db, &dir.join("copy.db")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("starling-backup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_partial_copy_is_written_beside_the_file() {
        let partial = partial_path(Path::new("/backups/s.db")).unwrap();
        assert_eq!(partial.parent(), Some(Path::new("/backups")));
        assert!(partial.to_string_lossy().contains(".s.db.partial-"));
    }
}
