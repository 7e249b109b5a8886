//! Spanish, German, French and Portuguese: their common yes, no, stop, not-now,
//! question, referral and out-of-office forms (accents folded as in
//! [`super::text`]), and a guess whether a reply is in one of them.
//!
//! The model is fitted mostly on English, so on a reply in another language its
//! n-grams mean little; [`foreign`] lets the classifier refuse `interested` there
//! unless one of these yes-forms says so.

use super::IntentLabel::*;
use super::grammar::Kind::{Ask, Plain};
use super::grammar::{Entry, e};
use super::text::Tokens;

#[rustfmt::skip]
pub static FORMS: &[Entry] = &[
    // Spanish
    e("si|claro ,|.|!|me|vamos|hablemos|por", Interested, 2.5, Ask, "says yes (es)"),
    e("me interesa|encantaria|gustaria", Interested, 3.0, Ask, "says interested (es)"),
    e("hablemos|agendemos|llamada|reunion|enlace", Interested, 2.5, Ask, "asks to talk (es)"),
    e("te|le va|viene bien", Interested, 3.0, Ask, "says a time works (es)"),
    e("no me|nos interesa", NotInterested, 4.0, Plain, "says not interested (es)"),
    e("no ,|gracias", NotInterested, 3.5, Plain, "says no (es)"),
    e("ya tenemos", NotInterested, 3.0, Plain, "already has one (es)"),
    e("no me|nos escribas|escriba|contactes|contacte|mandes|envies|molestes", Unsubscribe, 5.0, Plain, "says stop (es)"),
    e("deja|dejen de escribirme|mandarme|enviarme|contactarme|escribir", Unsubscribe, 5.0, Plain, "says stop (es)"),
    e("ahora|ahorita no", NotNow, 5.0, Plain, "says not now (es)"),
    e("ahora mismo no", NotNow, 3.5, Plain, "says not now (es)"),
    e("escribeme|escribenos|contactame en|el|mas", NotNow, 3.0, Plain, "asks to follow up later (es)"),
    e("[quizas|tal vez] el|la? proximo|proxima|mas", NotNow, 3.0, Plain, "says maybe later (es)"),
    e("cuanto cuesta|vale", Question, 4.0, Plain, "asks the price (es)"),
    e("tiene|tienen|hay integracion|precio", Question, 3.0, Plain, "asks about a feature (es)"),
    e("habla|hable con", Referral, 4.0, Plain, "points to someone else (es)"),
    e("no soy la|el persona", Referral, 4.0, Plain, "says wrong person (es)"),
    e("fuera de la oficina", OutOfOffice, 6.0, Plain, "out of office (es)"),
    e("respuesta automatica", OutOfOffice, 6.0, Plain, "auto-reply (es)"),
    e("de vacaciones", OutOfOffice, 5.0, Plain, "on vacation (es)"),
    e("estoy fuera", OutOfOffice, 5.0, Plain, "away (es)"),
    // German
    e("ja ,|gerne|klar|klingt|bitte", Interested, 2.5, Ask, "says yes (de)"),
    e("gerne", Interested, 1.5, Ask, "says gladly (de)"),
    e("lass|lassen uns|sie telefonieren|sprechen|reden", Interested, 3.0, Ask, "asks to talk (de)"),
    e("konnen wir sprechen|telefonieren", Interested, 3.0, Ask, "asks to talk (de)"),
    e("schicken|senden sie|mir", Interested, 2.0, Ask, "asks for a link (de)"),
    e("nein", NotInterested, 3.0, Plain, "says no (de)"),
    e("kein|keinen interesse|bedarf", NotInterested, 4.0, Plain, "says no interest (de)"),
    e("brauchen das nicht", NotInterested, 4.0, Plain, "doesn't need it (de)"),
    e("nicht mehr schreiben", Unsubscribe, 5.0, Plain, "says stop (de)"),
    e("[mir nicht mehr|uns nicht mehr|keine nachrichten mehr]", Unsubscribe, 5.0, Plain, "says stop (de)"),
    e("nie wieder", Unsubscribe, 5.0, Plain, "says never again (de)"),
    e("hor|horen auf", Unsubscribe, 5.0, Plain, "says stop (de)"),
    e("[im moment|gerade|jetzt] nicht", NotNow, 3.5, Plain, "says not now (de)"),
    e("noch zu fruh", NotNow, 3.5, Plain, "says too early (de)"),
    e("melden sie sich", NotNow, 2.0, Plain, "asks to follow up later (de)"),
    e("was kostet", Question, 4.0, Plain, "asks the price (de)"),
    e("welche", Question, 2.0, Plain, "asks which (de)"),
    e("wenden sie sich an", Referral, 4.0, Plain, "points to someone else (de)"),
    e("zustandig", Referral, 3.0, Plain, "names who handles it (de)"),
    e("nicht im buro", OutOfOffice, 6.0, Plain, "out of office (de)"),
    e("automatische antwort", OutOfOffice, 6.0, Plain, "auto-reply (de)"),
    e("im urlaub", OutOfOffice, 5.0, Plain, "on vacation (de)"),
    e("wieder erreichbar", OutOfOffice, 4.0, Plain, "back later (de)"),
    // French
    e("oui", Interested, 2.5, Ask, "says yes (fr)"),
    e("avec plaisir", Interested, 3.0, Ask, "says gladly (fr)"),
    e("ca minteresse", Interested, 3.0, Ask, "says interested (fr)"),
    e("on peut|pourrait [sappeler|se parler|parler]", Interested, 3.0, Ask, "asks to talk (fr)"),
    e("envoyez|envoie moi|nous", Interested, 2.0, Ask, "asks for a link (fr)"),
    e("dispo|disponible", Interested, 2.0, Ask, "is available (fr)"),
    e("non merci", NotInterested, 4.0, Plain, "says no thanks (fr)"),
    e("mais non", NotInterested, 4.0, Plain, "says no (fr)"),
    e("ne [minteresse|nous interesse] pas", NotInterested, 4.0, Plain, "says not interested (fr)"),
    e("pas interesse|interesses|interessee", NotInterested, 4.0, Plain, "says not interested (fr)"),
    e("arretez|arrete de|decrire", Unsubscribe, 5.0, Plain, "says stop (fr)"),
    e("ne me contactez|contacte|ecrivez plus", Unsubscribe, 5.0, Plain, "says stop (fr)"),
    e("[pas maintenant|pour linstant|pour le moment]", NotNow, 3.5, Plain, "says not now (fr)"),
    e("recontactez moi|nous", NotNow, 3.0, Plain, "asks to follow up later (fr)"),
    e("[lannee prochaine|le mois prochain|la semaine prochaine]", NotNow, 2.0, Plain, "says next year (fr)"),
    e("cest combien", Question, 4.0, Plain, "asks the price (fr)"),
    e("quels|quelles|combien", Question, 2.5, Plain, "asks which (fr)"),
    e("contactez|adressez vous|@", Referral, 3.5, Plain, "points to someone else (fr)"),
    e("ce nest pas moi", Referral, 4.0, Plain, "says not me (fr)"),
    e("absent|absente", OutOfOffice, 5.0, Plain, "out of office (fr)"),
    e("reponse automatique", OutOfOffice, 6.0, Plain, "auto-reply (fr)"),
    e("en conge|vacances", OutOfOffice, 5.0, Plain, "on vacation (fr)"),
    // Portuguese
    e("sim ,|.|!|tenho|vamos|claro|podemos", Interested, 2.5, Ask, "says yes (pt)"),
    e("tenho interesse", Interested, 3.0, Ask, "says interested (pt)"),
    e("vamos conversar|marcar|falar", Interested, 3.0, Ask, "asks to talk (pt)"),
    e("podemos marcar|conversar|falar", Interested, 3.0, Ask, "asks to talk (pt)"),
    e("[bora|manda o link|me manda]", Interested, 2.5, Ask, "asks to talk (pt)"),
    e("nao ,|obrigado|obrigada|tenho|precisamos|temos", NotInterested, 4.0, Plain, "says no (pt)"),
    e("nao me? mande|mandem|envie mais", Unsubscribe, 5.0, Plain, "says stop (pt)"),
    e("pare|para de", Unsubscribe, 5.0, Plain, "says stop (pt)"),
    e("agora nao", NotNow, 5.0, Plain, "says not now (pt)"),
    e("fala comigo", NotNow, 2.0, Plain, "asks to follow up later (pt)"),
    e("talvez no proximo", NotNow, 3.0, Plain, "says maybe later (pt)"),
    e("quanto custa", Question, 4.0, Plain, "asks the price (pt)"),
    e("funciona com", Question, 3.0, Plain, "asks about a feature (pt)"),
    e("fale|falar com a|o", Referral, 3.5, Plain, "points to someone else (pt)"),
    e("fora do escritorio", OutOfOffice, 6.0, Plain, "out of office (pt)"),
    e("resposta automatica", OutOfOffice, 6.0, Plain, "auto-reply (pt)"),
    e("de ferias|licenca", OutOfOffice, 5.0, Plain, "on leave (pt)"),
];

