//! A string that never prints: configuration secrets (tokens, signing secrets,
//! API keys, URLs with keys inside) are held in [`Secret`], whose `Debug` and
//! `Display` are redacted, so a stray `{:?}` in a log line cannot leak them.
//!
//! Credentials inside rules never reach the database: [`marker`] is how they are
//! written in every stored copy and revealed only when a request is sent;
//! [`credential`] says which header, query value or URL counts as one.

pub mod credential;
pub mod marker;

use serde::Deserialize;
use std::fmt;

/// A secret value from the configuration. Read it only with [`Secret::expose`].
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The clear value; call it only where the secret is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A database URL with its password (if any) replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    // `scheme://…`, or a mistyped `scheme:…` without the slashes.
    let start = match url.find("://") {
        Some(i) => i + 3,
        None => match url.find(':') {
            Some(i)
                if url[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                i + 1
            }
            _ => 0,
        },
    };
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    // `user:pa/ss@host`: a `/` the user did not encode ends no password. An
    // authority that has a colon but no `@` and no numeric port is such a case:
    // the user info then ends at the last `@` before any query.
    let port_like = authority
        .rsplit_once(':')
        .is_none_or(|(_, port)| port.chars().all(|c| c.is_ascii_digit()));
    let at = match authority.rfind('@') {
        Some(at) => Some(at),
        None if !port_like => rest[..rest.find('?').unwrap_or(rest.len())].rfind('@'),
        None => None,
    };
    match at {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{}{}{}", &url[..start], masked, &rest[at..])
        }
        None => url.to_string(),
    }
}

/// An outbound request URL as the audit log keeps it: the password masked, and
/// the values of query parameters that look like credentials replaced by `***`.
/// (A Slack webhook's secret path is masked by its action before this.)
pub fn redact_request_url(url: &str) -> String {
    let url = redact_url(url);
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if looks_secret(k) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", masked.join("&"))
}

pub(crate) fn looks_secret(key: &str) -> bool {
    // `author`/`author_id` name a tweet's author, not an authorization.
    let key = key
        .to_ascii_lowercase()
        .replace("authoriz", "auth")
        .replace("author", "");
    [
        "key",
        "token",
        "secret",
        "sig",
        "password",
        "auth",
        "credential",
    ]
    .iter()
    .any(|s| key.contains(s))
}

/// Replaces every URL inside free text (e.g. an HTTP client's error message) by
/// its scheme and host: paths and queries may hold credentials.
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let next_url = |text: &str| {
        ["http://", "https://", "ws://", "wss://"]
            .iter()
            .filter_map(|scheme| text.find(scheme))
            .min()
    };
    while let Some(start) = next_url(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == ')' || c == '"')
            .unwrap_or(tail.len());
        let url = &tail[..end];
        let scheme_end = url.find("://").map_or(0, |i| i + 3);
        let host_end = url[scheme_end..]
            .find(['/', '?'])
            .map_or(url.len(), |i| scheme_end + i);
        let host = &url[scheme_end..host_end];
        let host = host.rsplit('@').next().unwrap_or(host);
        out.push_str(&url[..scheme_end]);
        out.push_str(host);
        if host_end < url.len() {
            out.push_str("/…");
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_urls_and_error_texts_lose_their_secrets() {
        assert_eq!(
            redact_request_url("https://api.example.com/v1/x?api_key=abc&page=2"),
            "https://api.example.com/v1/x?api_key=***&page=2"
        );
        assert_eq!(
            redact_urls_in(
                "error sending request for url (https://hooks.slack.com/services/T0/B0/XYZ)"
            ),
            "error sending request for url (https://hooks.slack.com/…)"
        );
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn redact_url_masks_only_the_password() {
        assert_eq!(
            redact_url("postgres://bob:pw@db:5432/starling?sslmode=disable"),
            "postgres://bob:***@db:5432/starling?sslmode=disable"
        );
        assert_eq!(redact_url("postgres://bob@db/x"), "postgres://bob@db/x");
        // Mistyped and unencoded URLs never show their password either.
        assert_eq!(
            redact_url("postgres:bob:hunter2@db/x"),
            "postgres:bob:***@db/x"
        );
        assert_eq!(
            redact_url("postgres://bob:hun/ter2@db/x"),
            "postgres://bob:***@db/x"
        );
        assert_eq!(
            redact_url("https://host:8080/users/@me"),
            "https://host:8080/users/@me"
        );
        assert_eq!(redact_url("sqlite://starling.db"), "sqlite://starling.db");
    }
}
