//! The time source. Production reads the system clock; tests inject a fixed
//! instant so that signature tolerance windows can be checked against
//! published test vectors.

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    #[default]
    System,
    Fixed(OffsetDateTime),
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        match self {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Fixed(at) => *at,
        }
    }
}

/// RFC 3339 in UTC with milliseconds: the text form of every timestamp we store in
/// SQLite, so that string order is time order and `sqlite3` users can read it.
pub fn format_utc(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&fmt)
        .expect("formatting a UTC timestamp cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_utc_is_sortable_rfc3339() {
        let at = time::macros::datetime!(2024-02-28 12:00:00.5 +02:00);
        assert_eq!(format_utc(at), "2024-02-28T10:00:00.500Z");
    }
}
