//! Reading rendered parameters, with errors that say which parameter was wrong
//! and what was expected (a validation failure is permanent: the action is dead).

use super::NotSent;
use serde_json::Value;

/// A required, non-empty text parameter.
pub fn text<'a>(params: &'a Value, name: &str) -> Result<&'a str, NotSent> {
    optional_text(params, name)?
        .ok_or_else(|| NotSent::Invalid(format!("`{name}` is missing; expected text")))
}

/// An optional text parameter; present but empty counts as absent.
pub fn optional_text<'a>(params: &'a Value, name: &str) -> Result<Option<&'a str>, NotSent> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(NotSent::Invalid(format!(
            "`{name}` is {other}; expected text"
        ))),
    }
}

/// Checks a length limit the way the vendor counts it (Unicode characters).
pub fn at_most(name: &str, value: &str, max: usize) -> Result<(), NotSent> {
    let count = value.chars().count();
    if count > max {
        return Err(NotSent::Invalid(format!(
            "`{name}` is {count} characters; the vendor allows at most {max}"
        )));
    }
    Ok(())
}
