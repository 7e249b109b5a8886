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
    assert_eq!(render_json(&Table::default()), "[]\n");
}

#[test]
fn a_small_table_is_one_table_with_its_count() {
    let rendered = render_table(&sample());
    assert_eq!(rendered.matches("│ id").count(), 1, "{rendered}");
    assert!(rendered.ends_with("\n(2 rows)\n"), "{rendered}");
    assert_eq!(render_table(&Table::default()), "(no rows)\n");
}

/// Rows reach the writer as they are fed, whatever the length of the result:
/// CSV and JSON at once, the table a page at a time.
#[test]
fn the_renderer_writes_rows_as_they_come_from_an_iterator() {
    let rows = (0..50_000).map(|i| vec![json!(i), json!(format!("row {i}"))]);
    for format in [Format::Csv, Format::Json] {
        let mut renderer = Renderer::new(Vec::new(), format);
        renderer.columns(&["id".into(), "text".into()]).unwrap();
        let mut written = renderer.out.len();
        for row in rows.clone() {
            renderer.row(&row).unwrap();
            assert!(
                renderer.out.len() > written,
                "{format:?}: a row was held back"
            );
            written = renderer.out.len();
        }
        let out = String::from_utf8(renderer.finish(true).unwrap()).unwrap();
        if format == Format::Json {
            let parsed: Vec<Value> = serde_json::from_str(&out).unwrap();
            assert_eq!(parsed.len(), 50_000);
        } else {
            assert_eq!(out.lines().count(), 50_001);
        }
    }

    let mut renderer = Renderer::new(Vec::new(), Format::Table);
    renderer.columns(&["id".into(), "text".into()]).unwrap();
    for (i, row) in rows.take(2_500).enumerate() {
        renderer.row(&row).unwrap();
        assert!(
            renderer.page.len() < TABLE_PAGE_ROWS,
            "at most one page is held"
        );
        assert_eq!(renderer.page.len(), (i + 1) % TABLE_PAGE_ROWS);
    }
    let out = String::from_utf8(renderer.finish(true).unwrap()).unwrap();
    assert_eq!(
        out.matches("│ id").count(),
        3,
        "three pages, each with its header"
    );
    assert!(out.ends_with("\n(2500 rows)\n"));
}

#[test]
fn a_failed_query_keeps_what_was_shown_and_prints_no_ending() {
    let mut renderer = Renderer::new(Vec::new(), Format::Json);
    renderer.columns(&["id".into()]).unwrap();
    renderer.row(&[json!(1)]).unwrap();
    let out = String::from_utf8(renderer.finish(false).unwrap()).unwrap();
    assert_eq!(
        out, "[\n  {\"id\": 1}",
        "no closing bracket: the result is incomplete"
    );
}
