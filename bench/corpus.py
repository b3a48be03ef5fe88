"""A deterministic corpus of memory-like texts and questions for the benchmark.

Texts are the kind of notes people and agents store: preferences, facts about people,
tasks, decisions, events and technical notes, written from templates over a vocabulary
large enough that 100k texts are all different and spread over many topics.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def _items(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


PEOPLE = _items(
    "Alice|Bob|Carol|Dave|Erin|Frank|Grace|Heidi|Ivan|Judy|Mallory|Niaj|Olivia|Peggy|Rupert"
    "|Sybil|Trent|Victor|Walter|Yara|Zoe|Omar|Priya|Kenji|Ingrid|Mateo|Aisha|Lars|Chen|Fatima"
)
RELATIONS = _items(
    "my sister|my brother|the landlord|our CTO|the dentist|my manager|the new intern"
    "|my neighbour|the accountant|our designer|the support lead|my mother|the plumber"
)
TOPICS = _items(
    "dark roast coffee|green tea|peanuts|shellfish|the Q3 budget review|Rust async runtimes"
    "|a trip to Lisbon|the kitchen renovation|SQLite WAL mode|Kubernetes upgrades"
    "|a vegan lasagna recipe|the quarterly OKRs|marathon training|the Python 3.13 migration"
    "|jazz piano lessons|a used Honda Civic|the dentist appointment|tax returns|the React dashboard"
    "|noise-cancelling headphones|the novel Dune|sourdough baking|the onboarding checklist"
    "|GPU pricing|a birthday gift for mom|the broken dishwasher|Spanish lessons"
    "|the database backup policy|hiking in the Alps|the invoice from Acme Corp|TypeScript generics"
    "|the wedding in June|a standing desk|the home insurance renewal|climbing at the gym"
    "|the Postgres replica lag|the marketing offsite|a cat named Miso|the flight to Tokyo"
    "|the API rate limits|vinyl records|the solar panel quote|a broken laptop hinge"
    "|the hiring pipeline|Thai green curry|the school pickup schedule|the GDPR audit"
    "|learning the cello|the car service|the chess club|the mortgage rate|cold brew"
    "|the quarterly board deck|the garden irrigation|an espresso machine|the team retro"
    "|the monorepo build times|a weekend in Edinburgh|the flu vaccine|the WiFi dead zone"
    "|the conference talk|gluten-free bread|the password manager|the power outage"
)
FACT_TEMPLATES = (
    "{person} prefers {topic} {when}.",
    "{person} is allergic to {topic}; remember it when ordering food.",
    "{person} asked me to look into {topic} {when}.",
    "{person} said {relation} recommended {topic}.",
    "{relation} complained about {topic} {when}.",
    "Decision: we go ahead with {topic}, agreed with {person} {when}.",
    "Reminder: follow up with {person} about {topic} {when}.",
    "{person} finished {topic} {when} and was happy with it.",
    "{person} wants to learn more about {topic}; send them a good introduction.",
    "Note to self: {topic} costs more than expected, ask {relation} {when}.",
    "{person} and {relation} disagree about {topic}.",
    "Meeting notes: discussed {topic} with {person}; next step is a short proposal {when}.",
    "{person} is travelling {when}, so {topic} waits until they are back.",
    "User feedback from {person}: {topic} is confusing and needs better docs.",
    "Bug report: {topic} fails for {person} {when}; logs attached in the ticket.",
    "{relation} gave {person} advice on {topic}.",
    "Idea from {person}: combine {topic} with {topic2}.",
    "{person} cancelled {topic} {when} because of {topic2}.",
)
WHENS = _items(
    "on Monday|on Tuesday|last week|yesterday|every morning|before the deadline|in March"
    "|after lunch|next Friday|during the offsite|since January|at the end of the month"
    "|over the weekend|in the spring|tonight|first thing tomorrow"
)
EXTRAS = (
    "",
    "",
    "",
    " It matters a lot to them.",
    " Low priority.",
    " Urgent before the release.",
    " Mentioned twice already.",
    " Budget is tight this quarter.",
    " Keep it between us for now.",
)
QUESTION_TEMPLATES = (
    "What does {person} prefer?",
    "Who is allergic to {topic}?",
    "What did we decide about {topic}?",
    "Who recommended {topic}?",
    "Any problems reported with {topic}?",
    "What should I follow up on with {person}?",
    "What do I know about {topic}?",
    "Who wants to learn about {topic}?",
)


def memory_texts(count: int, seed: int = 7) -> list[str]:
    """`count` distinct memory texts, the same ones for the same seed."""
    rng = random.Random(seed)
    texts: list[str] = []
    seen: set[str] = set()
    for text in _texts(rng):
        if text not in seen:
            seen.add(text)
            texts.append(text)
            if len(texts) == count:
                return texts
    return texts


def questions(count: int, seed: int = 11) -> list[str]:
    """`count` search queries phrased as a user would ask them."""
    rng = random.Random(seed)
    return [
        rng.choice(QUESTION_TEMPLATES).format(person=rng.choice(PEOPLE), topic=rng.choice(TOPICS))
        for _ in range(count)
    ]


def _texts(rng: random.Random) -> Iterator[str]:
    while True:
        template = rng.choice(FACT_TEMPLATES)
        text = template.format(
            person=rng.choice(PEOPLE),
            relation=rng.choice(RELATIONS),
            topic=rng.choice(TOPICS),
            topic2=rng.choice(TOPICS),
            when=rng.choice(WHENS),
        )
        yield text[0].upper() + text[1:] + rng.choice(EXTRAS)
