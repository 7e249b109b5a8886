//! Who may use the console and how a browser is kept from being tricked into it.
//!
//! - On a loopback listener no login is asked (only this machine connects); on
//!   any other, start-up refuses without `console.admin_token`
//!   (`http::exposure::check_listener`), and every page but `/login` needs a
//!   session: a random id in an HttpOnly, SameSite=Strict cookie, kept in memory
//!   for [`SESSION_TTL`].
//! - Every state-changing request is a POST carrying a CSRF token equal to the
//!   `starling_csrf` cookie (SameSite=Strict, so another site's form never sends
//!   it) and an `Origin` naming this host. Both, on loopback too: any web page a
//!   user visits can post to 127.0.0.1.
//! - Every response has the security headers: a CSP without inline script,
//!   `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, `nosniff`.

use crate::secret::Secret;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "starling_session";
pub const CSRF_COOKIE: &str = "starling_csrf";
/// How long a login lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether a login is needed, and the sessions of those who logged in.
#[derive(Clone)]
pub struct Gate {
    token: Option<Secret>,
    sessions: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Gate {
    /// `token`: `None` on a loopback listener (no login).
    pub fn new(token: Option<Secret>) -> Self {
        Self {
            token,
            sessions: Arc::default(),
        }
    }

    pub fn needs_login(&self) -> bool {
        self.token.is_some()
    }

    /// A new session if `given` is the admin token.
    pub fn login(&self, given: &str) -> Option<String> {
        let token = self.token.as_ref()?;
        if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
            return None;
        }
        let id = random_token();
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, since| since.elapsed() < SESSION_TTL);
        sessions.insert(id.clone(), Instant::now());
        Some(id)
    }

    pub fn logout(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            self.sessions.lock().expect("sessions lock").remove(&id);
        }
    }

    fn admits(&self, headers: &HeaderMap) -> bool {
        if !self.needs_login() {
            return true;
        }
        let Some(id) = cookie(headers, SESSION_COOKIE) else {
            return false;
        };
        let sessions = self.sessions.lock().expect("sessions lock");
        sessions
            .get(&id)
            .is_some_and(|since| since.elapsed() < SESSION_TTL)
    }
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` for a cookie only this site's own requests carry.
pub fn strict_cookie(name: &str, value: &str, max_age: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        max_age.as_secs()
    ))
    .expect("cookie values are hex")
}

/// The CSRF token of this browser: its cookie's, or a new one to set.
pub fn csrf_token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, CSRF_COOKIE).filter(|t| t.len() == 64) {
        Some(token) => (token, None),
        None => {
            let token = random_token();
            let set = strict_cookie(CSRF_COOKIE, &token, Duration::from_secs(30 * 86_400));
            (token, Some(set))
        }
    }
}

/// Why a POST is refused, if it is: its token must equal the cookie's and it
/// must come from this console ([`from_this_console`]).
pub fn refuse_post(headers: &HeaderMap, form_token: &str) -> Option<&'static str> {
    let Some(expected) = cookie(headers, CSRF_COOKIE) else {
        return Some("no CSRF cookie: reload the page and try again");
    };
    if expected.is_empty() || !bool::from(form_token.as_bytes().ct_eq(expected.as_bytes())) {
        return Some("the form's CSRF token does not match: reload the page and try again");
    }
    (!from_this_console(headers)).then_some("the request's Origin is not this console")
}

/// Whether a request was sent by a page of this console: its `Origin` names
/// this host, or it is `null` and the browser says the request is
/// same-origin (`Sec-Fetch-Site`, which no page can set). The second case is
/// every button press: under our `Referrer-Policy: no-referrer` browsers send
/// `Origin: null` even on a same-origin form POST (Fetch, "serializing a
/// request origin"; seen in Chromium by the browser tests). A cross-site page
/// gets `same-site` or `cross-site`, whatever its own referrer policy.
fn from_this_console(headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match (value("origin"), value("host")) {
        (Some("null"), _) => value("sec-fetch-site") == Some("same-origin"),
        (Some(origin), Some(host)) => {
            origin
                .strip_prefix("http://")
                .or(origin.strip_prefix("https://"))
                == Some(host)
        }
        _ => false,
    }
}

/// Middleware: security headers on every console response, and the login
/// before every page but `/login` and the static files.
pub async fn guard(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open = path == "/login" || path.starts_with("/static/");
    let mut response = if open || gate.admits(request.headers()) {
        next.run(request).await
    } else if request.method() == Method::GET {
        Redirect::to("/login").into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "log in first").into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_post_needs_the_cookie_token_and_this_origin() {
        let token = "a".repeat(64);
        let cookie = format!("x=1; {CSRF_COOKIE}={token}");
        let good = headers(&[
            ("cookie", &cookie),
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert_eq!(refuse_post(&good, &token), None);
        assert!(refuse_post(&good, &"b".repeat(64)).is_some());
        let cross = headers(&[
            ("cookie", &cookie),
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ]);
        assert!(refuse_post(&cross, &token).is_some());
        let no_origin = headers(&[("cookie", &cookie), ("host", "127.0.0.1:8080")]);
        assert!(refuse_post(&no_origin, &token).is_some());
        let no_cookie = headers(&[("host", "h"), ("origin", "http://h")]);
        assert!(refuse_post(&no_cookie, "").is_some());
    }

    #[test]
    fn a_null_origin_passes_only_when_the_browser_says_same_origin() {
        let token = "a".repeat(64);
        let cookie = format!("{CSRF_COOKIE}={token}");
        let from = |site: Option<&str>| {
            let mut pairs = vec![
                ("cookie", cookie.as_str()),
                ("host", "127.0.0.1:8080"),
                ("origin", "null"),
            ];
            pairs.extend(site.map(|s| ("sec-fetch-site", s)));
            refuse_post(&headers(&pairs), &token)
        };
        assert_eq!(from(Some("same-origin")), None);
        assert!(
            from(Some("same-site")).is_some(),
            "another port of this host"
        );
        assert!(from(Some("cross-site")).is_some());
        assert!(
            from(None).is_some(),
            "no fetch metadata: not a browser we trust"
        );
    }

    #[test]
    fn only_the_admin_token_opens_a_session() {
        let gate = Gate::new(Some(Secret::new("3f9a1c0e5b7d2a4c6e8f0a1b3c5d7e9f")));
        assert!(gate.login("wrong").is_none());
        let id = gate.login("3f9a1c0e5b7d2a4c6e8f0a1b3c5d7e9f").unwrap();
        let with = headers(&[("cookie", &format!("{SESSION_COOKIE}={id}"))]);
        assert!(gate.admits(&with));
        assert!(!gate.admits(&headers(&[("cookie", "starling_session=forged")])));
        gate.logout(&with);
        assert!(!gate.admits(&with));
    }
}
