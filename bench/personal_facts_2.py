"""A second made-up person's notes app with 20 planted facts, written as an independent blind test set.

    .venv/bin/python bench/personal_facts_2.py [--count 150] [--seed 0] [--out notes.jsonl]

Same interface as bench/personal_facts.py, but with another person and another life: an aquarist on the
coast with a husband, a greyhound, a van, an allotment and a choir. Each fact is stated 2-4 times the way
people really type into a notes app (in passing, in lists, with arrows, abbreviations and lower case), has
2 recall questions worded unlike any statement, and the key words a right answer contains. notes() hides
every statement once among filler notes (journal, work, cooking, shopping, house, screen, plans, money)
built from templates and word lists with a seeded random.Random; filler never touches a fact's topic or
key words. probe_rows() are the questions; hit() scores an answer against a fact's keys. Without --out
the notes are printed to stdout as JSON lines.

Written blind to the project's pair generator and to the first set: a held-out check, not tuned to how
the product turns notes into training questions.
"""

from __future__ import annotations

from fact_sets import Fact, FactSet
from fact_sets import hit as hit  # re-exported: every set module offers the shared judge

FACTS: list[Fact] = [
    Fact(
        id="dog_name",
        statements=[
            "pimento ate half a sock. vet says it'll pass. greyhounds, honestly",
            "Dog walker can do Pimento at 12 on weekdays now, £14 a go.",
            "L wants to buy Pimento a raincoat. He is a greyhound, not a poodle, L.",
        ],
        probes=["What's our dog called?", "What name does our hound answer to?"],
        keys=["Pimento"],
    ),
    Fact(
        id="husband_name",
        statements=[
            "Lorcan's on nights on the lifeboat rota again, house is too quiet without him.",
            "anniversary dinner w/ my husband Lorcan -> book the oyster place by the pier",
            "me + Lorcan = 6 yrs married in May. where did that go",
        ],
        probes=["What's my husband's name?", "Who am I married to?"],
        keys=["Lorcan"],
    ),
    Fact(
        id="nephew_name",
        statements=[
            "Caspian (nephew, 7) wants a shark book for xmas - ask in the gift shop",
            "Took my nephew Caspian crabbing off the harbour steps, he caught 11 and named every one of them.",
            "caspian lost his first tooth!! posted him a quid from his auntie",
        ],
        probes=["What is my nephew called?", "Who's the seven-year-old boy I'm an aunt to?"],
        keys=["Caspian"],
    ),
    Fact(
        id="gran_birthday",
        statements=[
            "remember: gran's bday 3 march. she wants NO fuss (she wants fuss)",
            "Gran turns 90 on March 3, Mum's doing the cake and I'm on balloons.",
            "post Gran's card by 27 Feb so it lands before the 3rd of March",
        ],
        probes=["When is my grandmother's birthday?", "On what date does Gran get a year older?"],
        keys=["3 March", "March 3", "3rd of March"],
    ),
    Fact(
        id="friend_city",
        statements=[
            "Priya's new address is in Dunedin, NZ - 13 hrs ahead, do NOT ring her at breakfast",
            "voice note from Priya: Dunedin is freezing and she loves it",
            "xmas parcel for Priya in Dunedin has to go surface mail by end of Oct",
        ],
        probes=["In which city is Priya based these days?", "Where did my friend Priya move to?"],
        keys=["Dunedin"],
    ),
    Fact(
        id="door_code",
        statements=[
            "building front door code changed -> 4719 then #",
            "Texted the plumber the entry code for downstairs (4719#), he's coming tues am.",
        ],
        probes=["What's the number to get in the main entrance of our block?",
                "What do I key into the pad at the street door of our building?"],
        keys=["4719"],
    ),
    Fact(
        id="allergy",
        statements=[
            "ALLERGIC TO PENICILLIN. tell the out-of-hours lot every single time",
            "Chemist double-checked the antibiotic wasn't a penicillin one, good on her.",
            "rash + swelling last time they gave me amoxicillin (penicillin family). never again",
        ],
        probes=["Which medicine am I allergic to?", "What drug should a doctor never prescribe me?"],
        keys=["penicillin"],
    ),
    Fact(
        id="gp_name",
        statements=[
            "GP moved practices -> now Dr Halvorsen at the Harbour St surgery",
            "Dr Halvorsen wants bloods redone in 3 months, book at reception on the way out",
            "Halvorsen = v nice, actually listens, doesn't just type at the screen",
        ],
        probes=["Who is my family doctor?", "Which doctor do I see at my local practice?"],
        keys=["Halvorsen"],
    ),
    Fact(
        id="choir_night",
        statements=[
            "choir - thurs 7.30, St Columba's hall, bring the black folder",
            "Can't do Thursday, that's choir night and we have the concert in 3 weeks.",
            "Sopranos short again at Thursday rehearsal, our director nearly cried.",
        ],
        probes=["What night of the week do I go singing?", "When does my singing group rehearse?"],
        keys=["Thursday"],
    ),
    Fact(
        id="documents_place",
        statements=[
            "birth certs, passports, the will etc -> fireproof box, bottom of the wardrobe",
            "Put the mortgage papers in the fireproof box with everything else important.",
        ],
        probes=["Where do I keep our important paperwork?", "Where would I look for my birth certificate?"],
        keys=["fireproof"],
    ),
    Fact(
        id="van_model",
        statements=[
            "van: grey Citroen Berlingo, 2014, reg is on the key fob",
            "The Berlingo failed its MOT on a wiper blade. a WIPER BLADE.",
            "what fits in the Berlingo: 2 paddleboards, the dog, a cool box. just.",
        ],
        probes=["What make and model is my van?", "What kind of vehicle do I drive?"],
        keys=["Berlingo"],
    ),
    Fact(
        id="garage",
        statements=[
            "Quayside Motors did the van service, £240, Dev says the clutch has a year left in it.",
            "ring Dev @ Quayside re: the rattle",
        ],
        probes=["Which garage looks after my van?", "Where do I take the van when it needs fixing?"],
        keys=["Quayside"],
    ),
    Fact(
        id="hometown",
        statements=[
            "Tobermory for Easter, first time back home since Dad sold the boat.",
            "Grew up in Tobermory, which explains the colourful houses obsession.",
            "ppl at work think Tobermory is made up bc of the kids' TV show. it's real, I'm from there!",
        ],
        probes=["Where am I originally from?", "Which town was I raised in?"],
        keys=["Tobermory"],
    ),
    Fact(
        id="language",
        statements=[
            "Korean: hangul done!! now vocab, 20 words a day",
            "Tutor (Min-ji) moved our Korean session to 8pm.",
            "lost the app streak. Korean is humbling.",
        ],
        probes=["What language am I studying?", "Which foreign tongue am I picking up at the moment?"],
        keys=["Korean"],
    ),
    Fact(
        id="workplace",
        statements=[
            "Kestrel Bay Aquarium staff party is fancy dress, theme = deep sea",
            "3 yrs at Kestrel Bay next month and still not bored of the octopus.",
            "payslip from Kestrel Bay came in wrong AGAIN -> email HR",
        ],
        probes=["Where do I work?", "What's the name of my employer?"],
        keys=["Kestrel Bay"],
    ),
    Fact(
        id="blood_type",
        statements=[
            "Gave blood. O negative, so they text me every 12 wks begging.",
            "form asks blood group: O-neg",
            "wallet card updated - blood grp O neg, organ donor yes",
        ],
        probes=["What's my blood type?", "Which blood group am I?"],
        keys=["O negative", "O-neg", "O neg"],
    ),
    Fact(
        id="allotment_plot",
        statements=[
            "Allotment is plot 23B, the one with the leaning shed past the water trough.",
            "committee letter: plot 23b hedge needs cutting by the 1st or else",
        ],
        probes=["What number is my allotment?", "Which patch do I rent at the allotments?"],
        keys=["23B"],
    ),
    Fact(
        id="wifi_password",
        statements=[
            "wifi pw: saltmarsh42 (all lower case)",
            "Changed the router password to saltmarsh42, guests kept asking for the old one anyway.",
        ],
        probes=["What's the password for our internet at home?", "What do guests type to get online at ours?"],
        keys=["saltmarsh42"],
    ),
    Fact(
        id="swim_spot",
        statements=[
            "sea swim @ Gullrock Cove, 11 degrees, screamed",
            "Sunday dip at Gullrock with the bluetits crew, then bacon rolls.",
            "Gullrock Cove best at low tide - check the tide app first!!",
        ],
        probes=["Where do I go sea swimming?", "Which beach do I use for cold-water dips?"],
        keys=["Gullrock"],
    ),
    Fact(
        id="medication",
        statements=[
            "levothyroxine 50mcg every morning, 30 min before coffee (the hard part)",
            "repeat prescription for the levothyroxine goes in on the 20th",
            "Thyroid tablets: bathroom cabinet, top shelf, behind the plasters.",
        ],
        probes=["Which medication do I take daily?", "What's the name of the tablet I take for my thyroid?"],
        keys=["levothyroxine"],
    ),
]

