//! `scrapely.update_crm` — `PATCH /crm/update {conversation_id, account_handle,
//! notes, deal_value, deal_currency, tag}`. Idempotent: retried freely.
//!
//! It never overwrites a person's CRM work: the conversation's current tag and
//! notes are read first (`GET /conversations?conversation_id=…`, its `crm`). A
//! conversation whose tag is protected (`scrapely.protected_tags`: booked, …) is
//! not re-tagged unless the action says `force: true` (the action is `skipped`,
//! naming the tag). Notes are appended as one dated line (`notes_mode: append`,
//! the default) — and not appended twice, so a resend after a crash is harmless —
//! or replace the notes (`notes_mode: replace`). A tag must be one of Scrapely's
//! base tags or the workspace's custom tags, by key or display name (sent by its
//! key); anything else is a validation error, never sent. YAML `null` clears a
//! field, as Scrapely documents.

use super::params::{optional_text, text};
use super::{Context, NotSent};
use crate::actions::outbound::{Body, Outbound};
use serde_json::{Map, Value};

pub use crate::catalog::reads_current;

pub async fn prepare(ctx: &Context<'_>, params: &Value) -> Result<Outbound, NotSent> {
    let scrapely = ctx.scrapely()?;
    let mut body = Map::new();
    body.insert(
        "conversation_id".into(),
        text(params, "conversation_id")?.into(),
    );
    // Whatever happens to this call, the next update reads the notes afresh.
    scrapely.forget_crm(text(params, "conversation_id")?);
    let handle = text(params, "account_handle")?.trim_start_matches('@');
    body.insert("account_handle".into(), handle.into());
    // An explicit null (YAML `null`/`~`) clears the field, as Scrapely documents.
    for field in ["notes", "deal_value", "deal_currency"] {
        if params.get(field).is_some_and(Value::is_null) {
            body.insert(field.into(), Value::Null);
        }
    }
    let force = params.get("force").and_then(Value::as_bool) == Some(true);
    let append = match optional_text(params, "notes_mode")? {
        None | Some("append") => true,
        Some("replace") => false,
        Some(other) => {
            return Err(NotSent::Invalid(format!(
                "`notes_mode` is `{other}`; expected append or replace"
            )));
        }
    };
    let note = optional_text(params, "notes")?;
    let conversation_id = text(params, "conversation_id")?;
    let current = match reads_current(params) {
        true => scrapely
            .current_crm(
                ctx.store,
                ctx.client,
                conversation_id,
                ctx.timeout,
                ctx.read_paid,
            )
            .await
            .map_err(NotSent::from)?,
        false => Value::Null,
    };
    if let Some(tag) = current.get("tag").and_then(Value::as_str)
        && params.get("tag").is_some()
        && !force
        && scrapely.protected_tags.iter().any(|p| p == tag)
        && params.get("tag").and_then(Value::as_str) != Some(tag)
    {
        return Err(NotSent::Skip(format!(
            "the conversation is tagged `{tag}`, a protected tag (scrapely.protected_tags); \
             give `force: true` to re-tag it"
        )));
    }
    if let Some(note) = note {
        let notes = match append {
            true => appended(
                current.get("notes").and_then(Value::as_str).unwrap_or(""),
                note,
                time::OffsetDateTime::now_utc().date(),
            ),
            false => note.to_string(),
        };
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
            let key = known.resolve(tag).ok_or_else(|| {
                NotSent::Invalid(format!(
                    "`tag` `{tag}` is not a Scrapely tag; expected one of: {}",
                    known.describe()
                ))
            })?;
            body.insert("tag".into(), key.into());
        }
    }
    Ok(scrapely.request(
        reqwest::Method::PATCH,
        "/crm/update",
        Body::Json(Value::Object(body)),
    ))
}

/// `existing` notes with `note` as one more dated line, unless a line already
/// ends with it (a resend after a crash appends nothing).
pub fn appended(existing: &str, note: &str, today: time::Date) -> String {
    let already = existing
        .lines()
        .any(|line| line == note || line.ends_with(&format!(": {note}")));
    if already {
        return existing.to_string();
    }
    let line = format!("{today}: {note}");
    match existing.trim_end() {
        "" => line,
        kept => format!("{kept}\n{line}"),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_appending_notes_or_a_tag_reads_the_conversation_first() {
        use serde_json::json;
        assert!(reads_current(&json!({"notes": "n"})));
        assert!(reads_current(
            &json!({"notes": "n", "notes_mode": "append"})
        ));
        assert!(!reads_current(
            &json!({"notes": "n", "notes_mode": "replace"})
        ));
        assert!(reads_current(
            &json!({"tag": "interested_reply", "notes_mode": "replace"})
        ));
        assert!(!reads_current(&json!({"notes": null, "deal_value": 5})));
    }

    use super::{appended, reads_current};
    use time::macros::date;

    #[test]
    fn notes_are_appended_once_as_dated_lines() {
        let day = date!(2026 - 12 - 01);
        assert_eq!(
            appended("", "Asked for a demo", day),
            "2026-12-01: Asked for a demo"
        );
        let once = appended("Met at SaaStr", "Asked for a demo", day);
        assert_eq!(once, "Met at SaaStr\n2026-12-01: Asked for a demo");
        assert_eq!(
            appended(&once, "Asked for a demo", date!(2026 - 12 - 02)),
            once
        );
    }
}
