//! `starling audit ["SQL"] [--format table|json|csv]`: a user's read-only SQL,
//! printed for people or programs as the rows arrive.
//!
//! CSV and JSON are written row by row. The aligned table needs its column widths
//! before its first line, so it is printed in pages of [`TABLE_PAGE_ROWS`] rows,
//! each page its own table with its own widths: at most one page is ever held.

use crate::config::Settings;
use crate::store::audit::{self, AuditError, RowSink, Table, Target};
use serde_json::Value;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Rows held to size one page of `--format table`.
pub const TABLE_PAGE_ROWS: usize = 1000;

/// Runs `sql` (or the latest events) as `[audit]` says and writes the result to
/// `out` as it is read; returns the number of rows.
pub async fn run<W: Write>(
    settings: &Settings,
    sql: Option<&str>,
    format: Format,
    out: W,
) -> Result<u64, AuditError> {
    let sql = sql.unwrap_or(audit::LATEST_EVENTS);
    let mut renderer = Renderer::new(out, format);
    let result = audit::run(&Target::from_settings(settings), sql, &mut renderer).await;
    // What was read before a failure is still shown; the footer only on success.
    renderer
        .finish(result.is_ok())
        .map_err(AuditError::Output)?;
    result
}

/// [`run`] into a string (tests, and callers that want the text).
pub async fn run_to_string(
    settings: &Settings,
    sql: Option<&str>,
    format: Format,
) -> Result<String, AuditError> {
    let mut out = Vec::new();
    run(settings, sql, format, &mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Writes a result in `format` as rows arrive.
pub struct Renderer<W: Write> {
    out: W,
    format: Format,
    columns: Vec<String>,
    /// `--format table` only: the rows of the page being filled.
    page: Vec<Vec<Value>>,
    rows: u64,
}

impl<W: Write> Renderer<W> {
    pub fn new(out: W, format: Format) -> Self {
        Self {
            out,
            format,
            columns: Vec::new(),
            page: Vec::new(),
            rows: 0,
        }
    }

    /// Prints what is still held and, if the query `completed`, the ending
    /// (`]`, the row count); gives the writer back.
    pub fn finish(mut self, completed: bool) -> std::io::Result<W> {
        match self.format {
            Format::Table => {
                if !self.page.is_empty() {
                    self.print_page()?;
                }
                if completed {
                    match self.rows {
                        0 => writeln!(self.out, "(no rows)")?,
                        1 => writeln!(self.out, "(1 row)")?,
                        n => writeln!(self.out, "({n} rows)")?,
                    }
                }
            }
            Format::Json if completed => {
                let end = if self.rows == 0 { "]\n" } else { "\n]\n" };
                self.out.write_all(end.as_bytes())?;
            }
            Format::Json | Format::Csv => {}
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn print_page(&mut self) -> std::io::Result<()> {
        let mut table = terminal_table();
        table.set_header(&self.columns);
        for row in self.page.drain(..) {
            table.add_row(row.iter().map(cell));
        }
        writeln!(self.out, "{table}")
    }
}

impl<W: Write> RowSink for Renderer<W> {
    fn columns(&mut self, names: &[String]) -> std::io::Result<()> {
        self.columns = names.to_vec();
        match self.format {
            Format::Csv => writeln!(self.out, "{}", csv_line(names.iter().cloned())),
            Format::Json => self.out.write_all(b"["),
            Format::Table => Ok(()),
        }
    }

    fn row(&mut self, values: &[Value]) -> std::io::Result<()> {
        self.rows += 1;
        match self.format {
            Format::Csv => writeln!(self.out, "{}", csv_line(values.iter().map(cell))),
            Format::Json => {
                let mut line = String::from(if self.rows == 1 { "\n  {" } else { ",\n  {" });
                for (j, (column, value)) in self.columns.iter().zip(values).enumerate() {
                    if j > 0 {
                        line.push_str(", ");
                    }
                    line.push_str(&format!("{}: {}", Value::from(column.as_str()), value));
                }
                line.push('}');
                self.out.write_all(line.as_bytes())
            }
            Format::Table => {
                self.page.push(values.to_vec());
                if self.page.len() == TABLE_PAGE_ROWS {
                    self.print_page()?;
                }
                Ok(())
            }
        }
    }
}

/// A table for people: wrapped to the terminal's width (or `COLUMNS`, when the
/// output is not a terminal but its reader has a width), never wider.
pub fn terminal_table() -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    if let Some(width) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        table.set_width(width);
    }
    table
}

/// The rows as JSON objects, one per row (for a command's single JSON document).
pub fn json_rows(table: &Table) -> Vec<Value> {
    table
        .rows
        .iter()
        .map(|row| {
            let fields = table.columns.iter().cloned().zip(row.iter().cloned());
            Value::Object(fields.collect())
        })
        .collect()
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_line(fields: impl Iterator<Item = String>) -> String {
    fields
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Renders a whole (small) result, e.g. Starling's own listings.
pub fn render(table: &Table, format: Format) -> String {
    let mut renderer = Renderer::new(Vec::new(), format);
    let fed = renderer
        .columns(&table.columns)
        .and_then(|()| table.rows.iter().try_for_each(|row| renderer.row(row)));
    fed.expect("writing to memory cannot fail");
    let out = renderer
        .finish(true)
        .expect("writing to memory cannot fail");
    String::from_utf8(out).expect("rendered text is UTF-8")
}

pub fn render_table(table: &Table) -> String {
    render(table, Format::Table)
}

/// One JSON object per row, keys in the query's column order.
pub fn render_json(table: &Table) -> String {
    render(table, Format::Json)
}

pub fn render_csv(table: &Table) -> String {
    render(table, Format::Csv)
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
