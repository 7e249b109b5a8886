//! The fault suite (issue 12): the real `starling` binary, over real sockets,
//! against the fake vendors, under SIGKILL, a database stopped and started, and
//! replicas killed in turn. Like Jepsen's checker it holds every acknowledged
//! webhook against the store and every action against the fake vendor's record,
//! prints a table per scenario, and fails when anything was lost, duplicated
//! (beyond what an action kind's written semantics allow), unexpected, or
//! answered wrongly.
//!
//! A `harness = false` test target, so `cargo test` (and so `scripts/test` and
//! `.ci/run`) runs its short form — one round of each scenario — and it can print
//! its tables. `FAULTS_ROUNDS=N` runs N rounds of each (the long form);
//! `FAULTS_SEED` replays a run's random instants (the seed is printed);
//! `FAULTS_ONLY=kill,held,outage,replicas` runs some scenarios.

#[allow(dead_code)]
#[path = "../it/helpers/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "../it/helpers/db.rs"]
mod db;
#[allow(dead_code)]
#[path = "../it/helpers/fake_vendor/mod.rs"]
mod fake_vendor;
#[allow(dead_code)]
#[path = "../it/helpers/poll.rs"]
mod poll;
#[allow(dead_code)]
#[path = "../it/helpers/process.rs"]
mod process;

mod held_actions;
mod load;
mod pg_outage;
mod replicas;
mod report;
mod sigkill_load;
mod store_check;

use db::Backend;
pub use poll::poll_until;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

/// What every scenario shares: its number of rounds and the seeded randomness
/// that picks the instants (and processes) to kill.
pub struct Run {
    pub rounds: usize,
    pub rng: StdRng,
    seed: u64,
}

impl Run {
    /// Starts a scenario: its random instants follow from the seed and its
    /// number alone, so `FAULTS_ONLY` with the printed seed replays them.
    fn scenario(&mut self, number: u64) -> &mut Self {
        self.rng = StdRng::seed_from_u64(self.seed.wrapping_mul(31).wrapping_add(number));
        self
    }
}

fn main() {
    if !selected_by_cargo_test_filter() {
        return;
    }
    let rounds: usize = std::env::var("FAULTS_ROUNDS")
        .ok()
        .map(|r| r.parse().expect("FAULTS_ROUNDS is a number"))
        .unwrap_or(1);
    let seed: u64 = std::env::var("FAULTS_SEED")
        .ok()
        .map(|s| s.parse().expect("FAULTS_SEED is a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let only = std::env::var("FAULTS_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|o| o.trim() == name);
    println!(
        "fault suite: {rounds} round(s) of each scenario, seed {seed} \
         (re-run with FAULTS_SEED={seed} FAULTS_ROUNDS={rounds})"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let tables = runtime.block_on(async {
        let mut run = Run {
            rounds,
            rng: StdRng::seed_from_u64(seed),
            seed,
        };
        let mut tables = Vec::new();
        if wanted("kill") {
            let mut table = sigkill_load::table();
            for backend in [Backend::Sqlite, Backend::Postgres] {
                sigkill_load::run(run.scenario(1 + backend as u64), backend, &mut table).await;
            }
            println!("{}", table.render());
            tables.push(table);
        }
        if wanted("held") {
            let mut table = held_actions::table();
            for backend in [Backend::Sqlite, Backend::Postgres] {
                held_actions::run(run.scenario(3 + backend as u64), backend, &mut table).await;
            }
            println!("{}", table.render());
            tables.push(table);
        }
        if wanted("outage") {
            let table = pg_outage::run(run.scenario(5)).await;
            println!("{}", table.render());
            tables.push(table);
        }
        if wanted("replicas") {
            let table = replicas::run(run.scenario(6)).await;
            println!("{}", table.render());
            tables.push(table);
        }
        tables
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    println!(
        "\nfault suite took {:.0} s (seed {seed})",
        started.elapsed().as_secs_f64()
    );
    let failures: Vec<String> = tables
        .iter()
        .flat_map(|t| t.failures.iter().map(move |f| format!("{}: {f}", t.title)))
        .collect();
    assert!(
        failures.is_empty(),
        "the fault suite found {} problem(s) (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("fault suite: nothing lost, duplicated, unexpected or answered wrongly");
}

/// `cargo test NAME` passes NAME to every test binary: this one runs only when
/// no name is given or one is part of "faults", and lists nothing for `--list`.
fn selected_by_cargo_test_filter() -> bool {
    let mut args = std::env::args().skip(1);
    let mut filters = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => return false,
            "--test-threads" | "--skip" | "--color" | "--format" | "--logfile" | "-Z" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter.to_string()),
        }
    }
    let selected = filters.is_empty() || filters.iter().any(|f| "faults".contains(f.as_str()));
    if !selected {
        println!("fault suite: not selected by the filter {filters:?}");
    }
    selected
}

/// Starts `starling serve` with `env` (blocking until it listens; the load's
/// tasks keep running on the other worker).
pub fn start_process(env: &[(&str, String)]) -> process::StarlingProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tokio::task::block_in_place(|| process::StarlingProcess::start(&env))
}

/// A client for posting to Starling (and reading its answers) in a scenario.
pub fn process_client() -> reqwest::Client {
    starling::actions::outbound::init_tls();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Rows of `sql` with `$1` bound to `id`, on PostgreSQL (diagnostics only).
pub async fn on_pg<T>(store: &starling::store::Store, sql: &'static str, id: i64) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    match store {
        starling::store::Store::Postgres(p) => {
            sqlx::query_as(sql).bind(id).fetch_all(p).await.unwrap()
        }
        starling::store::Store::Sqlite(_) => Vec::new(),
    }
}
