//! Credentials into a request at the last moment: the stored parameters an
//! [`Outbound`] is built from carry `«secret:…»` / `«literal:…»` markers
//! (`crate::secret::marker`); [`Outbound::reveal`] puts the values into what is
//! sent, while what is recorded keeps the markers, and [`Outbound::scrub`] takes
//! them back out of whatever the receiver answers.

use super::outbound::{Body, Outbound};
use crate::secret::marker::{self, Lookup, Revealed, Unresolved};
use serde_json::Value;

impl Outbound {
    /// Puts the clear values of credential markers into the URL, headers and
    /// body that are sent; the recorded URL and body keep the markers.
    pub fn reveal(&mut self, lookup: &dyn Lookup) -> Result<(), Unresolved> {
        use crate::secret::marker::reveal;
        self.recorded_body = Some(self.recorded_body());
        let mut used = Vec::new();
        self.url = reveal(&self.url, lookup, &mut used)?;
        for (_, value) in &mut self.headers {
            *value = reveal(value, lookup, &mut used)?;
        }
        match &mut self.body {
            Body::None => {}
            Body::Text(text) => *text = reveal(text, lookup, &mut used)?,
            Body::Json(json) => reveal_json(json, lookup, &mut used)?,
        }
        self.revealed = used;
        Ok(())
    }

    /// `text` (an answer's excerpt or error) with the values revealed into this
    /// request put back as markers: a receiver may echo them.
    pub fn scrub(&self, text: &str) -> String {
        marker::scrub(text, &self.revealed)
    }
}

fn reveal_json(
    value: &mut Value,
    lookup: &dyn Lookup,
    used: &mut Vec<Revealed>,
) -> Result<(), Unresolved> {
    match value {
        Value::String(s) => *s = marker::reveal(s, lookup, used)?,
        Value::Array(items) => {
            for item in items {
                reveal_json(item, lookup, used)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                reveal_json(item, lookup, used)?;
            }
        }
        _ => {}
    }
    Ok(())
}
