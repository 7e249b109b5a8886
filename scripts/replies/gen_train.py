#!/usr/bin/env python3
"""Writes tests/fixtures/replies/train.jsonl: the split the intent model is fitted on.

Base replies are hand-written per label; each is emitted as written and in a few
decorated forms (greeting, sign-off, signature, emoji, casing, one typo) drawn with
a fixed seed, so the file is reproducible. The dev split is written by
gen_dev.py from its own replies and its own decorations: nothing here is reused.

    python3 scripts/replies/gen_train.py
"""

import json
import os
import random

BASE = {
    "interested": [
        "Yes, let's chat",
        "sure, happy to take a call",
        "Sounds good, send me a calendar link",
        "tuesday 3pm works for me",
        "Can you do Thursday at 10am?",
        "I'm interested, what times do you have this week?",
        "Definitely interested. Book something for Friday",
        "yes please send over a demo link",
        "Let's set up a demo",
        "ok let's talk, my calendly is in my bio",
        "Would love to see a demo",
        "I'd be happy to jump on a quick call",
        "Send me a link and I'll pick a slot",
        "This is exactly what we need, when can we talk?",
        "Go ahead and send the invite",
        "Happy to chat next week, Monday or Wednesday afternoon",
        "yep, let's do it",
        "Sure thing. 2pm tomorrow?",
        "I'm in. Send me the details for the call",
        "We've been looking for something like this, let's talk",
        "Please book a 30 min slot with me",
        "Yes! Free Wednesday after 1pm ET",
        "cool, shoot me a zoom link",
        "Interested. Can we do a call on Monday?",
        "absolutely, set it up",
        "Let's hop on a call and see if it fits",
        "I'd like a demo for my team",
        "Count me in for the walkthrough",
        "sounds interesting, let's find a time",
        "Yes we'd like to try it. How do we start the trial?",
        "friday morning works, send an invite to my email",
        "Let's do 15 minutes tomorrow",
        "ok you got my attention, let's talk",
        "Happy to learn more on a call",
        "Sure, grab a time on my calendar",
        "yes. next tuesday at 11 is good",
        "Really keen on this, can you walk me through it?",
        "Great timing actually, we need this. Call me",
        "can you send me the booking link?",
        "I'd love to chat, DM me a time",
        "Please send me the deck and let's schedule a call",
        "We are interested in a pilot",
        "that would be great, when are you free?",
        "Let's connect this week",
        "Alright, I'll bite. Demo on Thursday?",
    ],
    "question": [
        "How much does it cost?",
        "what's the pricing?",
        "Does it integrate with HubSpot?",
        "Would be interested if it had a Salesforce integration. Does it?",
        "Is there a free tier?",
        "How is this different from Hootsuite?",
        "Who are your current customers?",
        "What does it actually do?",
        "Do you support multiple accounts?",
        "Is it GDPR compliant?",
        "Can it export to CSV?",
        "how did you get my handle?",
        "What's the minimum contract length?",
        "Is there an API?",
        "does it work with LinkedIn too?",
        "Where is the data stored?",
        "How long does setup take?",
        "I'd consider it if the price is under $100/month. Is it?",
        "What's the catch?",
        "Do you have a case study for agencies?",
        "Can I see pricing before a call?",
        "is this self hosted or cloud?",
        "How many seats are included?",
        "Maybe, depends on the price. What does it cost for 5 users?",
        "Do you offer discounts for startups?",
        "Is it SOC 2 certified?",
        "what languages does it support",
        "Would we need a developer to set it up?",
        "How does billing work, monthly or annual?",
        "Interested only if it works with Pipedrive, does it?",
        "Any reviews I can read?",
        "Is there a trial period and how long is it?",
        "Who built this?",
        "What's your refund policy?",
        "Does it handle DMs or just tweets?",
        "Curious, what kind of results do your clients see?",
        "Could it replace our current scheduling tool?",
        "If it supports Slack alerts I might be interested, does it?",
        "What's the difference between the plans?",
        "How do you handle rate limits?",
    ],
    "not_now": [
        "Not right now, maybe next quarter",
        "Busy until January, ping me then",
        "Reach out again in a few months",
        "Timing isn't great, we're mid-migration. Try me in Q3",
        "We just signed our budget for the year, check back in the fall",
        "Can you circle back after the holidays?",
        "not at the moment, follow up in March",
        "Interesting but we're swamped this month. Next month maybe",
        "Let's revisit this in 6 months",
        "Too busy with a launch right now, try again later",
        "Maybe later this year",
        "Ask me again after our funding round closes",
        "We're in a hiring freeze, revisit next year",
        "Ping me in two weeks, slammed right now",
        "Not this quarter. Q2 could work",
        "I'm on paternity leave soon, reach out in the summer",
        "Hold that thought until after our board meeting",
        "Can we pick this up in the new year?",
        "no budget until april, try me then",
        "It's a bit early for us, we're still pre-launch. Later",
        "Bad timing, we're restructuring. Follow up in a couple months",
        "Maybe down the road",
        "Please check in again next month",
        "We'll look at tools like this next year",
        "not now, but keep me posted",
        "Try me again after the conference season",
        "We have no bandwidth this month, maybe in May",
        "Let's talk again once we hire a marketing lead",
        "Not yet. We might need this later in the year",
        "Could be relevant in Q4, reach out then",
    ],
    "not_interested": [
        "No thanks, not interested.",
        "not interested",
        "We already use Sprout Social and are happy with it",
        "Interesting, but no",
        "Thanks but we're all set",
        "We built this in house, no need",
        "Not a fit for us",
        "I'll pass",
        "no thank you",
        "We don't do outbound on Twitter",
        "Appreciate it, but it's not for us",
        "Nope, we're good",
        "Sorry, not something we need",
        "We have a tool for that already",
        "Not looking for anything like this",
        "Pass, thanks",
        "We're happy with our current vendor",
        "Thanks for reaching out, but we'll decline",
        "No interest, sorry",
        "I don't think this is relevant for us",
        "It looks cool but we don't need it",
        "Sounds interesting but it's not a priority and won't be",
        "We're a tiny team, this is overkill for us",
        "Not interested, we cancelled our last tool like this",
        "We tried something similar and it didn't work for us. No thanks",
        "Thanks, but we're not buying any new software",
        "Nah",
        "don't need it",
        "We're not interested in a demo",
        "No, I don't want a call",
        "I'm not really the target customer, no thanks",
        "Good product, wrong company. We're fine",
        "no, we're covered",
        "Not for us, good luck though!",
        "Thanks, I'm not interested in setting up a call",
        "We won't be moving forward",
        "Decided to go with another provider",
        "We have zero need for this",
    ],
    "unsubscribe": [
        "Stop messaging me",
        "unsubscribe",
        "Remove me from your list",
        "STOP",
        "Don't call me, don't DM me",
        "This is spam. Reported.",
        "Please stop contacting me",
        "take me off your list",
        "Leave me alone",
        "Never message me again",
        "Stop spamming my inbox",
        "How about you stop DMing random people",
        "Blocked.",
        "Do not contact me again",
        "I'm reporting this account for spam",
        "Stop. This is the third time.",
        "Get lost",
        "Unsubscribe me now",
        "Don't call me again or I'll report you",
        "please remove my account from whatever list you bought",
        "Quit sending me these messages",
        "f off with the spam",
        "This is harassment, stop",
        "opt me out",
        "No more messages please",
        "Stop or I'm blocking you",
        "Who gave you permission to DM me? Stop.",
        "Reported and blocked",
        "I never signed up for this. Remove me",
        "Spam bot. Blocking.",
        "stop stop stop",
        "Don't DM me again",
    ],
    "referral": [
        "I'm not the right person, talk to @jenna_ops",
        "You want our head of marketing, @mark_b",
        "Wrong person, try sarah@acme.io",
        "I left the company last year, sorry",
        "Reach out to our CTO, he handles tooling",
        "cc'ing @dave who owns this",
        "Not my area. Ping @growthteam",
        "Please contact our procurement team instead",
        "My colleague Priya handles vendors, I'll forward this",
        "Talk to @lisa, she runs social for us",
        "I'm just an intern, message our founder @tomk",
        "Best to email partnerships@brand.co",
        "I don't make those decisions, try @ceo_anna",
        "Forwarded to our marketing lead, she'll get back to you",
        "You should speak with Ben in ops",
        "I don't work there anymore",
        "Try @support, they route this stuff",
        "That's Kevin's department, @kevin_m",
        "Wrong account, I'm not with that company",
        "Our agency runs our Twitter, talk to them: @socialagency",
        "I'm in engineering, you want sales ops. @rachel",
        "Loop in my cofounder @jules, she decides on tools",
        "Our social media manager is @nina, reach out to her",
        "Not me, but @omar might be interested",
        "Please direct this to hello@startup.com",
        "Speak to my manager, I'll introduce you",
    ],
    "out_of_office": [
        "I'm out of the office until Monday with limited access to email.",
        "Automatic reply: I am on vacation until the 15th.",
        "Auto-reply: Thanks for your message. I'm away and will respond when I return.",
        "I am currently out of office and will return on January 3rd.",
        "Out of office. Back next week.",
        "This is an automated response. I'm travelling with limited connectivity until Friday.",
        "I'm on parental leave until March. For urgent matters contact @team.",
        "Thank you for your message. I am away from my desk and will reply as soon as possible.",
        "OOO until 12/2, will reply when back",
        "I'm currently on holiday with no access to messages. Back on the 4th.",
        "Automated message: our team is offline for the weekend and will respond Monday.",
        "Away at a conference this week, replies will be delayed.",
        "I'm out sick today, will get back to you tomorrow.",
        "On annual leave until 28 August. I will respond on my return.",
        "Thanks for reaching out! This inbox is not monitored on weekends.",
        "Auto response: I'm out of the office. For anything urgent, email ops@corp.com",
        "Currently offline until the new year. Happy holidays!",
        "I'm away with limited access to DMs until next Tuesday.",
        "This is an automatic reply. I am out of the office until further notice.",
        "Gone fishing until the 10th. Will reply then.",
    ],
    "other": [
        "Thanks!",
        "lol",
        "ok",
        "Who is this?",
        "haha nice",
        "Hey, how are you?",
        "Got it",
        "Cool",
        "Saw your tweet earlier, funny stuff",
        "?",
        "hmm",
        "Did you mean to send this to me?",
        "New phone, who dis",
        "I like your profile pic",
        "Happy Friday!",
        "Thanks for following",
        "Are you a bot?",
        "We met at the meetup last month right?",
        "Just saw this",
        "noted",
        "wow",
        "Congrats on the launch",
        "Hi",
        "Thanks for the message",
        "Interesting",
        "Will take a look",
        "k",
        "Good morning",
        "Cheers",
        "Let me think about it",
    ],
}

