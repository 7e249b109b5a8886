//! What counts as a credential in an action's parameters: headers named like
//! one, URL query values whose key looks like a key, a URL's password, and Slack
//! webhook URLs (the URL is the credential). Used by the rule loader to find
//! credentials written literally in rule files (masked in every stored copy,
//! and warned about by `rules check`).

/// Whether an HTTP header of this name carries a credential.
pub fn is_credential_header(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    // Ends in `-key` but is a dedupe key, not a credential (we send it ourselves).
    if name == "idempotency-key" {
        return false;
    }
    matches!(
        name.as_str(),
        "authorization"
            | "proxy-authorization"
            | "x-api-key"
            | "api-key"
            | "apikey"
            | "x-auth"
            | "cookie"
            | "set-cookie"
    ) || ["-token", "_token", "-secret", "_secret", "-key", "_key"]
        .iter()
        .any(|end| name.ends_with(end))
        || ["password", "signature", "credential"]
            .iter()
            .any(|word| name.contains(word))
}

/// Whether a URL query parameter of this name carries a credential (`key`,
/// `api_key`, `token`, `access_token`, `secret`, `signature`, `sig`, `password`…).
pub fn is_credential_query_key(key: &str) -> bool {
    super::looks_secret(key)
}

/// A Slack incoming-webhook URL (`https://hooks.slack.com/services/…`).
pub fn is_slack_webhook(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.to_ascii_lowercase()
        .starts_with("hooks.slack.com/services/")
}

/// Credentials written literally in a URL parameter's text (a template's literal
/// text counts; anything with Jinja or a marker in it does not): the whole URL
/// when it is a Slack webhook written out (or `whole` says the parameter is
/// one), else its password and the values of its credential-like query keys.
pub fn literals_in_url(text: &str, whole: bool) -> Vec<String> {
    let text = text.trim();
    if whole || is_slack_webhook(text) {
        // Written out whole, the URL is the credential; with Jinja in it, the
        // secret part comes from a template (`{{ secrets.HOOK }}`), not the file.
        return if is_literal(text) && text.contains("://") {
            vec![text.to_string()]
        } else {
            Vec::new()
        };
    }
    let mut out = Vec::new();
    if let Some((_, rest)) = text.split_once("://") {
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            out.push(password.to_string());
        }
    }
    if let Some((_, query)) = text.split_once('?') {
        let query = query.split('#').next().unwrap_or("");
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && is_credential_query_key(key)
            {
                out.push(value.to_string());
            }
        }
    }
    out.retain(|v| is_literal(v));
    out
}

/// The credential in a credential header's literal value: the token after an
/// auth scheme (`Bearer abc` → `abc`), else the whole value.
pub fn literal_in_header(value: &str) -> Option<String> {
    let value = value.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme.len() <= 12
                && scheme.chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            rest.trim()
        }
        _ => value,
    };
    is_literal(token).then(|| token.to_string())
}

/// Clear text worth masking: not empty, no Jinja, no marker.
fn is_literal(value: &str) -> bool {
    !value.is_empty()
        && !["{{", "}}", "{%", "%}", "«"]
            .iter()
            .any(|t| value.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_named_like_credentials() {
        for name in [
            "Authorization",
            "proxy-authorization",
            "X-Api-Key",
            "api-key",
            "Cookie",
            "set-cookie",
            "X-Auth-Token",
            "x-client-secret",
            "X-Signing-Key",
        ] {
            assert!(is_credential_header(name), "{name}");
        }
        for name in ["Content-Type", "Idempotency-Key", "Accept", "X-Request-Id"] {
            assert!(!is_credential_header(name), "{name}");
        }
    }

    #[test]
    fn literal_credentials_in_urls_and_headers() {
        assert_eq!(
            literals_in_url(
                "https://api.x.com/v1?api_key=abc123&q={{ data.q }}&token={{ secrets.T }}",
                false
            ),
            ["abc123"]
        );
        assert_eq!(
            literals_in_url("https://bob:pw9@h.com/x?page=2", false),
            ["pw9"]
        );
        assert_eq!(
            literals_in_url("https://hooks.slack.com/services/T0/B0/XYZ", false),
            ["https://hooks.slack.com/services/T0/B0/XYZ"]
        );
        assert!(literals_in_url("{{ secrets.HOOK }}", true).is_empty());
        assert!(
            literals_in_url("https://hooks.slack.com/services/{{ secrets.H }}", false).is_empty()
        );
        assert_eq!(
            literal_in_header("Bearer abc.def").as_deref(),
            Some("abc.def")
        );
        assert_eq!(literal_in_header("abc123").as_deref(), Some("abc123"));
        assert_eq!(literal_in_header("Bearer {{ secrets.T }}"), None);
    }
}
