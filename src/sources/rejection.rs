//! Why a vendor's payload was refused: the words every normalizer and transport
//! shares (a webhook answers 400/422 with it, a stream quarantines the message).

/// Why a body was refused after authentication; both kinds are quarantined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not JSON at all (400).
    NotJson(String),
    /// JSON, but not the documented shape (422); names the field path.
    Malformed(String),
}

impl Rejection {
    /// A body as text, or why not: `expected` says what the vendor's body should be.
    pub fn utf8<'a>(body: &'a [u8], expected: &str) -> Result<&'a str, Rejection> {
        std::str::from_utf8(body)
            .map_err(|_| Rejection::NotJson(format!("the body is not UTF-8 text; {expected}")))
    }
}
