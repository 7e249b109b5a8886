//! The closed word lists the grammar reads scope with (negators, conditionals,
//! contrast, third person) and the word classes patterns name as `#class`.

/// Words that negate the cue after them.
#[rustfmt::skip]
pub const NEGATORS: &[&str] = &[
    "not", "no", "never", "dont", "doesnt", "didnt", "wont", "cant", "cannot", "isnt", "arent",
    "wasnt", "wouldnt", "shouldnt", "couldnt", "havent", "hasnt", "aint", "nor", "without", "zero",
    "hardly", "nao", "nicht", "kein", "keine", "pas", "ne", "nunca", "jamais", "nie",
];
#[rustfmt::skip]
pub const CONDITIONALS: &[&str] = &[
    "if", "unless", "provided", "assuming", "depends", "depending",
];
#[rustfmt::skip]
pub const THIRD_PERSON: &[&str] = &["he", "she", "they", "hes", "shes", "theyre", "him", "her"];
#[rustfmt::skip]
pub const CONTRAST: &[&str] = &[
    "but", "however", "though", "although", "aber", "pero", "mais",
];

/// Word classes usable as `#name` in patterns.
#[rustfmt::skip]
pub fn class(name: &str) -> &'static [&'static str] {
    match name {
        "day" => &[
            "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mon",
            "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun", "tomorrow", "tmrw",
            "tmr", "tomorow", "today", "tonight",
        ],
        "clock" => &[
            "0pm", "0am", "0:0", "0:0pm", "0:0am", "noon", "0h", "0h0", "0ish",
        ],
        "month" => &[
            "january", "february", "march", "april", "may", "june", "july", "august", "september",
            "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
            "sep", "sept", "oct", "nov", "dec",
        ],
        "period" => &[
            "week", "month", "quarter", "year", "half", "spring", "summer", "fall", "autumn",
            "winter",
        ],
        "quarter" => &["q0", "h0"],
        "neg" => NEGATORS,
        "we" => &["we", "were", "im", "i", "ive", "weve", "our", "team"],
        "me" => &["me", "us", "my", "our"],
        "contact" => &[
            "message", "messaging", "messages", "dm", "dms", "dming", "contact", "contacting",
            "call", "calling", "text", "texting", "email", "emailing", "write", "writing", "ping",
            "pinging", "spam", "spamming", "send", "sending",
        ],
        "link" => &[
            "link", "calendar", "calender", "calendly", "invite", "invitation", "zoom", "meet",
            "booking", "slot", "slots", "times", "time", "deck", "demo", "details", "info",
        ],
        "meeting" => &[
            "call", "chat", "demo", "meeting", "walkthrough", "intro", "trial", "pilot", "session",
        ],
        "role" => &[
            "cto", "ceo", "cmo", "coo", "cfo", "vp", "head", "founder", "cofounder", "manager",
            "boss", "colleague", "partner", "lead", "director", "assistant", "team", "department",
            "agency", "procurement", "ops", "marketing", "sales", "partnerships", "compañero",
        ],
        _ => panic!("unknown word class #{name} in the intent lexicon"),
    }
}
