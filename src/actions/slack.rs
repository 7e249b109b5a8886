//! `slack.post` — a Slack incoming webhook: `POST {text, blocks?}` to the action's
//! `webhook_url` or `slack.webhook_url`. The URL is the credential, so the audit
//! log keeps only its host, or its marker (`{{ secrets.HOOK }}` in a rule, or a
//! literal hook URL, is stored as `«secret:HOOK»` / `«literal:…»`). Whether it is
//! an http(s) URL is checked once its markers are revealed (`actions::prepare`).

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
