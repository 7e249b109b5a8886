use super::*;

const BOTH: [Dialect; 2] = [Dialect::Sqlite, Dialect::Postgres];

fn refusal(sql: &str, dialect: Dialect) -> String {
    match check(sql, dialect) {
        Ok(()) => panic!("{sql} was admitted on {dialect:?}"),
        Err(Refusal(message)) => message,
    }
}

#[test]
fn one_read_query_is_admitted() {
    for dialect in BOTH {
        for sql in [
            "SELECT 1 AS one",
            "select kind, count(*) from events group by kind order by 2 desc limit 5;",
            "VALUES (1, 'a'), (2, 'b')",
            "WITH recent AS (SELECT id FROM events ORDER BY id DESC LIMIT 3) SELECT * FROM recent",
            "SELECT * FROM events WHERE id IN (SELECT event_id FROM actions) UNION SELECT * FROM events",
            "EXPLAIN SELECT * FROM events",
            "  -- a comment first\n SELECT 1",
        ] {
            assert_eq!(check(sql, dialect), Ok(()), "{sql} on {dialect:?}");
        }
    }
    assert_eq!(
        check("EXPLAIN QUERY PLAN SELECT * FROM events", Dialect::Sqlite),
        Ok(())
    );
    assert_eq!(
        check("EXPLAIN (VERBOSE) SELECT 1", Dialect::Postgres),
        Ok(())
    );
    assert_eq!(
        check(
            "SELECT payload->'data'->>'account_handle', received_at::date FROM events",
            Dialect::Postgres
        ),
        Ok(())
    );
}

#[test]
fn statements_other_than_a_query_are_refused_by_kind() {
    for dialect in BOTH {
        for (sql, says) in [
            ("COPY (SELECT 1) TO PROGRAM 'touch /tmp/x'", "COPY"),
            ("COPY events TO '/tmp/events'", "COPY"),
            ("DO $$ BEGIN PERFORM 1; END $$", "DO"),
            ("CALL refresh()", "CALL"),
            ("SET statement_timeout = 0", "SET"),
            ("BEGIN", "transaction control"),
            ("START TRANSACTION READ WRITE", "transaction control"),
            ("COMMIT", "transaction control"),
            ("ROLLBACK", "transaction control"),
            ("DELETE FROM events", "DELETE"),
            ("UPDATE events SET kind = 'x'", "UPDATE"),
            ("INSERT INTO events (kind) VALUES ('x')", "INSERT"),
            ("DROP TABLE events", "DROP"),
            ("CREATE TABLE sneaky (id INTEGER)", "CREATE"),
            ("ATTACH DATABASE 'elsewhere.db' AS elsewhere", "ATTACH"),
            ("VACUUM INTO '/tmp/copy.db'", "VACUUM"),
        ] {
            let message = refusal(sql, dialect);
            assert!(message.contains(says), "{sql} on {dialect:?}: {message}");
            assert!(message.contains("exactly one query"), "{message}");
        }
    }
}

#[test]
fn more_or_fewer_than_one_statement_is_refused() {
    for dialect in BOTH {
        assert!(refusal("SELECT 1; SELECT 2", dialect).contains("2 statements"));
        assert!(refusal("SELECT 1; DELETE FROM events", dialect).contains("2 statements"));
        assert!(refusal("", dialect).contains("no statement"));
        assert!(refusal(" ; ", dialect).contains("statement"));
    }
}

#[test]
fn explain_analyze_is_refused_because_it_runs_the_statement() {
    for dialect in BOTH {
        assert!(refusal("EXPLAIN ANALYZE SELECT 1", dialect).contains("ANALYZE"));
        assert!(refusal("EXPLAIN DELETE FROM events", dialect).contains("DELETE"));
    }
    assert!(refusal("EXPLAIN (ANALYZE) SELECT 1", Dialect::Postgres).contains("ANALYZE"));
    assert!(
        refusal(
            "EXPLAIN (ANALYZE true, BUFFERS) SELECT 1",
            Dialect::Postgres
        )
        .contains("ANALYZE")
    );
}

