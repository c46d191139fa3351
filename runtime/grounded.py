"""Answers taken from text the person owns, never written by the 135M model: a file's own lines, an
extractive summary, the passage that matches a question, the memory note that answers it. Each
answer says which it is, so the person knows they read their own words."""

from __future__ import annotations

import re
from typing import Any

from . import extract, extractive, intent

SUMMARY_WORDS = re.compile(r"\b(?:summar(?:y|ise|ize|izing|ising)|tl;?dr|gist|key points|main points|overview|recap)\b", re.I)
SHOW_WORDS = re.compile(r"^\s*(?:please\s+)?(?:(?:can|could|would)\s+you\s+)?(?:read|show|open|display|print|cat|view|give me|let me see)\b", re.I)
# A memory answers a question when it holds enough of the question's own words (stems).
MIN_SHARED = 0.6
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
)


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


def memory_answer(request: str, result: dict[str, Any]) -> str | None:
    """The note that answers a question, quoted with its date; "I have no note" for a question about
    the person (or about something their notes know) that none answers; None for any other question
    no note answers (the chat may talk)."""
    about = extract.question_words(request)
    # A chat exchange whose reply the person never marked good holds the model's guess: never a note.
    hits = [(hit.get("excerpt") or hit.get("snippet", ""), hit.get("timestamp", "")[:10]) for hit in result.get("hits", [])
            if not hit.get("unmarked_reply")]
    slots = _slots(about, [text for text, _ in hits])
    light = set(extractive.stems(request)) - {stem for slot in slots for stem in slot}
    cue = _cue(request)
    people = _people([text for text, _ in hits])
    query = " ".join(sorted({stem for slot in slots for stem in slot}))
    best: tuple[tuple, str, str] | None = None
    for rank, (text, day) in enumerate(hits):
        for passage in extractive.best_passages(text, query, limit=2) if slots else []:
            found = set(extractive.stems(passage.text))
            missing = [slot for slot in slots if not slot & found]
            # A note may word a thing differently, but not be about someone else ("Leo's shoe size" for Emma's).
            if (len(slots) - len(missing)) / len(slots) < MIN_SHARED or any(slot & people for slot in missing):
                continue
            covered = len(slots) - len(missing)
            key = (covered, len(light & found), bool(cue and cue.search(passage.text)), -rank)
            if best is None or key > best[0]:
                best = (key, passage.text, day)
    if best is not None:
        return f"From your notes ({best[2]}): {best[1]}"
    known = any(slot & set(extractive.stems(text)) for slot in slots for text, _ in hits)
    if not (intent.is_personal_question(request) or known or WHERE_OR_WHEN.match(request)):
        return None
    if not about:
        return "I have no note about that."
    owner = "your " if re.search(rf"\b(?:my|our)\s+{re.escape(about.split()[0])}", request, re.I) else ""
    return f"I have no note about {owner}{about}. Tell me, and I will remember it."


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