/// Function words of the four languages (folded), and of English.
#[rustfmt::skip]
const FOREIGN_WORDS: &[&str] = &[
    "el", "la", "los", "las", "que", "de", "del", "por", "para", "con", "es", "estoy", "gracias",
    "mas", "hasta", "ich", "und", "der", "die", "das", "nicht", "sie", "wir", "mir", "bin", "ist",
    "danke", "bitte", "je", "le", "les", "pas", "vous", "nous", "est", "suis", "merci", "ne",
    "mais", "eu", "nao", "voce", "obrigado", "obrigada", "estou", "com", "uma", "um", "do", "da",
    "sim", "muito", "mi", "me", "una", "ja", "nein", "oui", "non", "si", "pour", "peut", "etre",
    "avec", "sur", "dans", "une", "au", "ce", "cest", "ca", "moi", "mon", "pero", "muy", "ahora",
    "esto", "hola", "tenemos", "ein", "eine", "mit", "auf", "fur", "uns", "gerne", "vielen", "dank",
    "hallo", "voce", "agora", "ola", "tudo", "bem", "isso",
];
#[rustfmt::skip]
const ENGLISH_WORDS: &[&str] = &[
    "the", "i", "you", "we", "is", "to", "and", "a", "it", "for", "of", "this", "that", "me", "my",
    "our", "are", "im", "not", "no", "yes", "thanks", "can", "with", "in", "on",
];

/// True if the reply reads as Spanish, German, French or Portuguese, not English.
pub fn foreign(tokens: &Tokens) -> bool {
    let (mut f, mut en) = (0u32, 0u32);
    for t in tokens.iter() {
        f += u32::from(FOREIGN_WORDS.contains(&t));
        en += u32::from(ENGLISH_WORDS.contains(&t));
    }
    f >= 2 && f > en
}

/// True if `entry` is one of [`FORMS`] (not an English cue).
pub fn is_form(entry: &Entry) -> bool {
    FORMS.as_ptr_range().contains(&std::ptr::from_ref(entry))
}