#[test]
fn writes_hidden_inside_a_query_are_refused() {
    let pg = Dialect::Postgres;
    for (sql, says) in [
        (
            "WITH gone AS (DELETE FROM events RETURNING id) SELECT * FROM gone",
            "DELETE",
        ),
        (
            "WITH n AS (INSERT INTO events (kind) VALUES ('x') RETURNING id) SELECT 1",
            "INSERT",
        ),
        (
            "WITH u AS (UPDATE events SET kind = 'x' RETURNING id) SELECT count(*) FROM u",
            "UPDATE",
        ),
        ("SELECT * INTO copied FROM events", "INTO"),
        ("SELECT * FROM events FOR UPDATE", "FOR UPDATE"),
        (
            "SELECT * FROM (SELECT * FROM actions FOR SHARE) a",
            "FOR UPDATE",
        ),
    ] {
        let message = refusal(sql, pg);
        assert!(message.contains(says), "{sql}: {message}");
    }
}

#[test]
fn functions_that_act_on_the_server_are_refused_wherever_they_appear() {
    for sql in [
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
        "SELECT pg_catalog.PG_RELOAD_CONF()",
        "SELECT lo_export(16384, '/tmp/x')",
        "SELECT 1 WHERE EXISTS (SELECT pg_cancel_backend(1))",
        "SELECT * FROM pg_ls_dir('.')",
        "SELECT * FROM events e, LATERAL pg_read_file('/etc/passwd') f",
        "SELECT query_to_xml('COPY (SELECT 1) TO PROGRAM ''id''', true, false, '')",
        "SELECT set_config('statement_timeout', '0', false)",
        "WITH x AS (SELECT pg_advisory_lock(1)) SELECT * FROM x",
    ] {
        let message = refusal(sql, Dialect::Postgres);
        assert!(message.contains("acts on the server"), "{sql}: {message}");
    }
    assert!(
        refusal("SELECT load_extension('/tmp/evil')", Dialect::Sqlite).contains("load_extension")
    );
    // Ordinary functions are fine, and pg_sleep is bounded by statement_timeout.
    assert_eq!(
        check(
            "SELECT pg_sleep(0.01), now(), lower('A')",
            Dialect::Postgres
        ),
        Ok(())
    );
}

#[test]
fn sqlite_pragmas_are_admitted_in_their_reading_shapes_only() {
    let lite = Dialect::Sqlite;
    for sql in [
        "PRAGMA table_info(actions)",
        "pragma table_info('events');",
        "PRAGMA main.index_list(events)",
        "PRAGMA user_version",
    ] {
        assert_eq!(check(sql, lite), Ok(()), "{sql}");
    }
    for sql in [
        "PRAGMA user_version = 5",
        "PRAGMA journal_mode=DELETE",
        "PRAGMA table_info(actions); DELETE FROM events",
    ] {
        assert!(refusal(sql, lite).contains("reading PRAGMA"), "{sql}");
    }
    assert!(refusal("PRAGMA table_info(actions)", Dialect::Postgres).contains("PRAGMA"));
}

/// Every query the README offers passes the parser in the dialect it is written for.
#[test]
fn the_readme_queries_pass_the_check() {
    let readme = include_str!("../../../README.md");
    let first_sql_after = |heading: &str| {
        let section = readme
            .split(heading)
            .nth(1)
            .expect("the README has the section");
        section
            .split("```sql")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap()
    };
    let blocks = [
        first_sql_after("## Everyday questions, in SQL"),
        first_sql_after("### What did Starling do"),
    ];
    for (block, dialects) in [(blocks[0], &BOTH[..1]), (blocks[1], &BOTH[..])] {
        for sql in block.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            for dialect in dialects {
                assert_eq!(check(sql, *dialect), Ok(()), "{sql} on {dialect:?}");
            }
        }
    }
}
