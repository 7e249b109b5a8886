//! Classifier cases, by label and by hard-case family. The texts are written here,
//! apart from both corpus splits.

use super::IntentLabel::{self, *};
use super::{Intent, intent};

#[track_caller]
fn expect(label: IntentLabel, texts: &[&str]) {
    for text in texts {
        let got = intent(text);
        assert_eq!(got.label, label, "{text:?} -> {got:?}");
    }
}

#[track_caller]
fn never(label: IntentLabel, texts: &[&str]) {
    for text in texts {
        let got = intent(text);
        assert_ne!(got.label, label, "{text:?} -> {got:?}");
    }
}

#[test]
fn each_label_has_clear_cases() {
    expect(
        Interested,
        &[
            "Yes, let's set up a call",
            "I'm interested, send me a link",
            "Happy to chat this week",
        ],
    );
    expect(
        Question,
        &[
            "How much is it per month?",
            "Does it integrate with Salesforce?",
            "Is there an API?",
        ],
    );
    expect(
        NotNow,
        &[
            "Not right now, ping me next quarter",
            "Too busy this month, follow up in June",
        ],
    );
    expect(
        NotInterested,
        &[
            "No thanks, not interested.",
            "We already have a tool for this",
            "Not a fit for us",
        ],
    );
    expect(
        Unsubscribe,
        &[
            "unsubscribe",
            "Stop messaging me",
            "Remove me from your list",
        ],
    );
    expect(
        Referral,
        &[
            "Wrong person, talk to @maya",
            "I left the company in June",
            "Ask our CTO, he decides",
        ],
    );
    expect(
        OutOfOffice,
        &[
            "Automatic reply: I am out of the office until Monday.",
            "OOO until the 3rd",
        ],
    );
    expect(Other, &["thanks!", "lol", "Who is this?", ""]);
}

#[test]
fn negation_turns_interest_into_a_refusal() {
    expect(
        NotInterested,
        &[
            "not interested",
            "We're not really interested",
            "No interest, thanks",
            "I don't want a demo",
            "I'm not interested in a call",
        ],
    );
}

#[test]
fn interest_words_inside_refusals_are_refusals() {
    expect(
        NotInterested,
        &[
            "Interesting, but no",
            "Sounds good on paper, but no thanks",
            "Looks cool, but not for us",
        ],
    );
}

#[test]
fn contrast_lets_the_clause_after_but_decide() {
    expect(
        NotNow,
        &[
            "Sounds interesting but not until next year",
            "I'm interested but the timing is bad, try me in March",
        ],
    );
    expect(
        Interested,
        &["I don't usually answer these, but sure, let's talk"],
    );
}

#[test]
fn but_no_is_a_refusal_only_when_the_no_ends_the_clause() {
    expect(NotNow, &["I'd love to but no budget this year"]);
    expect(NotInterested, &["Nice idea but no."]);
}

#[test]
fn conditionals_are_questions() {
    expect(
        Question,
        &[
            "Would be interested if it had a HubSpot integration",
            "I'd be interested if it supports SSO. Does it?",
            "Interested only if the price is under $50",
        ],
    );
}

#[test]
fn yes_without_keywords_is_interested() {
    expect(
        Interested,
        &[
            "send me a calendar link",
            "tuesday 3pm works",
            "Friday at 11?",
            "free thursday afternoon",
            "what times work for you?",
        ],
    );
}

#[test]
fn call_inside_dont_call_me_is_not_interest() {
    expect(
        Unsubscribe,
        &["don't call me", "Do not call me again", "never call me"],
    );
    never(
        Interested,
        &[
            "please don't call me",
            "No call please",
            "I won't take a call",
        ],
    );
}

#[test]
fn hostile_replies_unsubscribe() {
    expect(
        Unsubscribe,
        &[
            "STOP",
            "This is spam, reported",
            "Leave me alone",
            "🖕",
            "blocked",
        ],
    );
    expect(Unsubscribe, &["Not interested. Stop messaging me!"]);
}

