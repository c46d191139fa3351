"""A made-up person's note collection with 20 planted facts: does a small model fine-tuned on the notes learn them?

    .venv/bin/python bench/personal_facts.py [--count 150] [--seed 0] [--out notes.jsonl]

FACTS are invented personal facts (the cat's name, the sister's city, the bike lock code ...), each stated
2-4 ways as a person writes them in a notes app, with 2 recall questions worded unlike any statement and
the key words a right answer contains. notes() hides every statement once among filler notes (diary, work,
recipes, shopping, ideas, reading, weather, errands) built from templates and word lists with a seeded
random.Random, so the same seed gives the same notes. Filler never mentions a fact's topic or key word.
probe_rows() are the benchmark's questions; hit() scores an answer against a fact's keys.

Written blind to the project's pair generator (runtime/datasets, runtime/training): a held-out test set,
not tuned to how the product turns notes into training questions.
"""

from __future__ import annotations

from fact_sets import Fact, FactSet
from fact_sets import hit as hit  # re-exported: bench/nightly_facts.py scores both sets with it

FACTS: list[Fact] = [
    Fact(
        id="cat_name",
        statements=[
            "Quince knocked my mug off the desk again this morning, that cat has zero remorse.",
            "Took Quince to the vet for her booster shot; she sulked in the carrier the whole way home.",
            "Ordered the grain-free kibble Quince likes, the pet shop had run out of it last time.",
        ],
        probes=["What's my cat's name?", "What do we call our cat?"],
        keys=["Quince"],
    ),
    Fact(
        id="sister_name",
        statements=[
            "My sister Oriane called tonight, she finally handed in her thesis.",
            "Sent Oriane a voice memo for her name day. She's my only sibling and I forget to call her too often.",
            "Oriane, my younger sister, wants everyone together for the holidays this year.",
        ],
        probes=["What is my sister called?", "What's my sister's first name?"],
        keys=["Oriane"],
    ),
    Fact(
        id="sister_city",
        statements=[
            "Booked flights to Trondheim to visit my sister for a long weekend.",
            "Oriane says the sun sets before three in the afternoon up in Trondheim right now.",
            "My sister moved to Trondheim for the hospital job and loves the fjord walks.",
        ],
        probes=["Which city does my sister live in?", "Where would I fly to see my sister?"],
        keys=["Trondheim"],
    ),
    Fact(
        id="partner_birthday",
        statements=[
            "My partner Idris turns 38 on 14 September, book the Lebanese place early this time.",
            "Cake order for September 14 has to go in by the 10th; Idris wants lemon this year.",
            "Idris was born on the 14th of September, the same week as the harvest fair, which is how I remember it.",
        ],
        probes=["When is my partner's birthday?", "On what date should I plan the celebration for Idris turning a year older?"],
        keys=["14 September", "September 14", "14th of September"],
    ),
    Fact(
        id="spare_key",
        statements=[
            "Moved the spare key under the blue flowerpot by the back door, the old spot under the mat was too obvious.",
            "If I'm ever locked out again: the spare key is under the blue flowerpot at the back step.",
            "For the house-sitter: key under the blue flowerpot, and the back door sticks so pull it hard.",
        ],
        probes=["Where did I hide the extra house key?", "Where's the backup key to get into the house?"],
        keys=["flowerpot"],
    ),
    Fact(
        id="car_plate",
        statements=[
            "New plates arrived for the car: KV-3381. Need to update the parking app.",
            "Registered KV-3381 with the office garage so the barrier opens for me.",
        ],
        probes=["What's my car's registration number?", "What licence plate is on my car?"],
        keys=["3381"],
    ),
    Fact(
        id="employer",
        statements=[
            "First week at Brightmoor Logistics done; the warehouse tour was longer than the onboarding.",
            "Brightmoor is paying for the certification course if I pass it by spring.",
            "Updated my email signature to Brightmoor Logistics, the old one still had my previous company.",
        ],
        probes=["Which company do I work for?", "Who is my employer right now?"],
        keys=["Brightmoor"],
    ),
    Fact(
        id="manager_name",
        statements=[
            "One-to-one with Ottoline went well, she wants me to lead the routing project.",
            "My manager Ottoline is away next week, so approvals go to her deputy.",
            "Ottoline signed off my leave request without a single question, best boss I've had.",
        ],
        probes=["Who's my boss?", "What's the name of the person I report to?"],
        keys=["Ottoline"],
    ),
    Fact(
        id="allergy",
        statements=[
            "Allergic reaction again after that stir-fry, it had cashews in it. I need to ask every time.",
            "Told the caterer: no cashews at all for me, the allergy is serious.",
            "Refilled the antihistamines; last month's cashew scare was enough.",
        ],
        probes=["What am I allergic to?", "Which food gives me a reaction?"],
        keys=["cashew"],
    ),
    Fact(
        id="dentist_name",
        statements=[
            "Dentist appointment with Dr. Lindqvist moved to 8:40 in the morning.",
            "Dr. Lindqvist says the filling looks fine, next check-up in six months.",
        ],
        probes=["What's my dentist called?", "Who looks after my teeth?"],
        keys=["Lindqvist"],
    ),
    Fact(
        id="book_club_day",
        statements=[
            "Book club is on the first Wednesday of every month at Marguerite's flat.",
            "Finished the book club novel just in time for Wednesday, nobody else will have.",
            "Can't plan anything on first Wednesdays, that's book club.",
        ],
        probes=["What day does my reading group meet?", "When do we get together to discuss books each month?"],
        keys=["Wednesday"],
    ),
    Fact(
        id="favourite_food",
        statements=[
            "Nothing beats khachapuri, the cheese boat with the egg in the middle. My favourite food, no contest.",
            "Found a Georgian bakery near the station that does proper khachapuri, which is dangerous for me.",
            "Birthday dinner request: khachapuri, obviously.",
        ],
        probes=["What's my favourite dish?", "Which food do I love most?"],
        keys=["khachapuri"],
    ),
    Fact(
        id="home_street",
        statements=[
            "Changed my address with the bank to 27 Larkspur Lane.",
            "Ten years on Larkspur Lane this spring, the street has changed so much.",
            "Gave the delivery driver directions: Larkspur Lane, yellow door opposite the postbox.",
        ],
        probes=["What street do I live on?", "What's my home address?"],
        keys=["Larkspur"],
    ),
    Fact(
        id="child_school",
        statements=[
            "Our daughter Wren's class at Fernhollow Primary is doing a rivers project, we need a shoebox by the end of the week.",
            "Parents' evening at Fernhollow: Wren's teacher says her reading is way ahead.",
            "Signed the Fernhollow Primary trip form and put it in Wren's bag.",
        ],
        probes=["Which school does my daughter go to?", "Where does Wren go to school?"],
        keys=["Fernhollow"],
    ),
    Fact(
        id="gym_days",
        statements=[
            "Gym plan: Tuesdays and Fridays before work, no excuses.",
            "Skipped the Tuesday gym session, will double up on Friday.",
            "Gym on Friday was brutal, new leg routine.",
        ],
        probes=["Which days do I work out?", "When do I usually train each week?"],
        keys=["Tuesday", "Friday"],
    ),
    Fact(
        id="locker_number",
        statements=[
            "Got a permanent locker at the gym, number 263, right by the showers.",
            "Left my towel in locker 263 again.",
        ],
        probes=["What's my locker number?", "Which locker is mine at the gym?"],
        keys=["263"],
    ),
    Fact(
        id="bike_lock_code",
        statements=[
            "Bike lock combination is 5082, writing it down because I've forgotten it twice.",
            "Set the bike lock to 5082 after the old code got stiff.",
            "Couldn't open the bike in the rain, kept dialling 5082 with frozen fingers.",
        ],
        probes=["What's the code for my bicycle lock?", "How do I unlock my bike?"],
        keys=["5082"],
    ),
    Fact(
        id="passport_expiry",
        statements=[
            "Passport expires in August 2029, check before booking anything far away.",
            "Checked the passport for the trip: valid until 2029, so that's fine.",
        ],
        probes=["When does my passport run out?", "Until what year can I still travel on my passport?"],
        keys=["2029"],
    ),
    Fact(
        id="hometown",
        statements=[
            "Grew up in Zadar, and I still miss the sea organ at sunset.",
            "Mum sent photos from Zadar, the old school I went to is being turned into flats.",
            "People never believe I spent my whole childhood in Zadar.",
        ],
        probes=["Where did I grow up?", "What's my hometown?"],
        keys=["Zadar"],
    ),
    Fact(
        id="learning_language",
        statements=[
            "Started Portuguese lessons with an online tutor, twice a week.",
            "Portuguese lesson today: finally got the nasal vowels right.",
            "Hit a 100-day streak learning Portuguese.",
        ],
        probes=["Which language am I learning?", "What language are my lessons in?"],
        keys=["Portuguese"],
    ),
]

