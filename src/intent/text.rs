//! Normalization and tokens: the one view of a reply that the cue grammar, the
//! model and the trainer all read, so a cue written in the lexicon and a word in a
//! reply meet in the same form.
//!
//! Lowercase; accents folded (`não` → `nao`, `m'intéresse` → `minteresse`) because
//! replies drop them as often as not; apostrophes dropped (`don't` → `dont`, the way
//! people type it anyway); every run of digits becomes `0` (`3pm` → `0pm`, `9:30` →
//! `0:0`), so times and dates are one shape. Punctuation that ends a clause is kept
//! as its own token (`,` `.` `?` `!` `;` `:` and line breaks as `.`, and a `.`
//! closes a reply that does not end on one) because cues stop at it; `@` is a token (a mention or an e-mail address); each emoji is a token.
//! A signature is cut off first (from a `--` line, a `Sent from my …` line or a
//! sign-off line like `Best,`): a title in it ("VP Marketing") is not what the
//! reply says.

/// One reply, normalized, with its tokens as ranges into [`Tokens::text`].
pub struct Tokens {
    text: String,
    spans: Vec<(u32, u32)>,
}

impl Tokens {
    pub fn new(raw: &str) -> Self {
        let raw = without_signature(raw);
        let mut text = String::with_capacity(raw.len() + 8);
        let mut spans = Vec::with_capacity(raw.len() / 4 + 1);
        let mut start: Option<usize> = None;
        let mut chars = raw.chars().peekable();
        let mut prev_digit = false;
        while let Some(c) = chars.next() {
            if c == '\'' || c == '’' || c == '‘' || c == '`' {
                continue;
            }
            let digit_colon =
                c == ':' && prev_digit && chars.peek().is_some_and(char::is_ascii_digit);
            if c.is_alphanumeric() || digit_colon {
                if start.is_none() {
                    start = Some(text.len());
                }
                if c.is_ascii_digit() {
                    if !prev_digit {
                        text.push('0');
                    }
                    prev_digit = true;
                    continue;
                }
                prev_digit = false;
                push_folded(&mut text, c);
                continue;
            }
            prev_digit = false;
            if let Some(s) = start.take() {
                spans.push((s as u32, text.len() as u32));
                text.push(' ');
            }
            let mark = match c {
                ',' | '.' | '?' | '!' | ';' | ':' | '@' => Some(c),
                '\n' | '|' | '—' | '–' => Some('.'),
                '\u{fe0f}' | '\u{200d}' | '\u{1f3fb}'..='\u{1f3ff}' => None,
                c if !c.is_ascii() && !c.is_whitespace() && !is_quote(c) => Some(c),
                _ => None,
            };
            if let Some(mark) = mark {
                let s = text.len();
                text.push(mark);
                spans.push((s as u32, text.len() as u32));
                text.push(' ');
            }
        }
        if let Some(s) = start {
            spans.push((s as u32, text.len() as u32));
            text.push(' ');
        }
        // The end of the reply ends a clause: patterns can anchor on it ("but no ."),
        // and the model skips boundary tokens, so its features do not change.
        if let Some(&(s, e)) = spans.last()
            && !is_boundary(&text[s as usize..e as usize])
        {
            let s = text.len();
            text.push('.');
            spans.push((s as u32, text.len() as u32));
        }
        Self { text, spans }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn get(&self, i: usize) -> &str {
        let (s, e) = self.spans[i];
        &self.text[s as usize..e as usize]
    }

    /// Tokens `start..end` as one string, separated by single spaces (as stored).
    pub fn slice(&self, start: usize, end: usize) -> &str {
        if start >= end {
            return "";
        }
        &self.text[self.spans[start].0 as usize..self.spans[end - 1].1 as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// True for a word (or number) token, false for punctuation, `@` and emoji.
    pub fn is_word(&self, i: usize) -> bool {
        is_word(self.get(i))
    }
}

const SIGN_OFFS: &[&str] = &[
    "best",
    "regards",
    "best regards",
    "kind regards",
    "warm regards",
    "thanks",
    "thank you",
    "cheers",
    "sincerely",
    "br",
    "all the best",
    "saludos",
    "gruss",
    "grusse",
    "viele grusse",
    "mit freundlichen grussen",
    "cordialement",
    "atenciosamente",
    "abracos",
];

/// `raw` up to its signature, if a line after the first one starts it.
fn without_signature(raw: &str) -> &str {
    let mut offset = 0;
    for (n, line) in raw.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        let bare = trimmed.trim_end_matches([',', '.', '!']).to_lowercase();
        let folded: String = bare
            .chars()
            .map(|c| match c {
                'ü' => 'u',
                'ß' => 's',
                'ç' => 'c',
                'õ' => 'o',
                _ => c,
            })
            .collect();
        let starts = trimmed == "--"
            || trimmed == "—"
            || trimmed == "-"
            || bare.starts_with("sent from my")
            || SIGN_OFFS.contains(&folded.as_str());
        if n > 0 && starts {
            return &raw[..offset];
        }
        offset += line.len();
    }
    raw
}

pub fn is_word(token: &str) -> bool {
    token.chars().next().is_some_and(char::is_alphanumeric)
}

/// A token that ends a clause: cues and negation scope stop here.
pub fn is_boundary(token: &str) -> bool {
    matches!(token, "," | "." | "?" | "!" | ";" | ":")
}

fn is_quote(c: char) -> bool {
    matches!(c, '“' | '”' | '«' | '»' | '¿' | '¡' | '…')
}

fn push_folded(out: &mut String, c: char) {
    let folded = match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Î' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Û' | 'Ü' => 'u',
        'ñ' | 'Ñ' => 'n',
        'ç' | 'Ç' => 'c',
        'ß' => {
            out.push_str("ss");
            return;
        }
        'œ' => {
            out.push_str("oe");
            return;
        }
        c if c.is_ascii() => c.to_ascii_lowercase(),
        c => {
            out.extend(c.to_lowercase());
            return;
        }
    };
    out.push(folded);
}

#[cfg(test)]
mod tests {
    use super::Tokens;

