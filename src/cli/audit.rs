//! `starling audit ["SQL"] [--format table|json|csv]`: read-only SQL over the
//! events, quarantine and (later) audit tables, printed for people or programs.

use crate::store::audit::{self, Table};
use serde_json::Value;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Runs `sql` (or the latest events) read-only and renders the result.
pub async fn run(database_url: &str, sql: Option<&str>, format: Format) -> anyhow::Result<String> {
    let sql = sql.unwrap_or(audit::LATEST_EVENTS);
    let table = audit::query(database_url, sql).await?;
    Ok(match format {
        Format::Table => render_table(&table),
        Format::Json => render_json(&table),
        Format::Csv => render_csv(&table),
    })
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn render_table(table: &Table) -> String {
    if table.rows.is_empty() {
        return "(no rows)\n".into();
    }
    let mut out = comfy_table::Table::new();
    out.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(&table.columns);
    for row in &table.rows {
        out.add_row(row.iter().map(cell));
    }
    let n = table.rows.len();
    format!("{out}\n({n} {})\n", if n == 1 { "row" } else { "rows" })
}

/// One JSON object per row, keys in the query's column order.
pub fn render_json(table: &Table) -> String {
    let mut out = String::from("[");
    for (i, row) in table.rows.iter().enumerate() {
        out.push_str(if i == 0 { "\n  {" } else { ",\n  {" });
        for (j, (column, value)) in table.columns.iter().zip(row).enumerate() {
            if j > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}: {}", Value::from(column.as_str()), value);
        }
        out.push('}');
    }
    out.push_str(if table.rows.is_empty() {
        "]\n"
    } else {
        "\n]\n"
    });
    out
}

pub fn render_csv(table: &Table) -> String {
    let mut out = String::new();
    let line = |fields: Vec<String>| {
        fields
            .iter()
            .map(|f| {
                if f.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    out.push_str(&line(table.columns.clone()));
    out.push('\n');
    for row in &table.rows {
        out.push_str(&line(row.iter().map(cell).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Table {
        Table {
            columns: vec!["id".into(), "text".into()],
            rows: vec![
                vec![json!(1), json!("a, \"b\"")],
                vec![json!(2), Value::Null],
            ],
        }
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(render_csv(&sample()), "id,text\n1,\"a, \"\"b\"\"\"\n2,\n");
    }

    #[test]
    fn json_keeps_column_order() {
        let rendered = render_json(&sample());
        let parsed: Vec<serde_json::Map<String, Value>> = serde_json::from_str(&rendered).unwrap();
        assert_eq!(parsed[0]["text"], json!("a, \"b\""));
        assert!(rendered.find("\"id\"").unwrap() < rendered.find("\"text\"").unwrap());
    }
}