# At most two tags per fact note; "work" facts get work filler around them, the rest journal filler.
FACT_TAGS: dict[str, list[str]] = {
    "dog_name": ["pets", "home"],
    "husband_name": ["family"],
    "nephew_name": ["family"],
    "gran_birthday": ["family", "todo"],
    "friend_city": ["friends"],
    "door_code": ["home", "admin"],
    "allergy": ["health"],
    "gp_name": ["health"],
    "choir_night": ["music", "social"],
    "documents_place": ["admin", "home"],
    "van_model": ["van"],
    "garage": ["van", "todo"],
    "hometown": ["family", "diary"],
    "language": ["learning"],
    "workplace": ["work"],
    "blood_type": ["health", "admin"],
    "allotment_plot": ["outdoors"],
    "wifi_password": ["home"],
    "swim_spot": ["outdoors"],
    "medication": ["health"],
}

# Filler vocabulary: nothing here may name a fact's topic or key (no pets, relatives, doctors, vans, swimming, weekdays ...).
POOLS: dict[str, list[str]] = {
    "mate": ["Ffion", "Rasmus", "Oona", "Tiberius", "Hedda", "Kofi", "Marisol", "Eamon", "Juno", "Leopold", "Signe", "Bartek"],
    "coworker": ["Oisin", "Fenella", "Rhodri", "Magnus", "Tamsin", "Kwame", "Ailsa", "Benedikt", "Lowri", "Joaquin", "Petra"],
    "spot": ["headland path", "dunes", "old lime kilns", "lighthouse road", "estuary boardwalk", "pine woods", "clifftop bench",
             "ferry slipway"],
    "sky": ["drizzly", "wild", "flat calm", "raw", "sunny", "murky", "gusty", "close"],
    "feeling": ["wired", "mellow", "low-key grumpy", "weirdly chirpy", "knackered", "foggy-headed", "settled", "antsy"],
    "because": ["no idea why", "bad sleep", "third coffee", "payday", "too much screen time", "nice message from a mate",
                "the clocks changed"],
    "pastime": ["sanding the old dresser", "sorting the spice rack", "knitting the never-ending scarf", "building a lego ship",
                "relabelling the freezer boxes", "making chutney", "re-stringing the ukulele", "fixing the blind"],
    "haunt": ["the chippy", "the boathouse cafe", "the crepe stall", "the bookshop cafe", "the harbour kiosk"],
    "chat": ["flat hunting", "her kitchen extension", "festival plans", "the new bakery", "whether to quit social media",
             "a series we're both hooked on", "the price of everything"],
    "gossip": ["they're off to Lisbon", "they bought a canoe", "they've gone vegan", "their roof leaks again",
               "they got promoted", "they started a podcast"],
    "houseplant": ["monstera", "string of pearls", "peace lily", "cactus", "spider plant", "rubber plant"],
    "plant_news": ["has a new leaf", "is drooping", "got mealybugs", "finally flowered", "needs repotting"],
    "corner": ["airing cupboard", "junk drawer", "under the stairs", "loft hatch", "coat rack", "bread bin"],
    "discovery": ["a cassette mixtape", "three odd gloves", "a foreign coin", "the lost tape measure", "an old festival wristband",
                  "a jar of seaglass"],
    "exhibit": ["jellies", "rays", "seahorses", "touch pool", "kelp tank", "penguin colony", "reef display"],
    "chore": ["water quality logs", "feed prep", "glass cleaning", "the quarantine rota", "stock take", "visitor talks"],
    "work_issue": ["a broken chiller", "a late delivery", "a staffing gap", "the pump alarm", "a filter leak"],
    "work_doc": ["rota", "incident report", "enrichment plan", "feed schedule", "training log", "budget sheet"],
    "suggestion": ["swap the talk times", "laminate the feed charts", "put a bench by the ray tank",
                   "move the stock take to mornings", "pair new starters with a buddy"],
    "meal": ["dal", "fish pie", "poke bowls", "leek and potato soup", "harissa chicken", "mushroom stroganoff",
             "crab linguine", "veggie chilli", "sticky tofu", "cauliflower cheese"],
    "item": ["spring onions", "halloumi", "ginger", "kale", "black beans", "parmesan", "butternut squash", "tahini", "anchovies",
             "fennel", "lime", "mascarpone"],
    "seasoning": ["smoked salt", "fennel seeds", "chilli flakes", "garam masala", "white pepper", "dried oregano"],
    "timing": ["12", "18", "25", "35", "50"],
    "result": ["banger", "meh", "a hit", "too watery", "would make again", "burnt the bottom, still good"],
    "portion": ["two", "four", "six"],
    "after": ["lunch sorted for tmrw", "froze half", "all gone", "make double next time"],
    "food": ["milk", "eggs", "sourdough", "bananas", "oats", "coffee", "cheddar", "tomatoes", "rice", "peas", "lemons",
             "onions", "garlic", "butter", "yoghurt", "crumpets", "apples", "pasta"],
    "supply": ["bin liners", "washing up liquid", "foil", "AA batteries", "loo roll", "descaler", "sponges", "bleach",
               "fabric conditioner", "matches"],
    "fixit": ["reseal the bath", "bleed the radiators", "paint the hallway", "rehang the mirror", "clear the gutters",
              "oil the hinges", "replace the shower head", "regrout the splashback", "fix the drawer runner"],
    "furniture": ["sofa", "bookcase", "rug", "dresser", "headboard", "desk lamp"],
    "show": ["that Danish crime thing", "the baking one", "a nature doc about owls", "the space drama", "an old western",
             "the heist film", "a mockumentary", "the new sitcom"],
    "review": ["fell asleep halfway", "brilliant", "overhyped", "cried at the end", "too long", "want a second series"],
    "platform": ["the telly", "my laptop", "the cinema in town", "the projector"],
    "plan": ["a seaglass mosaic", "a zine about the harbour", "learning to juggle", "a photo a day for a month",
             "a pub quiz team", "a bird feeder on the balcony", "a sourdough starter", "a bench for the porch",
             "a little free library", "an indoor herb shelf", "a kite for the dunes", "a scrapbook of tickets"],
    "when": ["this wknd", "next month", "in the spring", "after payday", "soon", "when it's lighter out", "tmrw"],
    "bill": ["council tax", "electric", "water", "phone", "gas", "contents insurance", "TV licence"],
    "amount": ["£12", "£38", "£54", "£61", "£87", "£115", "£9.99", "£26"],
    "saving": ["holiday pot", "rainy day fund", "new sofa fund", "christmas pot", "festival tickets"],
}

