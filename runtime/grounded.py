"""Answers taken from text the person owns, never written by the 135M model: a file's own lines, an
extractive summary, the passage that matches a question, the memory note that answers it. Each
answer says which it is, so the person knows they read their own words.

When no note holds the question's own words ("what's my cat called?" against "Our cat is Miso"),
the model reads the best notes (the prompt its grounded training pairs use) and the reply quotes the
note sentence that backs what it read; if none of those backs it (the model may answer from what its
adapter learned), the notes are searched for what it said. What no note sentence backs is never said."""

from __future__ import annotations

import re
from typing import Any

from . import extract, extractive, intent

SUMMARY_WORDS = re.compile(r"\b(?:summar(?:y|ise|ize|izing|ising)|tl;?dr|gist|key points|main points|overview|recap)\b", re.I)
SHOW_WORDS = re.compile(r"^\s*(?:please\s+)?(?:(?:can|could|would)\s+you\s+)?(?:read|show|open|display|print|cat|view|give me|let me see)\b", re.I)
# A memory answers a question when it holds enough of the question's own words (stems).
MIN_SHARED = 0.6
# The notes the model reads for a question (the search's best): more would crowd a 135M model's context.
READ_NOTES = 3
# A note sentence backs the model's reading when it holds this share of the words the reading adds to the question.
MIN_BACKED = 0.6
# With an adapter, the model has learned which of the person's sentences answers their questions: of
# the sentences in the search's best RECALL_NOTES notes that are about the question, the one whose
# likelihood as the reply gains most over a question that asks nothing (RECALL_BASELINE), if it gains
# at least MIN_RECALL_GAIN nats (measured: bench/nightly_facts.py, docs/PERFORMANCE.md).
RECALL_NOTES = 10
RECALL_BASELINE = "Tell me something from my notes."
MIN_RECALL_GAIN = 2.0
RELATIONS = (r"sister|brother|mom|mum|mother|dad|father|wife|husband|partner|boyfriend|girlfriend|son|daughter|boss|manager|"
             r"friend|neighbou?r|colleague|aunt|uncle|cousin|grandma|grandpa|niece|nephew|doctor|dentist|landlord|flatmate|roommate")