# Tags a person would put on a note stating the fact; "work" facts get work sentences around them.
FACT_TAGS: dict[str, list[str]] = {
    "cat_name": ["home", "pets"],
    "sister_name": ["family"],
    "sister_city": ["family", "travel"],
    "partner_birthday": ["family", "todo"],
    "spare_key": ["home"],
    "car_plate": ["car", "admin"],
    "employer": ["work"],
    "manager_name": ["work"],
    "allergy": ["health"],
    "dentist_name": ["health"],
    "book_club_day": ["books", "social"],
    "favourite_food": ["food"],
    "home_street": ["home", "admin"],
    "child_school": ["family", "school"],
    "gym_days": ["health", "fitness"],
    "locker_number": ["fitness"],
    "bike_lock_code": ["bike"],
    "passport_expiry": ["travel", "admin"],
    "hometown": ["family", "diary"],
    "learning_language": ["learning"],
}

# Filler word lists. None of these may name a fact's topic or key (no pets, siblings, weekdays, gyms, bikes ...).
WORDS: dict[str, list[str]] = {
    "friend": ["Saoirse", "Teodor", "Ulla", "Viggo", "Yasmin", "Anouk", "Bastien", "Calla", "Dorian", "Esme", "Florin", "Greta"],
    "colleague": ["Anselm", "Beatrix", "Cosimo", "Delphine", "Emrys", "Fenna", "Gideon", "Hollis", "Ines", "Jarrah", "Kasimir"],
    "place": ["river path", "canal", "old railway line", "park", "harbour wall", "allotments", "ridge trail", "botanical garden"],
    "weather": ["grey", "windy", "freezing", "muggy", "drizzly", "bright", "misty", "blustery"],
    "mood": ["restless", "calm", "a bit flat", "oddly cheerful", "tired", "scattered", "content", "wound up", "hopeful"],
    "noise": ["upstairs neighbours' washing machine", "rain on the skylight", "wind", "street sweeper", "fridge hum", "party next door"],
    "evening": ["sorting old photos", "repotting the herbs", "fixing the wobbly chair", "doing a jigsaw", "listening to old records",
                "writing letters", "batch-cooking soup", "mending a jumper"],
    "cafe": ["the corner bakery", "the market cafe", "that tiny espresso bar", "the tea house on the square", "the museum cafe"],
    "topic": ["moving abroad", "their new job", "old holidays", "houseplants", "a podcast we both like", "renovation plans",
              "what to do next summer", "a film we saw"],
    "friend_news": ["they're finally renovating the kitchen", "they adopted a tortoise", "their band has a gig soon",
                    "they're training for a marathon", "they took up pottery", "they got a new flat"],
    "plant": ["tomato plant", "basil", "jasmine", "chilli plant", "lavender", "fig tree"],
    "plant_event": ["flowered", "perked up", "needs a bigger pot", "got aphids", "has three new shoots"],
    "room": ["hallway cupboard", "spare room", "kitchen drawers", "bookshelf", "wardrobe", "shed"],
    "found": ["an old concert ticket", "a roll of film", "a postcard from years ago", "the missing phone charger",
              "a jar of buttons", "a forgotten gift card"],
    "documentary": ["deep-sea fish", "medieval bridges", "glaciers", "typography", "beekeeping", "container ships", "volcanoes"],
    "advice": ["drink more water", "stop checking email at night", "go outside before noon", "back up the laptop",
               "answer messages the same day", "write things down straight away"],
    "mood_reason": ["not sure why", "probably the weather", "too much coffee", "slept in", "long week", "good news from a friend"],
    "work_pace": ["slow going", "interrupted constantly", "finally done", "surprisingly quick", "half done"],
    "project": ["the invoicing rewrite", "the quarterly report", "the supplier portal", "the data migration",
                "the customer survey", "the new dashboard"],
    "blocker": ["missing test data", "a legal review", "an access request", "a vendor reply", "unclear requirements"],
    "doc": ["budget draft", "meeting summary", "slide deck", "risk register", "project plan", "handover notes"],
    "work_idea": ["merge the two weekly meetings", "write a short how-to for new starters", "automate the monthly export",
                  "move the review earlier", "pilot it with one team first"],
    "work_task": ["cleaning up the spreadsheet", "answering a backlog of emails", "reviewing contracts", "rewriting the FAQ",
                  "interviewing a candidate", "planning next quarter"],
    "minutes": ["10", "15", "20", "25", "40", "45"],
    "dish": ["lentil soup", "shakshuka", "mushroom risotto", "roast squash salad", "fish tacos", "chickpea curry",
             "lemon orzo", "potato gratin", "miso-glazed aubergine", "pea and mint fritters"],
    "ingredient": ["spinach", "feta", "smoked paprika", "leeks", "fresh dill", "sweet potato", "capers", "coconut milk",
                   "chorizo", "goat's cheese", "cherry tomatoes", "sesame seeds"],
    "spice": ["cumin", "sumac", "chilli flakes", "za'atar", "black pepper", "turmeric"],
    "veg": ["carrots", "cauliflower", "beetroot", "peppers", "courgettes", "red onions"],
    "verdict": ["a keeper", "too salty", "everyone had seconds", "needed more acid", "a bit bland", "better the next day"],
    "servings": ["2", "4", "6"],
    "leftovers": ["good for lunch the next day", "freezes well", "no leftovers", "double it next time"],
    "grocery": ["oat milk", "eggs", "rye bread", "bananas", "coffee beans", "olive oil", "rice", "yoghurt", "tinned tomatoes",
                "apples", "butter", "pasta", "onions", "garlic", "lemons", "frozen peas", "porridge oats", "honey"],
    "household": ["bin bags", "washing-up liquid", "light bulbs", "batteries", "kitchen roll", "dishwasher tablets", "laundry powder",
                  "sponges", "toothpaste", "hand soap"],
    "idea": ["a small shelf for the hallway", "a photo journal of the neighbourhood", "a shared recipe folder with friends",
             "a herb spiral in the garden", "a monthly no-spend weekend", "a playlist for rainy mornings",
             "a short story about a lighthouse keeper", "a zine about local bakeries", "a swap shelf for the building",
             "a map of the best benches in town", "a soup night for the neighbours", "a window box of wildflowers",
             "a yearly letter to my future self", "a tiny vegetable patch by the fence"],
    "title_adjective": ["Silent", "Lost", "Glass", "Northern", "Last", "Hidden", "Paper", "Quiet", "Salt", "Burning"],
    "title_noun": ["Orchard", "Harbour", "Cartographer", "Winter", "Archive", "Lantern", "Tide", "Garden", "Station", "Letters"],
    "opinion": ["Slow start, great ending.", "Couldn't put it down.", "Beautiful writing, thin plot.", "Not for me, gave up twice.",
                "The middle dragged.", "Want to read everything else by this author."],
    "weather_event": ["Heavy rain all morning, the road by the bakery flooded.", "First frost of the season, the windows were iced over.",
                      "Warm enough to eat lunch outside.", "Fog so thick the far bank of the river disappeared.",
                      "Thunderstorm in the night, power flickered twice.", "Wind took the lid off the recycling bin.",
                      "Clear blue sky, everyone was out in shorts.", "Hail for five minutes, then sunshine."],
    "when": ["this weekend", "before the end of the month", "maybe in the spring", "after work", "soon", "when it's quieter",
             "next week", "tomorrow", "once the rain stops"],
    "weather_after": ["Made a big pot of tea.", "Forecast says more of the same.", "Hung the washing inside.", "Took the long way home anyway.",
                      "The whole street smelled of wet leaves.", "Nobody at the bus stop had an umbrella."],
    "errand": ["return the library books", "pick up the dry cleaning", "post the parcel", "renew the home insurance",
               "get the watch battery replaced", "drop off the old clothes", "collect the prescription", "buy a thank-you card",
               "book the boiler service", "pay the water bill", "oil the squeaky gate", "take the recycling to the depot",
               "frame the print from the market", "fix the dripping tap", "order new curtains"],
}

