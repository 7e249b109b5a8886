//! Jinja inside rule files: compiling templates and conditions, placing their
//! syntax errors at the right line and column, and checking literal regexes.

use super::yaml::scalar_pos;
use super::{Loader, Src};
use crate::rules::template::{self, ScalarPlace};
use marked_yaml::types::MarkedScalarNode;

impl Loader {
    /// Compiles a template into the environment, placing a syntax error inside the file.
    pub(super) fn compile(
        &mut self,
        src: Src,
        scalar: &MarkedScalarNode,
        name: String,
        body: String,
        prefix_len: usize,
        what: &str,
    ) -> Option<String> {
        match self.env.add_template_owned(name.clone(), body.clone()) {
            Ok(()) => {
                self.check_regex_literals(src, scalar, what);
                self.check_secret_refs(src, scalar, what);
                self.check_names(src, scalar, &body, prefix_len, what);
                self.check_paths(src, scalar, &name, what);
                Some(name)
            }
            Err(e) => {
                let at = scalar_pos(scalar);
                let place = ScalarPlace::new(src.text, at.line, at.column);
                let offset = template::error_offset(&e, &body)
                    .unwrap_or(prefix_len)
                    .saturating_sub(prefix_len);
                let pos = place.locate(scalar.as_str(), offset.min(scalar.as_str().len()));
                let hint = if what == "when" && scalar.as_str().contains("{{") {
                    " (`when:` is a bare Jinja expression: drop the `{{ }}`)"
                } else {
                    ""
                };
                self.error(
                    src,
                    pos,
                    format!("{what}: Jinja {}{hint}", template::describe(&e)),
                );
                None
            }
        }
    }

    /// Regular expressions written as literals (`matches_regex('…')`) are compiled
    /// now, so a bad pattern is a load error with its position, not a runtime one.
    pub(super) fn check_regex_literals(&mut self, src: Src, scalar: &MarkedScalarNode, what: &str) {
        static LITERAL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r#"(?:matches_regex|regex_replace)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"#).expect("valid")
        });
        let text = scalar.as_str();
        for caps in LITERAL.captures_iter(text) {
            let Some(m) = caps.get(1).or_else(|| caps.get(2)) else {
                continue;
            };
            let pattern = unescape_jinja(m.as_str());
            if let Err(e) = regex::Regex::new(&pattern) {
                let at = scalar_pos(scalar);
                let pos = ScalarPlace::new(src.text, at.line, at.column).locate(text, m.start());
                let why = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                self.error(
                    src,
                    pos,
                    format!("{what}: invalid regular expression `{pattern}`: {why}"),
                );
            }
        }
    }
}

/// A Jinja string literal's content as the string it denotes.
fn unescape_jinja(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(quote @ ('\\' | '\'' | '"')) => out.push(quote),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}