#[test]
fn referrals_point_to_someone_else() {
    expect(
        Referral,
        &[
            "Talk to @kim, she runs marketing",
            "I'm not the right person",
            "I no longer work there",
            "Loop in our head of growth",
        ],
    );
    expect(Referral, &["Not me, but @li is interested in this"]);
}

#[test]
fn auto_replies_are_out_of_office_even_with_interest_words() {
    expect(
        OutOfOffice,
        &[
            "Auto-reply: on vacation until the 9th. If you are interested in a demo, contact sales@x.io",
            "I'm away with limited access to email and will reply when I return.",
            "Thank you for your message. I am on parental leave until May.",
        ],
    );
}

#[test]
fn non_english_replies_are_recognized_and_never_mislabelled_interested() {
    expect(
        NotInterested,
        &[
            "No, gracias",
            "Nein danke",
            "Non merci",
            "Não, obrigado",
            "No nos interesa",
        ],
    );
    expect(
        Unsubscribe,
        &[
            "No me escribas más",
            "Bitte schreiben Sie mir nicht mehr",
            "Ne me contactez plus",
            "Pare de me mandar mensagens",
        ],
    );
    expect(
        OutOfOffice,
        &[
            "Estoy fuera de la oficina",
            "Ich bin nicht im Büro",
            "Je suis absent jusqu'à lundi",
            "Estou de férias",
        ],
    );
    expect(
        Interested,
        &[
            "Sí, hablemos el martes",
            "Ja, gerne",
            "Oui, avec plaisir",
            "Sim, vamos marcar",
        ],
    );
    never(
        Interested,
        &[
            "Kein Interesse",
            "Ça ne m'intéresse pas",
            "Não tenho interesse",
            "Gracias, pero no",
            "Danke",
        ],
    );
}

#[test]
fn emoji_only_replies() {
    expect(Other, &["👍", "🙏", "😂😂"]);
    expect(Unsubscribe, &["🖕"]);
    expect(NotInterested, &["👎"]);
}

#[test]
fn signatures_do_not_change_the_answer() {
    expect(
        NotInterested,
        &["No thanks\n\n--\nDana Lee\nVP Marketing | Acme\n@dana"],
    );
    expect(
        Interested,
        &["Sure, let's talk Thursday\n\nSent from my iPhone"],
    );
}

#[test]
fn common_typos_are_read() {
    expect(
        Interested,
        &["im intrested, lets chat", "send me a calender link"],
    );
    expect(Unsubscribe, &["unsubscirbe", "stop spaming me"]);
}

#[test]
fn evidence_names_the_cue_and_its_scope() {
    let Intent {
        label,
        evidence,
        confidence,
    } = intent("I'm not interested");
    assert_eq!(label, NotInterested);
    assert!((0.0..=1.0).contains(&confidence));
    assert!(
        evidence.iter().any(|e| e.contains("not interested")),
        "{evidence:?}"
    );
    let conditional = intent("would be interested if it had HubSpot");
    assert!(
        conditional
            .evidence
            .iter()
            .any(|e| e.starts_with("conditional")),
        "{conditional:?}"
    );
    let time = intent("tuesday 3pm works");
    assert!(time.evidence.iter().any(|e| e.contains("time")), "{time:?}");
}

#[test]
fn labels_round_trip_through_their_names() {
    for label in IntentLabel::ALL {
        assert_eq!(label.to_string().parse::<IntentLabel>().unwrap(), label);
        assert_eq!(
            serde_json::to_string(&label).unwrap(),
            format!("\"{label}\"")
        );
    }
    assert!(
        "maybe"
            .parse::<IntentLabel>()
            .unwrap_err()
            .to_string()
            .contains("not_now")
    );
}

#[test]
fn the_classifier_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<super::Classifier>();
    let handles: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(|| intent("yes let's talk").label))
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Interested);
    }
}
