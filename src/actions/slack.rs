//! `slack.post` — a Slack incoming webhook: `POST {text, blocks?}` to the action's
//! `webhook_url` or `slack.webhook_url`. The URL is the credential, so the audit
//! log keeps only its host.

use super::params::{optional_text, text};
use super::{Context, NotSent};
use crate::actions::outbound::{Body, Outbound};
use serde_json::{Value, json};

pub fn prepare(ctx: &Context<'_>, params: &Value) -> Result<Outbound, NotSent> {
    let url = match optional_text(params, "webhook_url")? {
        Some(url) => url.to_string(),
        None => ctx
            .slack_url
            .map(|s| s.expose().to_string())
            .ok_or_else(|| {
                NotSent::Skip(
                    "no Slack webhook URL: set slack.webhook_url or the action's webhook_url"
                        .into(),
                )
            })?,
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(NotSent::Invalid(
            "`webhook_url` is not an http(s) URL".into(),
        ));
    }
    let mut body = json!({ "text": text(params, "text")? });
    match params.get("blocks") {
        None | Some(Value::Null) => {}
        Some(blocks @ Value::Array(_)) => body["blocks"] = blocks.clone(),
        Some(other) => {
            return Err(NotSent::Invalid(format!(
                "`blocks` is {other}; expected a list of Slack blocks"
            )));
        }
    }
    let mut req = Outbound::new(reqwest::Method::POST, url, Body::Json(body));
    req.recorded_url = crate::secret::redact_urls_in(&req.url);
    Ok(req)
}
