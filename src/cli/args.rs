//! The `starling` command line's arguments (clap derive): every command with
//! what it does and an example, every argument with a description. `main.rs`
//! parses them and calls the library; a test below walks the whole tree.

use super::audit::Format;
use super::intent::Format as IntentFormat;
use super::jobs::Status;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Starling: X/Twitter outreach automation — vendor streams and webhooks in, rules and actions out.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Examples:\n  starling serve\n  starling --config starling.toml serve --dry-run\n  starling jobs list --status dead"
)]
pub struct Cli {
    /// TOML configuration file (defaults apply without one; STARLING__SECTION__KEY variables override both).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server: webhooks, rules, the action workers, health and readiness endpoints.
    #[command(after_help = "Example:\n  starling --config starling.toml serve")]
    Serve {
        /// Render and record every action, send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Apply database migrations (Starling's and the job queue's) and exit.
    #[command(
        after_help = "Example:\n  STARLING__DATABASE__URL=postgres://starling@db/starling starling migrate"
    )]
    Migrate,
    /// Run one read-only query (as `audit.database_url`'s role) and print rows as they come (latest events without SQL).
    #[command(
        after_help = "Examples:\n  starling audit\n  starling audit \"SELECT rule, status, count(*) FROM actions GROUP BY 1, 2\" --format csv"
    )]
    Audit {
        /// One read query (SELECT, WITH, VALUES, EXPLAIN; on SQLite reading PRAGMAs); anything else is refused.
        sql: Option<String>,
        /// `table` for people (fits the terminal), `json` for programs, `csv` for spreadsheets.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Check and try rule files.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Look at actions and their attempts; re-run or cancel them.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Paused Scrapely accounts (their DMs and tweets are held).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// The contact ledger: who was DM'd when, and who must never be DM'd (do-not-contact).
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// A reply's intent (label, confidence, evidence), or `intent eval FILE.jsonl` to score the classifier.
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "Examples:\n  starling intent \"sounds good, send me the deck\"\n  starling intent eval tests/fixtures/replies/dev.jsonl"
    )]
    Intent {
        #[command(subcommand)]
        command: Option<IntentCommand>,
        /// The text to classify.
        text: Option<String>,
        /// `table` for people, `json` for programs.
        #[arg(long, value_enum, default_value = "table")]
        format: IntentFormat,
    },
    /// Re-run stored events through the current rules; only what is new is created.
    Replay(super::replay::ReplayArgs),
    /// Authentic payloads that could not be read: list, show, replay them after a fix.
    #[command(subcommand, after_help = "Example: starling quarantine list")]
    Quarantine(super::quarantine::QuarantineCommand),
    /// Delete now what is past its retention (retention.events_days, retention.attempts_days); --dry-run counts it.
    Prune(super::prune::PruneArgs),
    /// Copy the SQLite database to FILE, safely while `serve` runs (on PostgreSQL: says how to use pg_dump).
    Backup(super::backup::BackupArgs),
    /// Each stream's state: connected since, last message, messages, reconnects, last error.
    #[command(after_help = "Example:\n  starling streams --format json")]
    Streams {
        /// `table` for people (fits the terminal), `json` for programs, `csv` for spreadsheets.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Subcommand)]
pub enum IntentCommand {
    /// Per-label precision, recall and F1, macro-F1 and the confusion matrix of the
    /// classifier and, in the same run, of the old keyword rules and of VADER.
    #[command(after_help = "Example:\n  starling intent eval tests/fixtures/replies/dev.jsonl")]
    Eval {
        /// JSON lines: {"text": …, "label": …} (e.g. tests/fixtures/replies/dev.jsonl).
        file: PathBuf,
        /// `table` for people (Markdown tables), `json` for programs.
        #[arg(long, value_enum, default_value = "table")]
        format: IntentFormat,
    },
}

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Actions, newest first.
    #[command(
        after_help = "Examples:\n  starling jobs list --status dead\n  starling jobs list --status outcome_unknown --rule 'dm interested' --format json"
    )]
    List {
        /// Only actions in this status, spelled as stored (e.g. `dead`, `outcome_unknown`).
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// Only actions of this rule.
        #[arg(long, value_name = "NAME")]
        rule: Option<String>,
        /// At most this many actions.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// `table` for people (fits the terminal), `json` for programs, `csv` for spreadsheets.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One action and every attempt (status, latency, error, the request as sent with secrets redacted, the response's excerpt).
    #[command(after_help = "Example:\n  starling jobs show 42 --format json")]
    Show {
        /// The action's id (`starling jobs list` shows them).
        id: i64,
        /// `table` for people, `csv`, or `json`: one document {action, attempts, scheduled_tweet}.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Start one new attempt series for a dead (or outcome_unknown, skipped, cancelled) action.
    #[command(
        after_help = "Examples:\n  starling jobs retry 42\n  starling jobs retry --dead --rule 'dm interested'"
    )]
    Retry {
        /// The action's id (or use --dead).
        #[arg(required_unless_present = "dead")]
        id: Option<i64>,
        /// Every dead action (of --rule, if given).
        #[arg(long, conflicts_with = "id")]
        dead: bool,
        /// With --dead: only this rule's dead actions.
        #[arg(long, value_name = "NAME", requires = "dead")]
        rule: Option<String>,
    },
    /// Cancel an action that has not been sent.
    #[command(after_help = "Example:\n  starling jobs cancel 42")]
    Cancel {
        /// The action's id.
        id: i64,
    },
}

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Paused accounts and how many actions each holds.
    #[command(after_help = "Example:\n  starling accounts list")]
    List {
        /// `table` for people (fits the terminal), `json` for programs, `csv` for spreadsheets.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Release a paused account's held DMs and tweets.
    #[command(after_help = "Example:\n  starling accounts resume @my_sender")]
    Resume {
        /// The account's handle (`@name` or `name`).
        handle: String,
    },
}