# "my sister Lea", "My wife Sarah": the notes name who a relation is.
RELATION_NAME = re.compile(rf"\b(?:my|our)\s+({RELATIONS})(?:,)?\s+([A-Z][a-z]+)", re.I)
# "Where is the spare key?", "when is book club?": the person's world, where a 135M model's guess is
# an invention; "I have no note" is the honest answer when no note has one.
WHERE_OR_WHEN = re.compile(r"^\s*(?:where|when|what time|what day|which day)\b|^\s*(?:where|when)'?s\b", re.I)
NAME = re.compile(r"\b[A-Z][a-z]+\b")
MONTHS = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
DAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|mondays|tuesdays|wednesdays|thursdays|fridays|saturdays|sundays|tomorrow|tonight"
ANSWER_CUES = (
    (re.compile(r"^\s*(?:when|until when|what time|what day|what date)\b", re.I),
     re.compile(rf"\b(?:{MONTHS}|{DAYS})\b|\b\d{{1,2}}[:.]\d{{2}}\b|\b\d{{1,2}}(?:st|nd|rd|th)\b|\b\d{{4}}\b", re.I)),
    (re.compile(r"^\s*(?:where|which (?:room|drawer|shelf|floor|place))\b", re.I),
     re.compile(r"\b(?:under|behind|beside|next to|inside|on (?:the|level|top)|in (?:the|my|a)|at (?:the|\w+'s))\b"
                r"|\b(?:street|lane|road|garage|level|spot|floor|room)\b", re.I)),
    (re.compile(r"^\s*(?:who|who's|whos|whose)\b", re.I), re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+\b")),
    (re.compile(r"^\s*(?:how much|how many|what number|which number)\b", re.I), re.compile(r"\d")),
    (re.compile(r"^\s*how old\b", re.I), re.compile(r"\b\d{1,3}\s*(?:years?\s+old|yo)\b|\baged?\s+\d{1,3}\b|\bturn(?:s|ed|ing)?\s+\d{1,3}\b|\bborn\b", re.I)),
)
# "What's my cat called?", "who is my dentist?": the answer is a name (a capitalised word that is
# not a stopword: "Oriane, my sister, ..." and "Dr. Hahn" count, "The" does not).
NAME_QUESTION = re.compile(r"^\s*(?:who|who's|whos|whose)\b|\b(?:name|named|called|call)\b", re.I)
# ... and those words ask for the name, they are not what the note is about ("Called Dorian to catch up").
NAME_WORDS = frozenset(extractive.stems("name named called call"))
CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")
# "Leo's cat" is not "my cat": a named owner of the thing asked about makes the sentence someone else's.
OWNED = re.compile(r"\b[A-Z][a-z]+'s\s+(\w+)")
MINE = re.compile(r"\b(?:my|our)\b", re.I)


def file_answer(request: str, result: dict[str, Any]) -> str:
    """What fs_read's result says to this request: a summary, the passage that answers a question,
    or the file's first lines as they are."""
    path, content = result.get("path", "the file"), str(result.get("content", ""))
    if not content.strip():
        return f"{path} is empty."
    if SUMMARY_WORDS.search(request):
        found = extractive.summary(content)
        if found.sentences:
            return f"{path}, in its own sentences (an extractive summary: {len(found.sentences)} of {found.source_sentences}):\n{found.text}"
    elif not SHOW_WORDS.match(request) and _asks_something(request):
        passages = extractive.best_passages(content, request)
        if not passages:
            return f"{path} does not say (no sentence in it matches the question). Ask me to show it, to read it yourself."
        quoted = "\n".join(f"> {p.text}  (line {p.line})" for p in passages)
        return f"From {path}:\n{quoted}"
    excerpt = extractive.first_lines(content)
    more = "" if excerpt.complete else f"\n(the first {excerpt.shown_lines} of {excerpt.total_lines} lines; ask for a summary of the rest)"
    return f"{path}:\n{excerpt.text}{more}"


def _asks_something(request: str) -> bool:
    """A question about the file's content beyond "what's in it"."""
    words = set(extract.question_words(extract.PATH.sub(" ", request)).split()) - {"file", "say", "says", "in", "inside", "contain", "contains"}
    return bool(words) and ("?" in request or bool(re.match(r"^\s*(?:what|how|when|where|who|which|why|does|is)\b", request, re.I)))


def notes_block(*notes: str) -> str:
    """How the model is given the person's notes, after the question: in the chat, in the grounded
    training pairs and in the eval that scores answers with the note in the prompt."""
    return "From my notes:\n" + "\n".join(f"- {note.strip()}" for note in notes)


def memory_answer(request: str, result: dict[str, Any]) -> str | None:
    """The note that answers a question, quoted with its date; "I have no note" for a question about
    the person (or about something their notes know) that none answers; None for any other question
    no note answers (the chat may talk)."""
    return quoted_note(request, result) or no_note(request, result)


def quoted_note(request: str, result: dict[str, Any]) -> str | None:
    """The note passage that holds most of the question's words, quoted with its date; None if none does."""
    hits = _own_notes(result)
    slots = _slots(extract.question_words(request), [text for text, _ in hits])
    if not slots:
        return None
    light = set(extractive.stems(request)) - {stem for slot in slots for stem in slot}
    cue = _cue(request)
    people = _people([text for text, _ in hits])
    query = " ".join(sorted({stem for slot in slots for stem in slot}))
    best: tuple[tuple, str, str] | None = None
    for rank, (text, day) in enumerate(hits):
        for passage in extractive.best_passages(text, query, limit=2):
            found = set(extractive.stems(passage.text))
            missing = [slot for slot in slots if not slot & found]
            # A note may word a thing differently, but not be about someone else ("Leo's shoe size" for Emma's).
            if (len(slots) - len(missing)) / len(slots) < MIN_SHARED or any(slot & people for slot in missing):
                continue
            covered = len(slots) - len(missing)
            key = (covered, len(light & found), bool(cue and cue.search(passage.text)), -rank)
            if best is None or key > best[0]:
                best = (key, passage.text, day)
    return None if best is None else f"From your notes ({best[2]}): {best[1]}"


def no_note(request: str, result: dict[str, Any]) -> str | None:
    """"I have no note" for a question about the person (or about something their notes know, or where
    and when) that no note answers; None for a general question (the chat may talk)."""
    about = extract.question_words(request)
    hits = _own_notes(result)
    slots = _slots(about, [text for text, _ in hits])
    known = any(slot & set(extractive.stems(text)) for slot in slots for text, _ in hits)
    if not (intent.is_personal_question(request) or known or WHERE_OR_WHEN.match(request)):
        return None
    if not about:
        return "I have no note about that."
    owner = "your " if re.search(rf"\b(?:my|our)\s+{re.escape(about.split()[0])}", request, re.I) else ""
    return f"I have no note about {owner}{about}. Tell me, and I will remember it."


def reading_prompt(request: str, result: dict[str, Any]) -> str | None:
    """The question and the person's best notes, as the grounded training pairs put them; None
    when the search found no note of theirs."""
    notes = [text for text, _ in _own_notes(result)[:READ_NOTES]]
    return f"{request}\n\n{notes_block(*notes)}" if notes else None


def said_words(reading: str) -> list[str]:
    """The stems of what the model read out of the notes: its first sentence (a 135M model runs on
    into other notes)."""
    return list(dict.fromkeys(extractive.stems(_first_sentence(reading))))


def reading_search(said: list[str]) -> dict[str, Any] | None:
    """memory_search arguments that look for the note behind what the model said (`said_words`);
    None if it said no content word. The query is those words, so the turn's own tool call carries
    them to `backed_reading` when the search returns."""
    return {"query": " ".join(said), "match": "any", "not_type": "conversation", "limit": 10} if said else None


def backed_reading(request: str, said: list[str], result: dict[str, Any], *, read: int | None = READ_NOTES) -> str | None:
    """The note sentence that backs what the model read out of the notes (`said_words`; among the
    first `read` hits, the notes it was given; None: all), quoted with its date. It holds most of
    the words the reading adds to the question, shares a word with the question, is not about
    someone else, and holds what the question asks for (a date for "when", a name for "who"). None
    when no sentence does: the model's reading alone is never the answer."""
    hits = _own_notes(result)[:read]
    texts = [text for text, _ in hits]
    every_slot = _slots(extract.question_words(request), texts)
    slots = _asked_slots(request, every_slot)
    added = set(said) - {stem for slot in every_slot for stem in slot} - set(extractive.stems(request))
    if not slots or not added:
        return None  # the model only said the question back
    people = _people(texts)
    best: tuple[tuple, str, str] | None = None
    for rank, (text, day) in enumerate(hits):
        for sentence in extractive.sentences(text):
            found = set(extractive.stems(sentence))
            backed = len(added & found) / len(added)
            if backed < MIN_BACKED or not _about_the_question(request, sentence, slots, people):
                continue
            key = (backed, sum(1 for slot in slots if slot & found), -rank)
            if best is None or key > best[0]:
                best = (key, sentence.strip(), day)
    return None if best is None else f"From your notes ({best[2]}): {best[1]}"


def recall_candidates(request: str, result: dict[str, Any]) -> list[tuple[str, str]]:
    """(sentence, day) of each sentence in the best RECALL_NOTES notes that is about the question:
    what the adapter's likelihoods choose among (`recalled`)."""
    hits = _own_notes(result)[:RECALL_NOTES]
    texts = [text for text, _ in hits]
    slots, people = _asked_slots(request, _slots(extract.question_words(request), texts)), _people(texts)
    if not slots:
        return []
    found = {sentence.strip(): day for text, day in hits for sentence in extractive.sentences(text)
             if _about_the_question(request, sentence, slots, people)}
    return list(found.items())


def recalled(candidates: list[tuple[str, str]], gains: list[float]) -> str | None:
    """The candidate whose likelihood as the answer gains most over RECALL_BASELINE's, quoted with its
    date; None unless it gains MIN_RECALL_GAIN."""
    if not candidates:
        return None
    gain, (sentence, day) = max(zip(gains, candidates, strict=True), key=lambda pair: pair[0])
    return f"From your notes ({day}): {sentence}" if gain >= MIN_RECALL_GAIN else None


def _first_sentence(text: str) -> str:
    found = extractive.sentences(text.strip())
    return found[0] if found else text


def _asked_slots(request: str, slots: list[frozenset[str]]) -> list[frozenset[str]]:
    """The question's slots a sentence must share one of; the words that ask for a name do not count."""
    return [slot for slot in slots if not slot & NAME_WORDS] if NAME_QUESTION.search(request) else slots


def _about_the_question(request: str, sentence: str, slots: list[frozenset[str]], people: set[str]) -> bool:
    """The sentence shares one of the question's slots, misses none that names a person and gives no
    other owner to what "my" asks about (it is not about someone else), and holds what is asked (a
    date for "when", a name for "who")."""
    found = set(extractive.stems(sentence))
    missing = [slot for slot in slots if not slot & found]
    owned = {stem for word in OWNED.findall(sentence) for stem in extractive.stems(word)} if MINE.search(request) else set()
    return (len(missing) < len(slots) and not any(slot & people for slot in missing) and not any(slot & owned for slot in slots)
            and _holds_what_is_asked(request, sentence))


def _holds_what_is_asked(request: str, sentence: str) -> bool:
    if NAME_QUESTION.search(request):
        return any(extractive.stems(word) for word in CAPITALISED.findall(sentence))
    cue = _cue(request)
    return cue is None or bool(cue.search(sentence))


def _own_notes(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(text, day) of each hit the person wrote: a chat exchange whose reply they never marked good
    holds the model's guess, never a note."""
    return [(hit.get("excerpt") or hit.get("snippet", ""), hit.get("timestamp", "")[:10]) for hit in result.get("hits", [])
            if not hit.get("unmarked_reply")]


def _slots(about: str, texts: list[str]) -> list[frozenset[str]]:
    """What a note must hold to answer: one slot per content word of the question, each filled by the
    word, a synonym, or the name the notes give a relation ("my sister" <-> "Lea")."""
    aliases: dict[str, set[str]] = {}
    for text in texts:
        for relation, name in RELATION_NAME.findall(text):
            first, second = extractive.stems(relation.lower()), extractive.stems(name)
            if first and second:
                aliases.setdefault(first[0], set()).add(second[0])
                aliases.setdefault(second[0], set()).add(first[0])
    slots = []
    for stem in dict.fromkeys(extractive.stems(about)):
        alternatives = extractive.stem_alternatives(stem)
        slots.append(alternatives | {alias for alternative in alternatives for alias in aliases.get(alternative, ())})
    return slots


def _people(texts: list[str]) -> set[str]:
    """Stems of the people the notes name (a capitalised word) and of relation words ("sister")."""
    names = {stem for text in texts for word in NAME.findall(text) for stem in extractive.stems(word)}
    return names | {stem for word in RELATIONS.split("|") for stem in extractive.stems(word.replace("?", ""))}


def _cue(request: str) -> re.Pattern[str] | None:
    """What an answer to this kind of question holds (a date for "when", a place for "where"): it
    breaks ties between notes that share the question's words."""
    for pattern, cue in ANSWER_CUES:
        if pattern.match(request):
            return cue
    return None