# Hard cases the issue names, written for train.
HARD = {
    "interested": [
        "Wednesday at 2 is fine",
        "How about next Tuesday, 3pm?",
        "I'm free Thursday morning, book it",
        "Not gonna say no to a demo",
        "Honestly we're unhappy with our current vendor, so yes, let's chat",
        "can we do a call at 4?",
        "drop me a meeting link",
        "send me a calender link pls",
        "This sounds good, when works for you?",
    ],
    "question": [
        "Would be interested if it worked with Shopify. Does it?",
        "I'd be interested if the price is right. What is it?",
        "Interested, but first: how much is it?",
        "Might be interested if you have an API, do you?",
        "Before a call, can you tell me what it integrates with?",
        "what's the price per user",
    ],
    "not_now": [
        "Not interested right now, check back in the summer",
        "Sounds good but not until next quarter",
        "I'd be interested later this year, not now",
        "No time right now, reach out next month",
    ],
    "not_interested": [
        "Not interested in a call, thanks",
        "No, I don't want a demo",
        "Interesting, but we'll pass",
        "I'm not interested, please don't schedule anything",
        "No need to set up a call, we're not interested",
        "Looks interesting, but not for us",
        "we have no interest in this kind of tool",
        "not interested at this point or later",
    ],
    "unsubscribe": [
        "Don't call me",
        "do not call or message me again",
        "Not interested. Stop messaging me.",
        "STOP MESSAGING ME OR I WILL REPORT YOU",
        "Remove me. I'm not interested and never will be",
        "stop spamming",
    ],
    "referral": [
        "Not my call, talk to @jess, she might be interested",
        "I'm not the person for this, try @ops_lead",
        "I moved companies, contact @acmehq instead",
    ],
    "out_of_office": [
        "Auto-reply: I'm on vacation. If you are interested in working with us, email sales@acme.com",
        "Out of office until Monday. For calls, contact my assistant.",
        "Automatic reply: away this week, I'll be happy to reply when I'm back",
    ],
    "other": [
        "thanks, appreciate it",
        "yes I got your message",
        "sure, thanks",
        "no problem",
        "🤷‍♂️",
        "....",
    ],
}