/// A person is a handle (`prospect`, `@prospect`) or an X user id (`id:987654321`).
#[derive(Subcommand)]
pub enum ContactsCommand {
    /// People marked do-not-contact, and people inside their contact window.
    #[command(
        after_help = "Examples:\n  starling contacts list\n  starling contacts list --blocked --format csv"
    )]
    List {
        /// Only people marked do-not-contact.
        #[arg(long)]
        blocked: bool,
        /// `table` for people (fits the terminal), `json` for programs, `csv` for spreadsheets.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One person: every DM in the ledger (when, rule, action) and their do-not-contact marks.
    #[command(
        after_help = "Examples:\n  starling contacts show @prospect\n  starling contacts show id:987654321 --format json"
    )]
    Show {
        /// A handle (`prospect`, `@prospect`) or an X user id (`id:987654321`).
        handle: String,
        /// `table` for people, `csv`, or `json`: one document {contact, blocked, ledger}.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Mark a person do-not-contact: never DM'd again; their queued DMs are cancelled.
    #[command(
        after_help = "Example:\n  starling contacts block @prospect --reason 'asked not to be contacted'"
    )]
    Block {
        /// A handle (`prospect`, `@prospect`) or an X user id (`id:987654321`).
        handle: String,
        /// Why (shown in `list`, `show` and on every DM skipped or cancelled).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a person's do-not-contact mark.
    #[command(after_help = "Example:\n  starling contacts unblock @prospect")]
    Unblock {
        /// A handle (`prospect`, `@prospect`) or an X user id (`id:987654321`).
        handle: String,
    },
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Load every rule file and report every problem with file:line:column; exit 1 on any.
    #[command(
        after_help = "Examples:\n  starling rules check\n  starling rules check ./rules --format json"
    )]
    Check {
        /// Rules directory (default: rules.dir from the configuration).
        dir: Option<PathBuf>,
        /// `table` prints `file:line:column: message` lines; `json` and `csv` one record per problem.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Run the rules' `tests:` blocks, or show what each rule does with one sample event.
    #[command(
        after_help = "Examples:\n  starling rules test\n  starling rules test --event reply.json --rule 'dm interested'\n  starling rules test --events replies.jsonl --format json"
    )]
    Test {
        /// A sample event: a Scrapely webhook body, or {"kind": …, "data": …}.
        #[arg(long, value_name = "FILE")]
        event: Option<PathBuf>,
        /// Many sample events, one JSON object per line; prints one result per
        /// line (with `--format json`, JSON lines: what fired, what failed).
        #[arg(long, value_name = "FILE.jsonl", conflicts_with = "event")]
        events: Option<PathBuf>,
        /// Only this rule.
        #[arg(long, value_name = "NAME")]
        rule: Option<String>,
        /// `table` for people (fits the terminal), `json` for programs, `csv` for spreadsheets.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Rules directory (default: rules.dir from the configuration).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Replay stored events through the rules (disabled ones too) and count what would fire.
    #[command(
        after_help = "Example:\n  starling rules backtest --rule 'dm interested' --since 2026-11-01T00:00:00Z --limit 50000"
    )]
    Backtest {
        /// Only this rule.
        #[arg(long, value_name = "NAME")]
        rule: Option<String>,
        /// Only events received at or after this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only events received before this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// At most this many of the latest events.
        #[arg(long, default_value_t = 10_000)]
        limit: u64,
        /// `table` for people (fits the terminal), `json` for programs, `csv` for spreadsheets.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Rules directory (default: rules.dir from the configuration).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every command (at every depth) says what it does and shows an example;
    /// every argument has a description.
    #[test]
    fn every_command_has_an_example_and_every_argument_a_description() {
        fn walk(command: &clap::Command, path: &str, problems: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            if command.get_about().is_none() {
                problems.push(format!("`{path}` has no description"));
            }
            let example = command
                .get_after_help()
                .is_some_and(|h| h.to_string().contains("Example"));
            let parent =
                command.has_subcommands() && !command.is_args_conflicts_with_subcommands_set();
            if !example && !parent {
                problems.push(format!("`{path}` has no example (after_help)"));
            }
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() {
                    problems.push(format!(
                        "`{path}` argument `{}` has no description",
                        arg.get_id()
                    ));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &path, problems);
            }
        }
        let mut problems = Vec::new();
        walk(&Cli::command(), "", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        Cli::command().debug_assert();
    }
}
