//! `scrapely.update_crm` — `PATCH /crm/update {conversation_id, account_handle,
//! notes, deal_value, deal_currency, tag}`. Idempotent: retried freely.
//!
//! A tag must be one of Scrapely's base tags or the workspace's custom tags
//! (`GET /crm/conversations`); anything else is a validation error, never sent.

use super::params::{optional_text, text};
use super::{Context, NotSent};
use crate::actions::outbound::{Body, Outbound};
use serde_json::{Map, Value};

pub async fn prepare(ctx: &Context<'_>, params: &Value) -> Result<Outbound, NotSent> {
    let scrapely = ctx.scrapely()?;
    let mut body = Map::new();
    body.insert(
        "conversation_id".into(),
        text(params, "conversation_id")?.into(),
    );
    let handle = text(params, "account_handle")?.trim_start_matches('@');
    body.insert("account_handle".into(), handle.into());
    if let Some(notes) = optional_text(params, "notes")? {
        body.insert("notes".into(), notes.into());
    }
    match params.get("deal_value") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Number(_)) => {
            body.insert("deal_value".into(), v.clone());
        }
        Some(other) => {
            return Err(NotSent::Invalid(format!(
                "`deal_value` is {other}; expected a number"
            )));
        }
    }
    if let Some(currency) = optional_text(params, "deal_currency")? {
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(NotSent::Invalid(format!(
                "`deal_currency` is `{currency}`; expected a 3-letter currency code such as USD"
            )));
        }
        body.insert("deal_currency".into(), currency.to_ascii_uppercase().into());
    }
    match params.get("tag") {
        None => {}
        // An explicit null removes the tag, as Scrapely documents.
        Some(Value::Null) => {
            body.insert("tag".into(), Value::Null);
        }
        Some(_) => {
            let tag = text(params, "tag")?;
            let known = scrapely
                .crm_tags(ctx.store, ctx.client, ctx.timeout)
                .await
                .map_err(NotSent::from)?;
            if !known.iter().any(|t| t == tag) {
                return Err(NotSent::Invalid(format!(
                    "`tag` `{tag}` is not a Scrapely tag; expected one of: {}",
                    known.join(", ")
                )));
            }
            body.insert("tag".into(), tag.into());
        }
    }
    Ok(scrapely.request(
        reqwest::Method::PATCH,
        "/crm/update",
        Body::Json(Value::Object(body)),
    ))
}