# Non-English forms: the common yes / no / stop / not now / out-of-office replies.
FOREIGN = {
    "interested": [
        "Sí, me interesa. ¿Cuándo podemos hablar?",
        "Claro, mándame el enlace para la llamada",
        "Ja, gerne. Schicken Sie mir einen Termin",
        "Ja, klingt gut, lass uns telefonieren",
        "Oui, avec plaisir. Envoyez-moi un lien",
        "Oui ça m'intéresse, on peut s'appeler mardi ?",
        "Sim, tenho interesse. Podemos marcar uma chamada?",
        "Claro, vamos conversar na quinta",
    ],
    "not_interested": [
        "No, gracias",
        "No me interesa, gracias",
        "Nein danke, kein Interesse",
        "Kein Bedarf, danke",
        "Non merci, ça ne m'intéresse pas",
        "Pas intéressé, merci",
        "Não, obrigado",
        "Não tenho interesse",
    ],
    "unsubscribe": [
        "No me escribas más",
        "Deja de mandarme mensajes",
        "Bitte schreiben Sie mir nicht mehr",
        "Hören Sie auf, mir zu schreiben. Spam!",
        "Arrêtez de m'écrire",
        "Ne me contactez plus",
        "Pare de me mandar mensagens",
        "Não me mande mais mensagens",
    ],
    "not_now": [
        "Ahora no, quizás el próximo mes",
        "Im Moment nicht, vielleicht nächstes Quartal",
        "Pas maintenant, recontactez-moi en janvier",
        "Agora não, talvez no próximo mês",
    ],
    "out_of_office": [
        "Estoy fuera de la oficina hasta el lunes.",
        "Respuesta automática: estoy de vacaciones hasta el 15 de agosto.",
        "Ich bin bis zum 3. Januar nicht im Büro.",
        "Automatische Antwort: Ich bin im Urlaub und ab Montag wieder erreichbar.",
        "Je suis absent du bureau jusqu'au 5 mars.",
        "Réponse automatique : je suis en congé jusqu'à lundi.",
        "Estou fora do escritório até segunda-feira.",
        "Resposta automática: estou de férias até o dia 20.",
    ],
    "question": [
        "¿Cuánto cuesta?",
        "Was kostet das?",
        "C'est combien ?",
        "Quanto custa?",
    ],
    "referral": [
        "No soy la persona indicada, habla con @marta",
        "Dafür ist mein Kollege @jonas zuständig",
        "Ce n'est pas moi, contactez @claire",
        "Fale com a @ana, ela cuida disso",
    ],
}

