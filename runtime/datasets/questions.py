"""The questions a person would ask about a note, found in its sentences: who someone is, what a
thing is called, where it is, when it is, what it is. Each fact gets several wordings, each answered
by the note's own sentence; the last wording of each is kept out of training as a fact probe.

A fact is found by pattern, not by a model (the 135M model's questions would invent). What no
pattern reads yields no question: the note still teaches its words through the dated pair."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import grounded
from ..extractive import sentences

# The chat's relations, and the pets, carers and things a note names the same way ("our cat Miso").
RELATIONS = (rf"{grounded.RELATIONS}|grandmother|grandfather|landlady|cat|dog|kitten|puppy|pet|rabbit|parrot|hamster|horse|"
             r"goldfish|tortoise|sibling|best friend|vet|optician|physio|therapist|accountant|coach|teacher|tutor|trainer|boat|car|bike")
CARERS = r"dentist|doctor|GP|vet|optician|physio|therapist|surgeon|consultant|midwife|orthodontist"
STREET = r"Lane|Street|St|Road|Rd|Avenue|Ave|Close|Way|Drive|Place|Court|Gardens|Crescent|Terrace|Row|Square|Hill|Grove"
NUMBERED = r"locker|room|flat|apartment|plot|seat|desk|table|gate|platform|bay|pew|berth|cabin|pitch|space"
MONTHS = grounded.MONTHS
DAYS = r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
WHEN = re.compile(rf"\b(?:(?:on|every|each)\s+)?(?:{DAYS})\b(?:\s+(?:at\s+)?\d{{1,2}}(?:[:.]\d{{2}})?\s*(?:am|pm)?)?"
                  rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{MONTHS})\b|\b(?:{MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
                  rf"|\bat\s+\d{{1,2}}(?:[:.]\d{{2}})?\s*(?:am|pm)\b|\b\d{{1,2}}[:.]\d{{2}}\b", re.I)
OWNED = r"(?:[Mm]y|[Oo]ur)\s+(?:[a-z][\w-]*\s+){0,2}?[a-z][\w-]*"
# what a fact is about: "my car", "the spare key", "Mum's operation", or a bare noun starting the sentence ("Passports")
THING = (rf"(?:{OWNED}|the\s+(?:[a-z][\w-]*\s+){{0,2}}?[a-z][\w-]*|[A-Z][a-z]+'s\s+(?:[a-z][\w-]*\s+){{0,2}}?[a-z][\w-]*"
         rf"|^[A-Z][a-z]+(?:\s+[a-z][\w-]*){{0,2}}?)")
NAME = r"[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?"
PLACE_WORDS = r"under(?:neath)?|in|inside|behind|on top of|on|at|next to|beside|above|below"
# (kind, pattern with the groups `thing` and `key`): the first that matches a sentence is its fact.
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("name", re.compile(rf"\b(?P<thing>{OWNED})(?:'s name)?\s+(?:is\s+|was\s+)?(?:called|named|is)\s+(?P<key>{NAME})\b(?!'s)"
                        r"(?:[.,;!]|\s+(?:and|but|who|she|he|it|since)\b|$)")),
    ("name", re.compile(rf"\b(?P<thing>(?:[Mm]y|[Oo]ur)\s+(?:{RELATIONS}))\s*,?\s+(?P<key>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\b")),
    # "Oriane, my younger sister, ...": a name, then who they are
    ("name", re.compile(rf"\b(?P<key>[A-Z][a-z]+)(?:\s+[A-Z][a-z]+)?,\s+(?P<owner>[Mm]y|[Oo]ur)\s+(?:[a-z]+\s+)?(?P<rel>{RELATIONS})\b")),
    # "Dentist appointment with Dr. Lindqvist", "Dr Okafor, our GP": a carer by title
    ("name", re.compile(rf"\b(?P<rel>{CARERS})\b.{{0,40}}?\b(?:Dr\.?|Doctor)\s+(?P<key>[A-Z][\w'-]+)", re.I)),
    ("name", re.compile(rf"\b(?:Dr\.?|Doctor)\s+(?P<key>[A-Z][\w'-]+)\b.{{0,40}}?\b(?P<rel>{CARERS})\b", re.I)),
    ("lives", re.compile(rf"\b(?P<thing>(?:[Mm]y|[Oo]ur)\s+(?:{RELATIONS})|[A-Z][a-z]+)(?:\s+[A-Z][a-z]+)?\s+(?:now\s+)?"
                         r"(?:lives|moved)\s+(?:in|to)\s+(?P<key>[A-Z][\w-]+)")),
    ("work", re.compile(r"\bI\s+(?:now\s+)?work\s+(?:at|for)\s+(?P<key>[A-Z][\w&'-]*(?:\s+[A-Z][\w&'-]*)*)")),
    ("work", re.compile(r"\b(?i:first|new|last)\s+(?:day|week|month)\s+at\s+(?P<key>[A-Z][\w&'-]*(?:\s+[A-Z][\w&'-]*)*)")),
    ("work", re.compile(r"\b(?:I\s+)?(?:started|joined)\s+(?:work\s+at\s+|at\s+)?(?P<key>[A-Z][\w&'-]*(?:\s+[A-Z][\w&'-]*)*)\s+(?:as|in|on|last|this)\b")),
    ("birthday", re.compile(rf"\b(?P<thing>[A-Z][a-z]+)\s+(?:was born|turns\s+\d+|'s birthday is|has (?:his|her|their) birthday)\s+on\s+(?:the\s+)?"
                            rf"(?P<key>\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{MONTHS})\b|(?:{MONTHS})\s+\d{{1,2}}\b)", re.I)),
    ("hometown", re.compile(r"\b(?i:grew up|was born|born and raised|spent my (?:whole )?childhood)\s+in\s+(?P<key>[A-Z][\w-]+)")),
    ("learning", re.compile(r"\b(?:learning|studying)\s+(?P<key>[A-Z][a-z]+)\b|\b(?P<key2>[A-Z][a-z]+)\s+(?:lessons|classes|course)\b")),
    ("address", re.compile(rf"\b(?:address|live|living|moved|home)\b.*?\b(?P<key>\d+[a-z]?\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\s+(?:{STREET}))\b")),
    ("number", re.compile(rf"\b(?P<rel>{NUMBERED})\b(?:[^.;:]{{0,30}}?\bnumber|\s+(?:no\.?|#))?\s+(?P<key>\d{{1,5}}[A-Z]?)\b", re.I)),
    ("allergy", re.compile(r"\bI(?:'m| am)\s+allergic\s+to\s+(?P<key>[\w-]+)", re.I)),
    ("where", re.compile(rf"\b(?P<thing>{THING})\s+(?P<verb>is|are)\s+(?:kept\s+|hidden\s+|stored\s+|parked\s+)?"
                         rf"(?P<key>(?:{PLACE_WORDS})\s+.+?)(?:[.,;!]|$)", re.I)),
    ("when", re.compile(rf"\b(?P<thing>{THING})\s+(?:is|are|falls|starts|meets|happens)\s+(?P<key>.*?(?:{WHEN.pattern}))", re.I)),
    # "Bike lock code: 5082": a short label and a short value (a list under a heading is no fact)
    ("label", re.compile(r"^(?P<thing>[A-Za-z][\w']*(?:[ -][\w']+){0,3})\s*:\s*(?P<key>[^\s:,;](?:[^\s:,;]*)(?:\s[^\s:,;]+){0,3})\s*\.?$")),
    ("what", re.compile(rf"\b(?P<thing>{OWNED})\s+(?P<verb>is|are)\s+(?P<key>(?:a |an |the )?[\w'-]+(?:\s+[\w'-]+){{0,3}}?)(?:[.,;!]|$)", re.I)),
    # "Bike lock combination is 5082": a thing and a number
    ("what", re.compile(r"^(?P<thing>[A-Z][a-z]+(?:\s+[a-z]+){0,3}?)\s+(?P<verb>is|are)\s+(?:still\s+)?(?P<key>[A-Z]{0,3}-?\d[\w-]*)\b")),
]
WORDINGS = {
    "name": ("What is {thing} called?", "What's the name of {thing}?", "Who is {thing}?", "What's {possessive} name?"),
    "lives": ("Where does {thing} live?", "Which city does {thing} live in?", "Where is {thing} living now?"),
    "work": ("Where do I work?", "Who is my employer?", "Which company do I work for?"),
    "allergy": ("What am I allergic to?", "Do I have any allergies?", "Which allergy do I have?"),
    "birthday": ("When is {possessive} birthday?", "When was {thing} born?", "What date is {possessive} birthday?"),
    "hometown": ("Where did I grow up?", "What is my hometown?", "Which town am I from?"),
    "learning": ("What language am I learning?", "What am I learning at the moment?", "Which lessons am I taking?"),
    "address": ("What is my address?", "What's my home address?", "Which street do I live on?"),
    "number": ("What is my {bare} number?", "Which {bare} is mine?", "What number is my {bare}?"),
    "where": ("Where {verb} {thing}?", "Where do I keep {thing}?", "Where can I find {thing}?"),
    "when": ("When is {thing}?", "What day is {thing}?", "When do I have {thing}?"),
    "label": ("What is {thing}?", "What's {thing}?", "Remind me: what is {thing}?"),
    "what": ("What {verb} {thing}?", "Tell me {thing}.", "Remind me what {thing} {verb}."),
}
THINGLESS = ("work", "allergy", "hometown", "learning", "address")  # about the person: no thing to name
PRONOUNS = re.compile(r"^(?:it|this|that|he|she|they|there|which|what|who)$", re.I)
LIGHT = re.compile(r"^(?:my|our)\s+(?:day|week|plan|idea|goal|guess|point|problem|question|favourite|favorite|time|mood|head)$", re.I)


@dataclass(frozen=True)
class Fact:
    kind: str
    thing: str  # as a question names it: "my sister", "the spare key", "bike lock code"
    key: str  # the words an answer must hold: "Lea", "under the blue pot"
    sentence: str  # the note's own sentence: the answer
    verb: str = "is"

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.thing.lower()}"

    def questions(self) -> list[str]:
        plural = self.thing.endswith("s") and self.thing.split(" ")[0] in ("my", "our", "the")  # "my parents'", but "Idris's"
        possessive = self.thing + ("'" if plural else "'s")
        bare = self.thing.split(" ", 1)[-1]
        return [w.format(thing=self.thing, possessive=possessive, verb=self.verb, bare=bare) for w in WORDINGS[self.kind]]


def facts_in(text: str) -> list[Fact]:
    """The facts a note states: in each sentence, one of each kind (the first pattern of it that reads it)."""
    found: dict[str, Fact] = {}
    for sentence in sentences(text):
        sentence = sentence.strip()
        for kind, pattern in PATTERNS:
            match = pattern.search(sentence)
            if match is None:
                continue
            groups = match.groupdict()
            if groups.get("rel"):  # a relation or carer named in the sentence: asked about as the person's
                thing = f"{(groups.get('owner') or 'my').lower()} {groups['rel'].lower()}"
            else:
                thing = _as_asked(groups.get("thing") or "", kind)
            key = (groups.get("key") or groups.get("key2") or "").strip().rstrip(".")
            if (kind in THINGLESS) is bool(thing) or not key:
                continue
            if (kind == "where" and WHEN.search(key)) or (kind == "what" and any(f.sentence == sentence for f in found.values())):
                continue  # "on 12 August" is a when; a sentence read already needs no vaguer "what is"
            fact = Fact(kind, thing, key, sentence, (match.groupdict().get("verb") or "is").lower())
            found.setdefault(fact.id, fact)
    return list(found.values())


def _as_asked(thing: str, kind: str) -> str:
    """The thing as the person names it when asking: "Our cat" -> "our cat"; "" when it is no thing."""
    thing = " ".join(thing.split())
    if not thing or PRONOUNS.match(thing) or LIGHT.match(thing):
        return ""
    first, _, rest = thing.partition(" ")
    if first.lower() in ("my", "our", "the"):
        return f"{first.lower()} {rest}" if rest else ""
    if kind in ("lives", "birthday") or "'s" in first:
        return thing  # a name: "Tom", "Mum's operation"
    return "my " + thing.lower()  # "Passports are in ...", "Bike lock code: 4471": the person's own