    fn tokens(s: &str) -> Vec<String> {
        let t = Tokens::new(s);
        t.iter().map(str::to_owned).collect()
    }

    #[test]
    fn normalization_folds_case_accents_apostrophes_and_digits() {
        assert_eq!(tokens("Don’t call me!"), ["dont", "call", "me", "!"]);
        assert_eq!(tokens("Não, obrigado"), ["nao", ",", "obrigado", "."]);
        assert_eq!(
            tokens("Tuesday 3pm / 9:30?"),
            ["tuesday", "0pm", "0:0", "?"]
        );
        assert_eq!(
            tokens("talk to @jenna_ops"),
            ["talk", "to", "@", "jenna", "ops", "."]
        );
        assert_eq!(
            tokens("ok 👍🏽\nsee you"),
            ["ok", "👍", ".", "see", "you", "."]
        );
        assert_eq!(tokens("ça m'intéresse"), ["ca", "minteresse", "."]);
        assert_eq!(Tokens::new("Don't  call, me").slice(0, 4), "dont call , me");
    }

    #[test]
    fn a_signature_is_not_part_of_the_reply() {
        assert_eq!(
            tokens("No thanks\n--\nDana\nVP Marketing"),
            ["no", "thanks", "."]
        );
        assert_eq!(tokens("ok\n\nSent from my iPhone"), ["ok", ".", "."]);
        assert_eq!(tokens("Sure\n\nBest,\nTom"), ["sure", ".", "."]);
        assert_eq!(
            tokens("Thanks for your message.\nI am away."),
            [
                "thanks", "for", "your", "message", ".", ".", "i", "am", "away", "."
            ]
        );
    }
}
