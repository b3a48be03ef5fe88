"""A retrieval test set written for this project: memories, and paraphrased queries for them.

The queries avoid their target's words where English allows, so keyword overlap alone does not
find the answer; several have distractors on purpose (two memories about cars, Japan, bills,
allergies, taxes). Three long memories (~40,000 characters) hold their fact in the last
paragraph, behind varied filler.
"""

from __future__ import annotations

import random

MEMORIES: dict[str, str] = {
    "pet-dog": "I adopted a golden retriever puppy named Biscuit last spring.",
    "allergy": "I am severely allergic to peanuts and carry an EpiPen everywhere.",
    "job": "I work as a data scientist at a fintech startup in Berlin.",
    "sister-wedding": "My sister Clara is getting married in Lisbon on June 14th.",
    "car": "My car is a 2016 blue Honda Civic with a dent on the rear bumper.",
    "coffee": "I drink my coffee black, no sugar, usually two cups before noon.",
    "vegetarian": "I stopped eating meat three years ago and follow a vegetarian diet.",
    "marathon": "I am training for the Chicago marathon and run 50 kilometres a week.",
    "guitar": "I have been learning to play the acoustic guitar on weekends.",
    "spanish": "I practice Spanish every morning with a language app.",
    "dentist": "My dentist appointment is on the third Thursday of next month at 9am.",
    "landlord": "The landlord said the boiler will be replaced before winter.",
    "router": "The home router admin password is taped under the bookshelf.",
    "passport": "My passport expires in August, so I need to renew it soon.",
    "mortgage": "We refinanced the house loan at a 3.1 percent fixed rate.",
    "insomnia": "I sleep badly when I look at screens after 10pm.",
    "kid-school": "Our son Leo starts primary school in September at Oakwood Elementary.",
    "grandma-pie": "Grandma's apple pie recipe uses cinnamon and a pinch of nutmeg.",
    "bike": "Someone stole my road bike from outside the train station last week.",
    "cloud-bill": "The AWS bill jumped because an unused GPU instance was left running.",
    "db-migration": "We are moving the customer database from MySQL to PostgreSQL next quarter.",
    "on-call": "I am on call for the payments team every other weekend.",
    "manager": "My manager Priya prefers written status updates on Fridays.",
    "standup": "The daily standup meeting is at 9:30 in the small conference room.",
    "laptop": "My work laptop is a ThinkPad X1 with 32 GB of RAM.",
    "vacation": "I am planning a two-week trip to Japan in cherry blossom season.",
    "plants": "The fiddle leaf fig in the living room needs water once a week.",
    "gym": "My gym membership renews automatically on the first of every month.",
    "book": "I am reading a biography of Marie Curie before bed.",
    "podcast": "My favourite podcast is about the history of ancient Rome.",
    "migraine": "Bright fluorescent lights give me migraines.",
    "anniversary": "Our wedding anniversary is on October 3rd.",
    "parking": "I parked on level four of the airport garage, row G.",
    "cat-vet": "The cat needs her rabies vaccine booster in March.",
    "piano": "Our daughter has piano lessons on Wednesday afternoons.",
    "budget": "We try to keep grocery spending under 600 euros a month.",
    "password-manager": "All my passwords are stored in a password manager with a hardware key.",
    "volunteer": "I volunteer at the food bank on Saturday mornings.",
    "therapy": "I see a therapist every two weeks to work on anxiety.",
    "colour": "My favourite colour is forest green.",
    "neighbour": "The neighbour's dog barks every night around midnight.",
    "garden": "I planted tomatoes and basil in the raised garden bed.",
    "camera": "I shoot photos with a Fujifilm mirrorless camera and a 35mm lens.",
    "chess": "I play chess online and my rating is around 1500.",
    "electric-bill": "The electricity company raised our tariff by 12 percent.",
    "hiking": "Last summer I hiked the full Tour du Mont Blanc in eleven days.",
    "api-keys": "Production API keys must never be committed to the git repository.",
    "deploy-friday": "Our team does not deploy to production on Friday afternoons.",
    "kubernetes": "The staging cluster runs on Kubernetes with three worker nodes.",
    "lactose": "Milk upsets my stomach, so I buy lactose-free products.",
    "car-insurance": "The car insurance policy renews in November with a new provider.",
    "moving": "We are moving to a bigger apartment across town in the spring.",
    "mom-birthday": "Mom's birthday is on the 22nd of February; she loves orchids.",
    "swimming": "I swim laps at the public pool on Tuesday and Thursday evenings.",
    "meditation": "I meditate for ten minutes every morning using a breathing exercise.",
    "accountant": "Our accountant files the annual tax return every April.",
    "printer": "The office printer on the second floor jams with thick paper.",
    "flight-seat": "I always book an aisle seat on long flights.",
    "sourdough": "I keep a sourdough starter in the fridge and feed it on Sundays.",
    "solar": "We installed solar panels on the roof last year.",
    "glasses": "I am short-sighted and wear glasses for driving.",
    "baby": "We are expecting our second child in January.",
    "retirement": "I contribute 10 percent of my salary to a retirement fund.",
    "grandparents": "The kids speak Portuguese with their grandparents.",
}