EMOJI_ONLY = {
    "other": ["👍", "🙏", "😂", "👀", "🤔", "🔥🔥", "👋"],
    "unsubscribe": ["🖕", "🛑🛑"],
    "not_interested": ["👎"],
}

GREETINGS = ["Hi, ", "Hey! ", "hey ", "Hello, ", "Hi Sam, ", "Hey there. "]
SIGNOFFS = ["\nThanks", " Cheers", "\n- Maria", "\n\nBest,\nTom", " ty", "\n\n—\nJen Park | Head of Growth | Acme Inc"]
SIGNATURES = ["\n\nSent from my iPhone", "\n--\nDavid Ross\nVP Marketing, Northwind\n+1 555 0100"]
EMOJI = [" 🙂", " 👍", " 🙏", " 😅", " 🚀"]


def typo(rng, text):
    """One adjacent swap or dropped letter in a word of 5+ letters."""
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not spots:
        return text
    i = rng.choice(spots)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:] if rng.random() < 0.5 else w[:j] + w[j + 1:]
    return " ".join(words)


def decorate(rng, text, label):
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice(GREETINGS) + text[0].lower() + text[1:]
    if kind == 1:
        return text + rng.choice(SIGNOFFS)
    if kind == 2:
        return text + rng.choice(SIGNATURES)
    if kind == 3:
        return text + rng.choice(EMOJI)
    if kind == 4:
        return text.lower().rstrip(".!")
    if kind == 5:
        return typo(rng, text)
    return text.upper() if label == "unsubscribe" else rng.choice(GREETINGS) + typo(rng, text)


def main():
    rng = random.Random(13)
    rows = []
    for label in BASE:
        for text in BASE[label] + HARD.get(label, []):
            variants = {text}
            for _ in range(3 if label in ("referral", "out_of_office", "other") else 2):
                variants.add(decorate(rng, text, label))
            rows.extend((v, label) for v in sorted(variants))
    for label, texts in FOREIGN.items():
        for text in texts:
            rows.append((text, label))
            rows.append((decorate(rng, text, label), label))
    for label, texts in EMOJI_ONLY.items():
        rows.extend((t, label) for t in texts)
    seen = set()
    out = os.path.join(os.path.dirname(__file__), "../../tests/fixtures/replies/train.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        for text, label in rows:
            if text in seen:
                continue
            seen.add(text)
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    print(f"{len(seen)} replies -> {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
