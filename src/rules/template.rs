//! The Jinja side of rules: one `minijinja` environment per rule set, the
//! helpers rules may call, and mapping a Jinja error position back to the line
//! and column *inside the rule file*.
//!
//! Helpers (besides minijinja's built-in filters such as `lower`, `upper`,
//! `trim`, `replace`, `length`, `default`, `join`, `first`, `last`):
//! - `text | has_keyword(words)` / `text is has_keyword(words)`: any of `words` (a
//!   string or a list), case-insensitive, on word boundaries;
//! - `text | matches_regex(pattern)` / `text is matches_regex(pattern)`: a regular
//!   expression found anywhere in `text` (`(?i)` for case-insensitive);
//! - `text | regex_replace(pattern, replacement)`;
//! - `text | truncate(length=255, end="...")`: at most `length` characters;
//! - `secrets.NAME`: renders the marker `«secret:NAME»`, never the value (see
//!   `crate::secret::marker`); the action's request gets the value when sent.

use super::error::Pos;
use super::matcher::contains_keyword;
use minijinja::value::ViaDeserialize;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use regex::Regex;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// Prefix and suffix that turn a `when:` expression into a template.
pub const CONDITION_PREFIX: &str = "{% if ";
pub const CONDITION_SUFFIX: &str = " %}true{% endif %}";

pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_debug(true);
    // An undefined field is an error (recorded against the rule), never a silent "".
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("has_keyword", has_keyword);
    env.add_test("has_keyword", has_keyword);
    env.add_filter("matches_regex", matches_regex);
    env.add_test("matches_regex", matches_regex);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("truncate", truncate);
    // `intent(text)`: the built-in reply-intent classifier on any text.
    env.add_function("intent", |text: &str| {
        minijinja::Value::from_serialize(crate::intent::intent(text))
    });
    env.add_global("secrets", minijinja::Value::from_object(SecretMarkers));
    env
}

/// `secrets` in templates: any attribute is its marker. Which names exist is
/// checked when rules load (`rules check`), and again when the action is sent.
#[derive(Debug)]
struct SecretMarkers;

impl minijinja::value::Object for SecretMarkers {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let name = key.as_str()?;
        Some(minijinja::Value::from(
            crate::secret::marker::secret_marker(name),
        ))
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        // Listing (or printing) `secrets` shows nothing.
        minijinja::value::Enumerator::Empty
    }
}

fn has_keyword(text: &str, words: ViaDeserialize<OneOrMany>) -> bool {
    let text = text.to_lowercase();
    words
        .0
        .into_vec()
        .iter()
        .any(|w| contains_keyword(&text, &w.to_lowercase()))
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

fn cached_regex(pattern: &str) -> Result<Arc<Regex>, Error> {
    static CACHE: LazyLock<Mutex<HashMap<String, Arc<Regex>>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().expect("regex cache lock");
    if let Some(re) = cache.get(pattern) {
        return Ok(re.clone());
    }
    let re = Arc::new(Regex::new(pattern).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("invalid regular expression: {e}"),
        )
    })?);
    if cache.len() > 10_000 {
        cache.clear();
    }
    cache.insert(pattern.to_string(), re.clone());
    Ok(re)
}

fn matches_regex(text: &str, pattern: &str) -> Result<bool, Error> {
    Ok(cached_regex(pattern)?.is_match(text))
}

fn regex_replace(text: &str, pattern: &str, replacement: &str) -> Result<String, Error> {
    Ok(cached_regex(pattern)?
        .replace_all(text, replacement)
        .into_owned())
}

fn truncate(text: &str, length: Option<usize>, end: Option<&str>) -> String {
    let length = length.unwrap_or(255);
    let end = end.unwrap_or("...");
    if text.chars().count() <= length {
        return text.to_string();
    }
    let keep = length.saturating_sub(end.chars().count());
    text.chars().take(keep).collect::<String>() + end
}

/// Where a YAML scalar's text sits in its file, to place errors inside it.
#[derive(Debug, Clone, Copy)]
pub struct ScalarPlace {
    /// Line and column of the scalar's first character of content.
    content: Pos,
    /// Block scalars (`|`, `>`) start on the next line at this indentation.
    block_indent: Option<usize>,
}

impl ScalarPlace {
    /// `marker` is the YAML node's start (1-based line and column) in `source`.
    pub fn new(source: &str, line: usize, column: usize) -> Self {
        let lines: Vec<&str> = source.lines().collect();
        let this = lines.get(line.wrapping_sub(1)).copied().unwrap_or("");
        let first = this.chars().nth(column.saturating_sub(1));
        match first {
            Some('"') | Some('\'') => Self {
                content: Pos {
                    line,
                    column: column + 1,
                },
                block_indent: None,
            },
            Some('|') | Some('>') => {
                let next = lines.get(line).copied().unwrap_or("");
                let indent = next.len() - next.trim_start().len();
                Self {
                    content: Pos {
                        line: line + 1,
                        column: indent + 1,
                    },
                    block_indent: Some(indent),
                }
            }
            _ => Self {
                content: Pos { line, column },
                block_indent: None,
            },
        }
    }