FILLER_TEMPLATES: dict[str, list[str]] = {
    "diary": [
        "Slept badly, the {noise} kept me up.",
        "Long walk along the {place} after lunch, {weather} but worth it.",
        "Feeling {mood} today, {mood_reason}.",
        "Spent the evening {evening} with {friend}.",
        "Coffee with {friend} at {cafe}; we talked about {topic} for ages.",
        "Called {friend} to catch up, {friend_news}.",
        "The {plant} on the balcony {plant_event}.",
        "Tidied the {room} and found {found}.",
        "Watched a documentary about {documentary} with {friend}.",
        "Note to self: {advice}, starting {when}.",
    ],
    "work": [
        "Standup: {project} is blocked on {blocker}, {colleague} is chasing it.",
        "Need to send the {doc} to {colleague} before the end of the day.",
        "{colleague} suggested we {work_idea}.",
        "Spent most of the morning {work_task}, {work_pace}.",
        "Meeting about {project} ran over by {minutes} minutes.",
        "TODO: ask {colleague} about the {doc}.",
    ],
    "recipe": [
        "Recipe to try: {dish} with {ingredient} and {ingredient}.",
        "Roast the {veg} for {minutes} minutes, then season with {spice}.",
        "Add {ingredient} right at the end so it stays fresh.",
        "{dish} serves {servings}, {leftovers}.",
        "Next time use less {spice}, it was too strong.",
        "Made {dish} tonight, {verdict}.",
    ],
    "shopping": [
        "Shopping: {grocery}, {grocery}, {grocery}.",
        "Out of {grocery} again, get {grocery} too.",
        "Don't forget {household} and {household}.",
        "Also {grocery} and {household}.",
    ],
    "ideas": [
        "Idea: {idea}, {when}.",
        "What if I made {idea}?",
        "{friend} liked the idea of {idea}.",
        "Could start with {idea} and see how it goes.",
    ],
    "reading": [
        "Finished 'The {title_adjective} {title_noun}'. {opinion}",
        "Started 'The {title_adjective} {title_noun}' on the train.",
        "{friend} recommended 'The {title_adjective} {title_noun}'.",
        "Reading list: 'The {title_adjective} {title_noun}' and 'A {title_adjective} {title_noun}'.",
    ],
    "weather": [
        "{weather_event} {weather_after}",
        "{weather} all day, spent it {evening}.",
        "Walked the {place} anyway, {weather} and empty.",
    ],
    "errands": [
        "Errands: {errand}, {errand}.",
        "Remember to {errand} {when}.",
        "Finally managed to {errand}.",
        "Still need to {errand} and {errand}.",
    ],
}

SET = FactSet(facts=FACTS, fact_tags=FACT_TAGS, words=WORDS, templates=FILLER_TEMPLATES, filler_kinds=list(FILLER_TEMPLATES),
              around_fact="diary", filler_lengths=[1, 2, 2, 3, 3, 4, 5], tagged_share=0.7, capitalise=True, joiners=(" ",))
notes, probe_rows = SET.notes, SET.probe_rows

if __name__ == "__main__":
    SET.main(__doc__)