TEMPLATES: dict[str, list[str]] = {
    "journal": [
        "woke up {feeling}, {because}.",
        "Walked out to the {spot}, {sky} but gorgeous.",
        "evening = {pastime}. bliss",
        "{mate} came round, we ended up {pastime}.",
        "Lunch w/ {mate} at {haunt}, talked about {chat} for an hour.",
        "{mate} rang: {gossip}.",
        "the {houseplant} {plant_news}",
        "Cleared out the {corner} - found {discovery}!",
        "{sky} day, felt {feeling}. {because}?",
    ],
    "work": [
        "{exhibit}: {work_issue} again, {coworker} on it",
        "send {coworker} the {work_doc} before I leave",
        "{coworker} idea -> {suggestion}",
        "whole morning on {chore}, then {chore}.",
        "Handover: {chore} done, {work_issue} at the {exhibit} still open.",
        "ask {coworker} re: the {work_doc}",
    ],
    "cooking": [
        "try: {meal} w/ {item} + {item}",
        "{meal} tonight - {result}",
        "oven 200, {timing} mins, then {seasoning} on top",
        "{meal} feeds {portion}, {after}",
        "less {seasoning} next time!!",
        "swap {item} for {item} if the shop's out",
    ],
    "shopping": [
        "- {food}\n- {food}\n- {food}",
        "out of {food} AND {food}",
        "{supply}, {supply}, {food}",
        "don't forget {supply}",
    ],
    "house": [
        "to do: {fixit}, {fixit}",
        "must {fixit} {when}",
        "finally managed to {fixit}!",
        "moved the {furniture} by the window, looks better",
        "{mate} can help {fixit} {when}",
    ],
    "screen": [
        "watched {show} on {platform} - {review}",
        "{mate} says watch {show}",
        "{show}: {review}",
        "queue: {show}, {show}",
    ],
    "plans": [
        "idea: {plan} {when}?",
        "what about {plan}",
        "{mate} is up for {plan}",
        "start small -> {plan}",
    ],
    "money": [
        "{bill} went up to {amount}/month, ugh",
        "moved {amount} into the {saving}",
        "{bill} paid, {bill} due {when}",
        "spent {amount} on {food} and {supply}. how",
    ],
}

SET = FactSet(facts=FACTS, fact_tags=FACT_TAGS, words=POOLS, templates=TEMPLATES, filler_kinds=sorted(TEMPLATES),
              around_fact="journal", filler_lengths=[1, 2, 2, 3, 3, 3, 4], tagged_share=0.6, capitalise=False,
              joiners=(" ", "\n", "\n"))
notes, probe_rows = SET.notes, SET.probe_rows

if __name__ == "__main__":
    SET.main(__doc__)
