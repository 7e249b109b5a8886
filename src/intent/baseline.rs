//! The two baselines the classifier is measured against, in the same run:
//!
//! - **keyword rules**: what the `rules/crm.yaml` shipped before issue 13 did — the
//!   rule `tag interested replies` (whole-word `keywords: [interested, "let's chat",
//!   demo, "sounds good", call]`, text under 2,000 characters) tags
//!   `interested_reply`, and the rule `tag polite refusals`
//!   (`(?i)\b(not interested|no thanks|unsubscribe|stop)\b`) tags `not_interested`.
//!   Tags map to labels as `interested_reply` → `interested`, `not_interested` →
//!   `not_interested`, nothing → `other`. A reply both rules tag is a conflict; it
//!   counts as `interested` (the first rule's tag, the one a CRM view of hot
//!   leads shows) and is counted apart.
//! - **VADER**: the `vader_sentiment` crate's compound score, `≥ 0.05` →
//!   `interested`, `≤ −0.05` → `not_interested`, otherwise `other` (VADER's own
//!   positive / negative / neutral thresholds).

use super::IntentLabel;
use crate::rules::matcher::contains_keyword;
use regex::Regex;
use std::sync::LazyLock;

const OLD_KEYWORDS: &[&str] = &["interested", "let's chat", "demo", "sounds good", "call"];
static OLD_REFUSAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(not interested|no thanks|unsubscribe|stop)\b")
        .expect("the old refusal regex compiles")
});

/// The old keyword rules' answer, and whether both rules tagged the reply.
pub fn keyword_rules(text: &str) -> (IntentLabel, bool) {
    let lower = text.to_lowercase();
    let interested =
        text.chars().count() < 2000 && OLD_KEYWORDS.iter().any(|k| contains_keyword(&lower, k));
    let refusal = OLD_REFUSAL.is_match(text);
    let label = match (interested, refusal) {
        (true, _) => IntentLabel::Interested,
        (false, true) => IntentLabel::NotInterested,
        (false, false) => IntentLabel::Other,
    };
    (label, interested && refusal)
}

static VADER: LazyLock<vader_sentiment::SentimentIntensityAnalyzer<'static>> =
    LazyLock::new(vader_sentiment::SentimentIntensityAnalyzer::new);

/// VADER's compound score for `text`.
pub fn vader_compound(text: &str) -> f64 {
    VADER
        .polarity_scores(text)
        .get("compound")
        .copied()
        .unwrap_or(0.0)
}

/// VADER's compound score mapped to a label.
pub fn vader(text: &str) -> IntentLabel {
    match vader_compound(text) {
        c if c >= 0.05 => IntentLabel::Interested,
        c if c <= -0.05 => IntentLabel::NotInterested,
        _ => IntentLabel::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_keyword_rules_give_the_shipped_tests_own_refusal_both_tags() {
        assert_eq!(
            keyword_rules("No thanks, not interested."),
            (IntentLabel::Interested, true)
        );
        assert_eq!(
            keyword_rules("Not interesting to us, sorry."),
            (IntentLabel::Other, false)
        );
        assert_eq!(
            keyword_rules("please stop"),
            (IntentLabel::NotInterested, false)
        );
    }

    #[test]
    fn vader_maps_compound_to_three_labels() {
        assert_eq!(vader("This is great, I love it!"), IntentLabel::Interested);
        assert_eq!(
            vader("This is terrible spam, I hate it"),
            IntentLabel::NotInterested
        );
        assert_eq!(vader("Tuesday"), IntentLabel::Other);
    }
}
