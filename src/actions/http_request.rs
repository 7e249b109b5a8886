//! `http.request` — any HTTP call: method, URL, headers, a JSON or text body, and
//! the statuses that count as success (default: any 2xx).
//!
//! At-least-once: a call whose outcome nobody saw is sent again, with the same
//! `Idempotency-Key: starling-action-<id>` header every time, so a receiver can
//! drop the copy; `at_most_once: true` parks it for a person instead.

use super::params::{optional_text, text};
use super::{Context, NotSent};
use crate::actions::outbound::{Body, Outbound};
use serde_json::Value;

pub fn prepare(_ctx: &Context<'_>, action_id: i64, params: &Value) -> Result<Outbound, NotSent> {
    // Whether it is http(s) is checked once its markers are revealed (`actions::prepare`).
    let url = text(params, "url")?;
    let body = match (params.get("json"), optional_text(params, "body")?) {
        (Some(json), None) if !json.is_null() => Body::Json(json.clone()),
        (None | Some(Value::Null), Some(text)) => Body::Text(text.to_string()),
        (None | Some(Value::Null), None) => Body::None,
        _ => return Err(NotSent::Invalid("give `json` or `body`, not both".into())),
    };
    let default_method = if matches!(body, Body::None) {
        "GET"
    } else {
        "POST"
    };
    let method = optional_text(params, "method")?.unwrap_or(default_method);
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| NotSent::Invalid(format!("`method` `{method}` is not an HTTP method")))?;
    let mut req = Outbound::new(method, url.to_string(), body);
    if let Some(headers) = params.get("headers").filter(|h| !h.is_null()) {
        let map = headers.as_object().ok_or_else(|| {
            NotSent::Invalid("`headers` expected a mapping of names to text".into())
        })?;
        for (name, value) in map {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            req.headers.push((name.clone(), value));
        }
    }
    if !req
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("idempotency-key"))
    {
        req.headers
            .push(("Idempotency-Key".into(), idempotency_key(action_id)));
    }
    if let Some(statuses) = params.get("success_statuses").filter(|s| !s.is_null()) {
        req.success = statuses
            .as_array()
            .and_then(|list| {
                list.iter()
                    .map(|s| s.as_u64().and_then(|n| u16::try_from(n).ok()))
                    .collect()
            })
            .ok_or_else(|| {
                NotSent::Invalid(format!(
                    "`success_statuses` is {statuses}; expected a list of status codes"
                ))
            })?;
    }
    Ok(req)
}

/// The key a receiver can dedupe this action's calls by: stable across retries,
/// crashes and replicas.
pub fn idempotency_key(action_id: i64) -> String {
    format!("starling-action-{action_id}")
}