    /// The file position of byte `offset` of the scalar's value `text`.
    pub fn locate(&self, text: &str, offset: usize) -> Pos {
        let before = &text[..offset.min(text.len())];
        let line_in = before.matches('\n').count();
        let col_in = before.rsplit('\n').next().unwrap_or("").chars().count();
        match (line_in, self.block_indent) {
            (0, _) => Pos {
                line: self.content.line,
                column: self.content.column + col_in,
            },
            (n, Some(indent)) => Pos {
                line: self.content.line + n,
                column: indent + 1 + col_in,
            },
            (n, None) => Pos {
                line: self.content.line + n,
                column: col_in + 1,
            },
        }
    }
}

/// A Jinja error as "what is wrong", without minijinja's own template name and line.
pub fn describe(error: &Error) -> String {
    let mut message = error.kind().to_string();
    if let Some(detail) = error.detail() {
        message = format!("{message}: {detail}");
    }
    message
}

/// `describe`, and for an undefined value in strict mode the name of what is
/// missing from this event (`data.receiver` has no `screen_name`) or, failing
/// that, the expression that produced it.
pub fn explain(
    error: &Error,
    template: &minijinja::Template<'_, '_>,
    context: &serde_json::Value,
) -> String {
    let message = describe(error);
    if error.kind() != ErrorKind::UndefinedError {
        return message;
    }
    let mut paths: Vec<String> = template.undeclared_variables(true).into_iter().collect();
    paths.sort();
    let missing = paths.iter().find_map(|path| first_missing(context, path));
    if let Some((present, absent)) = missing {
        let hint = "guard it with `when:` or give a fallback with `| default(…)`";
        return format!("{message}: `{present}` has no `{absent}` in this event; {hint}");
    }
    let expression = error
        .range()
        .and_then(|range| template.source().get(range))
        .map(str::trim);
    match expression {
        Some(expression) if !expression.is_empty() => format!("{message} in `{expression}`"),
        _ => message,
    }
}

/// For a dotted path whose root the context has (`data`, `event`, `tweet`), the
/// part that resolves and the first segment that does not; `None` when it all
/// resolves or the root is a global (`secrets`, a loop variable).
fn first_missing<'p>(context: &serde_json::Value, path: &'p str) -> Option<(&'p str, &'p str)> {
    let mut segments = path.split('.');
    let root = segments.next()?;
    let mut value = context.get(root)?;
    let mut end = root.len();
    for segment in segments {
        match value.get(segment) {
            Some(next) if !next.is_null() => value = next,
            _ => return Some((&path[..end], segment)),
        }
        end += 1 + segment.len();
    }
    None
}

/// Byte offset of a Jinja error inside the template source, if known.
pub fn error_offset(error: &Error, template: &str) -> Option<usize> {
    if let Some(range) = error.range() {
        return Some(range.start);
    }
    let line = error.line()?;
    Some(
        template
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn helpers_work_in_expressions() {
        let env = environment();
        let t = |expr: &str| {
            env.compile_expression(expr)
                .unwrap()
                .eval(context! { text => "Hey! I'm Interested, let's chat." })
                .unwrap()
                .is_true()
        };
        assert!(t("text is has_keyword(['interested', 'demo'])"));
        assert!(t("text | has_keyword(\"let's chat\")"));
        assert!(!t("text is has_keyword('interest')"), "word boundaries");
        assert!(t("text is matches_regex('(?i)let.s\\\\s+chat')"));
        assert!(!t("text is matches_regex('^chat')"));
    }

    #[test]
    fn secrets_render_as_markers() {
        let env = environment();
        let rendered = env
            .render_str(
                "Bearer {{ secrets.API_TOKEN }} {{ secrets['hook'] }}",
                context! {},
            )
            .unwrap();
        assert_eq!(rendered, "Bearer «secret:API_TOKEN» «secret:hook»");
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("héllo wörld", Some(8), None), "héllo...");
        assert_eq!(truncate("short", Some(8), None), "short");
    }

    #[test]
    fn positions_inside_plain_quoted_and_block_scalars() {
        let src = "- when: data.x ==\n  q: \"{{ a }}\"\n  b: |\n    line one\n    {{ x }}\n";
        let plain = ScalarPlace::new(src, 1, 9);
        assert_eq!(
            plain.locate("data.x ==", 7),
            Pos {
                line: 1,
                column: 16
            }
        );
        let quoted = ScalarPlace::new(src, 2, 6);
        assert_eq!(
            quoted.locate("{{ a }}", 3),
            Pos {
                line: 2,
                column: 10
            }
        );
        let block = ScalarPlace::new(src, 3, 6);
        assert_eq!(
            block.locate("line one\n{{ x }}\n", 12),
            Pos { line: 5, column: 8 }
        );
    }

    #[test]
    fn an_undefined_value_names_what_the_event_lacks() {
        let mut env = environment();
        let event = serde_json::json!({"data": {"message": {"text": "hi"}, "receiver": null}});
        let explain_for = |env: &mut Environment<'static>, source: &str| {
            env.add_template_owned("t", source.to_string()).unwrap();
            let template = env.get_template("t").unwrap();
            let error = template
                .render(minijinja::Value::from_serialize(&event))
                .unwrap_err();
            explain(&error, &template, &event)
        };
        let message = explain_for(&mut env, "from {{ data.receiver.screen_name }}");
        assert!(
            message.contains("`data` has no `receiver` in this event"),
            "{message}"
        );
        let message = explain_for(&mut env, "{{ data.message.txt | upper }}");
        assert!(
            message.contains("`data.message` has no `txt` in this event"),
            "{message}"
        );
    }
}