# (query, id of the memory that answers it)
QUERIES: list[tuple[str, str]] = [
    ("what kind of animal did I bring home as a new companion", "pet-dog"),
    ("which food could cause me a dangerous reaction", "allergy"),
    ("what is my profession and which city is the company in", "job"),
    ("when and where is my sibling's ceremony", "sister-wedding"),
    ("how do I take my morning caffeine", "coffee"),
    ("do I eat animal flesh", "vegetarian"),
    ("what long-distance race am I preparing for", "marathon"),
    ("which stringed instrument am I picking up", "guitar"),
    ("what foreign tongue do I study daily", "spanish"),
    ("when do I need to get my teeth checked", "dentist"),
    ("will the water heater in the flat be fixed", "landlord"),
    ("where can I find the login for the wifi box", "router"),
    ("my travel document is about to run out", "passport"),
    ("what interest do we pay on the home financing", "mortgage"),
    ("why do I have trouble falling asleep", "insomnia"),
    ("which institution will our boy attend this autumn", "kid-school"),
    ("which spices go into the family baked dessert", "grandma-pie"),
    ("my bicycle was taken", "bike"),
    ("why did the hosting costs go up", "cloud-bill"),
    ("which SQL engine are we switching to", "db-migration"),
    ("which weekends am I responsible for incidents", "on-call"),
    ("how does my boss like to receive progress reports", "manager"),
    ("what time is the morning team sync", "standup"),
    ("what are the specs of my company computer", "laptop"),
    ("where am I travelling to see the sakura", "vacation"),
    ("how often should the indoor tree be watered", "plants"),
    ("when is the fitness club subscription charged", "gym"),
    ("which scientist's life story am I going through in the evenings", "book"),
    ("what sets off my bad headaches", "migraine"),
    ("where did I leave the vehicle when I flew out", "parking"),
    ("when does the kitty need her shot", "cat-vet"),
    ("how much do we allow for food shopping", "budget"),
    ("what charity work do I do at the weekend", "volunteer"),
    ("when is our yearly income declaration handled", "accountant"),
    ("where do I like to sit on a plane", "flight-seat"),
    ("what bread do I bake at home", "sourdough"),
    ("do we produce our own power", "solar"),
    ("which dairy products should I avoid", "lactose"),
    ("when is the newborn due", "baby"),
    ("how much of my pay goes into my pension", "retirement"),
]

# Lookups by an exact name, code or phrase: what keyword matching is for.
EXACT_QUERIES: list[tuple[str, str]] = [
    ("Biscuit", "pet-dog"),
    ("Priya", "manager"),
    ("ThinkPad X1", "laptop"),
    ("Oakwood", "kid-school"),
    ("EpiPen", "allergy"),
    ("Priya weekly reports", "manager"),
    ("Clara Lisbon", "sister-wedding"),
    ("Mont Blanc", "hiking"),
    ("rabies booster", "cat-vet"),
]

# Long memories: (id, fact in the last paragraph, query for the fact)
LONG_FACTS: list[tuple[str, str, str]] = [
    (
        "long-travel-journal",
        "Before checking out I noted that the safe in our Kyoto hotel room opens with 7391.",
        "what number unlocks the strongbox where we stayed in Japan",
    ),
    (
        "long-meeting-minutes",
        "Final decision of the day: the mobile app launch is postponed to the second week of May.",
        "when will the phone application be released",
    ),
    (
        "long-health-notes",
        "At the last visit the allergist confirmed that I also react badly to shellfish.",
        "which seafood am I allergic to",
    ),
]

_SUBJECTS = [
    "the old bakery",
    "the river path",
    "the north market",
    "the library",
    "the harbour",
    "the hill above town",
    "the tram depot",
    "the garden square",
    "the museum steps",
    "the bus station",
    "the corner cafe",
    "the bridge",
    "the school yard",
    "the stadium",
]
_ACTIONS = [
    "we walked past",
    "someone had painted",
    "a crowd gathered near",
    "I sketched",
    "the light changed over",
    "rain drifted across",
    "a musician played beside",
    "children raced around",
    "the wind rattled",
    "a delivery van parked by",
]
_THOUGHTS = [
    "The afternoon felt slow and pleasant.",
    "Nobody seemed to be in a hurry.",
    "We talked about films we had seen years ago.",
    "The conversation wandered from architecture to old friends.",
    "It reminded me of summers as a child.",
    "The streets smelled of bread and wet stone.",
    "I wrote a few lines about the colours of the evening.",
    "We agreed to come back another day.",
    "The clouds kept shifting shape above us.",
    "A cat watched everything from a windowsill.",
]


def filler(seed: int, characters: int = 40_000) -> str:
    """Deterministic, varied paragraphs of everyday narration, `characters` long."""
    rng = random.Random(seed)
    paragraphs, size = [], 0
    while size < characters:
        sentences = [
            f"{rng.choice(_ACTIONS).capitalize()} {rng.choice(_SUBJECTS)}. {rng.choice(_THOUGHTS)}"
            for _ in range(rng.randint(3, 6))
        ]
        paragraphs.append(" ".join(sentences))
        size += len(paragraphs[-1]) + 2
    return "\n\n".join(paragraphs)


def long_memories() -> dict[str, str]:
    """The three long memories, each ending with its fact as the last paragraph."""
    return {
        memory_id: f"{filler(seed)}\n\n{fact}"
        for seed, (memory_id, fact, _) in enumerate(LONG_FACTS)
    }
