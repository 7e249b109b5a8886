//! The suite's output: one table per scenario, and the failures that make the
//! run fail (any lost, duplicated or unexpected item, any wrong answer).

use comfy_table::{Table as Comfy, presets::ASCII_MARKDOWN};

pub struct Table {
    pub title: String,
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// What must be zero and was not, one line each (with the ids involved).
    pub failures: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>, header: &[&'static str]) -> Self {
        Self {
            title: title.into(),
            header: header.to_vec(),
            rows: Vec::new(),
            failures: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.header.len(), "a row of {}", self.title);
        self.rows.push(cells);
    }

    /// Records `items` as a failure named `what` (nothing when there are none).
    pub fn fail_if_any(&mut self, what: &str, items: &[String]) {
        if !items.is_empty() {
            let shown: Vec<&String> = items.iter().take(10).collect();
            self.failures
                .push(format!("{what}: {} — {shown:?}", items.len()));
        }
    }

    pub fn render(&self) -> String {
        let mut table = Comfy::new();
        table.load_preset(ASCII_MARKDOWN);
        table.set_header(self.header.clone());
        for row in &self.rows {
            table.add_row(row.clone());
        }
        format!("\n### {}\n\n{table}\n", self.title)
    }
}
