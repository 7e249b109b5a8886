//! The first guard of `starling audit`: the SQL must be exactly one query.
//!
//! A keyword filter is not enough (`WITH gone AS (DELETE …) SELECT …` starts with
//! `WITH`; `query_to_xml('COPY …')` is a SELECT), so the text is parsed with
//! `sqlparser` in the backend's dialect and the whole tree is walked. Admitted:
//! one `SELECT` / `WITH` / `VALUES` query, `EXPLAIN` of one (never `ANALYZE`, which
//! runs it), and on SQLite a reading `PRAGMA name` / `PRAGMA name(arg)` (which
//! pragmas read is the authorizer's call). Refused anywhere in the tree: DML
//! (data-modifying `WITH`), `SELECT … INTO`, row locks, and functions that act on
//! the server or run SQL text ([`DENIED_FUNCTIONS`]).
//!
//! This is defence in depth, not the wall: the database refuses the rest (SQLite's
//! read-only connection and authorizer; on PostgreSQL a read-only transaction run
//! as a role that may only SELECT). SQL the parser cannot read is refused too —
//! audit admits only what it has checked.

use sqlparser::ast::{
    Expr, ObjectName, Query, Select, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::ops::ControlFlow;

/// Which SQL the statement is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Why a statement was refused before it reached the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// What every refusal ends with, so a user knows what is admitted.
pub const ADMITTED: &str = "audit is read-only and runs exactly one query: SELECT, WITH … SELECT, \
     VALUES, or EXPLAIN (without ANALYZE) of one; on SQLite also reading PRAGMAs such as table_info(t)";

/// Functions refused by name (any schema), on both backends. On PostgreSQL the
/// reader role already lacks the privilege for most; the list catches them early
/// with a clear message, and catches those that run SQL text (`query_to_xml`,
/// `ts_stat`), change the session (`set_config`) or take locks Starling needs.
pub const DENIED_FUNCTIONS: &[&str] = &[
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_switch_wal",
    "pg_create_restore_point",
    "pg_log_backend_memory_contexts",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "pg_file_write",
    "lo_import",
    "lo_export",
    "lo_create",
    "lo_creat",
    "lo_unlink",
    "lo_put",
    "lo_from_bytea",
    "set_config",
    "pg_notify",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "ts_stat",
    "dblink",
    "dblink_exec",
    "load_extension",
];

/// Admits `sql` if it is exactly one read query in `dialect`.
pub fn check(sql: &str, dialect: Dialect) -> Result<(), Refusal> {
    if dialect == Dialect::Sqlite && first_word(sql, dialect).as_deref() == Some("PRAGMA") {
        return check_pragma(sql);
    }
    let statements = match dialect {
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
    }
    .map_err(|e| match first_word(sql, dialect) {
        Some(word)
            if !matches!(
                word.as_str(),
                "SELECT" | "WITH" | "VALUES" | "EXPLAIN" | "("
            ) =>
        {
            refused(&word)
        }
        _ => Refusal(format!(
            "audit could not check this query ({e}); {ADMITTED}, in syntax it can parse"
        )),
    })?;
    let statement = match statements.as_slice() {
        [] => return Err(Refusal(format!("no statement given; {ADMITTED}"))),
        [one] => one,
        many => {
            return Err(Refusal(format!(
                "{} statements given, one at a time please; {ADMITTED}",
                many.len()
            )));
        }
    };
    match statement {
        Statement::Query(_) => {}
        Statement::Explain {
            analyze,
            statement: inner,
            options,
            ..
        } => {
            let analyze_option = options.iter().flatten().any(|o| {
                o.name.value.eq_ignore_ascii_case("analyze")
                    && !o.arg.as_ref().is_some_and(|a| {
                        matches!(
                            a.to_string().to_ascii_lowercase().as_str(),
                            "false" | "off" | "0"
                        )
                    })
            });
            if *analyze || analyze_option {
                return Err(Refusal(format!(
                    "EXPLAIN ANALYZE runs the statement it explains; use EXPLAIN alone. {ADMITTED}"
                )));
            }
            if !matches!(**inner, Statement::Query(_)) {
                return Err(refused(&kind(inner)));
            }
        }
        Statement::Pragma { is_eq: false, .. } if dialect == Dialect::Sqlite => {}
        other => return Err(refused(&kind(other))),
    }
    match statement.visit(&mut Guard) {
        ControlFlow::Break(refusal) => Err(refusal),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn refused(kind: &str) -> Refusal {
    let why = match kind {
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE" => {
            "transaction control is refused: audit runs the query in its own read-only transaction"
        }
        "SET" | "RESET" => "SET is refused: audit's session settings are fixed",
        "COPY" => "COPY is refused: it can write files and run programs on the server",
        "DO" | "CALL" | "EXECUTE" | "PREPARE" => "procedural code is refused",
        _ => "only queries are admitted",
    };
    Refusal(format!("{kind} statements are refused ({why}); {ADMITTED}"))
}

/// The statement's leading keyword, e.g. `COPY`.
fn kind(statement: &Statement) -> String {
    let text = statement.to_string();
    text.split_whitespace()
        .next()
        .unwrap_or("this")
        .to_ascii_uppercase()
}

/// The first token that is not whitespace or a comment, upper-cased.
fn first_word(sql: &str, dialect: Dialect) -> Option<String> {
    let tokens = match dialect {
        Dialect::Sqlite => Tokenizer::new(&SQLiteDialect {}, sql).tokenize(),
        Dialect::Postgres => Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize(),
    }
    .ok()?;
    tokens.into_iter().find_map(|t| match t {
        Token::Whitespace(_) => None,
        Token::Word(w) => Some(w.value.to_ascii_uppercase()),
        other => Some(other.to_string()),
    })
}

/// SQLite's `PRAGMA [schema.]name [(argument)] [;]`: the shape is checked here;
/// whether `name` only reads is the authorizer's decision (it knows the list).
fn check_pragma(sql: &str) -> Result<(), Refusal> {
    let tokens = Tokenizer::new(&SQLiteDialect {}, sql)
        .tokenize()
        .map_err(|e| {
            Refusal(format!(
                "audit could not read this PRAGMA ({e}); {ADMITTED}"
            ))
        })?;
    let mut tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    if tokens.last() == Some(&Token::SemiColon) {
        tokens.pop();
    }
    let word = |t: &Token| matches!(t, Token::Word(_));
    let argument = |t: &Token| {
        matches!(
            t,
            Token::Word(_) | Token::Number(..) | Token::SingleQuotedString(_)
        )
    };
    let shaped = match tokens.as_slice() {
        [_, name] => word(name),
        [_, schema, Token::Period, name] => word(schema) && word(name),
        [_, name, Token::LParen, arg, Token::RParen] => word(name) && argument(arg),
        [
            _,
            schema,
            Token::Period,
            name,
            Token::LParen,
            arg,
            Token::RParen,
        ] => word(schema) && word(name) && argument(arg),
        _ => false,
    };
    if shaped {
        Ok(())
    } else {
        Err(Refusal(format!(
            "only a reading PRAGMA (`PRAGMA name` or `PRAGMA name(argument)`, one statement, never `= value`) is admitted; {ADMITTED}"
        )))
    }
}

/// Walks the whole tree: subqueries, CTEs, derived tables, expressions.
struct Guard;

impl Visitor for Guard {
    type Break = Refusal;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Refusal> {
        match statement {
            Statement::Query(_) | Statement::Explain { .. } | Statement::Pragma { .. } => {
                ControlFlow::Continue(())
            }
            nested => ControlFlow::Break(Refusal(format!(
                "{} inside a query is refused: audit only reads; {ADMITTED}",
                kind(nested)
            ))),
        }
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Refusal> {
        if !query.locks.is_empty() {
            return ControlFlow::Break(Refusal(format!(
                "row locks (FOR UPDATE / FOR SHARE) are refused: audit only reads; {ADMITTED}"
            )));
        }
        if let SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) =
            &*query.body
        {
            return self.pre_visit_statement(s);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Refusal> {
        if select.into.is_some() {
            return ControlFlow::Break(Refusal(format!(
                "SELECT … INTO creates a table and is refused; {ADMITTED}"
            )));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refusal> {
        match expr {
            Expr::Function(f) => denied(&f.name),
            _ => ControlFlow::Continue(()),
        }
    }

    /// `FROM pg_ls_dir('.')` is a relation with arguments.
    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<Refusal> {
        denied(relation)
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Refusal> {
        match factor {
            TableFactor::Function { name, .. } => denied(name),
            _ => ControlFlow::Continue(()),
        }
    }
}

fn denied(name: &ObjectName) -> ControlFlow<Refusal> {
    let last = name
        .0
        .last()
        .and_then(|part| part.as_ident())
        .map(|ident| ident.value.to_ascii_lowercase());
    match last {
        Some(function) if DENIED_FUNCTIONS.contains(&function.as_str()) => {
            ControlFlow::Break(Refusal(format!(
                "{function}() is refused: it acts on the server or runs SQL text, and audit only reads; {ADMITTED}"
            )))
        }
        _ => ControlFlow::Continue(()),
    }
}

#[cfg(test)]
#[path = "statement_tests.rs"]
mod tests;
