//! A JSON document exposed to Jinja without copying it.
//!
//! Converting a whole event into minijinja values before each evaluation cost more
//! than the evaluation itself; a [`JsonView`] shares the parsed document and turns
//! only the fields a template touches into Jinja values, when it touches them.

use minijinja::Value as Jinja;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::Value;
use std::sync::Arc;

/// The node at `pointer` (a JSON pointer) of a shared document.
#[derive(Debug)]
pub struct JsonView {
    root: Arc<Value>,
    pointer: String,
}

impl JsonView {
    /// `value` as a Jinja value: scalars directly, objects and arrays as views.
    pub fn wrap(root: Arc<Value>) -> Jinja {
        to_jinja(&root, String::new(), &root)
    }

    fn node(&self) -> &Value {
        self.root.pointer(&self.pointer).unwrap_or(&Value::Null)
    }
}

fn to_jinja(root: &Arc<Value>, pointer: String, value: &Value) -> Jinja {
    match value {
        Value::Null => Jinja::from(()),
        Value::Bool(b) => Jinja::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Jinja::from(i),
            (None, Some(u)) => Jinja::from(u),
            _ => Jinja::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Jinja::from(s.as_str()),
        Value::Object(_) | Value::Array(_) => Jinja::from_object(JsonView {
            root: root.clone(),
            pointer,
        }),
    }
}

fn child_pointer(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

impl Object for JsonView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.node() {
            Value::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Jinja) -> Option<Jinja> {
        match self.node() {
            Value::Object(map) => {
                let key = key.as_str()?;
                let child = map.get(key)?;
                Some(to_jinja(
                    &self.root,
                    child_pointer(&self.pointer, key),
                    child,
                ))
            }
            Value::Array(items) => {
                let index = key.as_usize()?;
                let child = items.get(index)?;
                Some(to_jinja(
                    &self.root,
                    child_pointer(&self.pointer, &index.to_string()),
                    child,
                ))
            }
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.node() {
            Value::Object(map) => {
                Enumerator::Values(map.keys().map(|k| Jinja::from(k.as_str())).collect())
            }
            Value::Array(items) => Enumerator::Seq(items.len()),
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.node() {
            Value::Object(map) => Some(map.len()),
            Value::Array(items) => Some(items.len()),
            _ => Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_see_nested_fields_lists_and_missing_ones() {
        let env = crate::rules::template::environment();
        let ctx = JsonView::wrap(Arc::new(json!({
            "data": { "message": { "text": "Hello there" }, "tags": ["a", "b/c"], "n": 3, "odd/key": true }
        })));
        let render = |src: &str| env.render_str(src, &ctx);
        assert_eq!(
            render("{{ data.message.text | upper }}").unwrap(),
            "HELLO THERE"
        );
        assert_eq!(
            render("{{ data.tags[1] }} {{ data.tags | length }} {{ data.n + 1 }}").unwrap(),
            "b/c 2 4"
        );
        assert_eq!(render("{{ data['odd/key'] }}").unwrap(), "True");
        assert_eq!(
            render("{% for t in data.tags %}{{ t }};{% endfor %}").unwrap(),
            "a;b/c;"
        );
        assert_eq!(render("{{ data.missing is defined }}").unwrap(), "False");
        assert!(
            render("{{ data.missing.deeper }}").is_err(),
            "strict undefined"
        );
    }
}
