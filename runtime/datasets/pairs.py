"""Instruction pairs and how each kind of memory becomes them."""

from __future__ import annotations

import hashlib
import heapq
import random
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..extractive import stems
from ..grounded import READ_NOTES, notes_block
from ..jsonio import canonical
from ..memory import CONVERSATION, MemoryEvent, is_unmarked_reply
from ..persona import Persona
from .questions import facts_in

LOW_CONFIDENCE = 0.5


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    instruction: str
    input: str = ""
    output: str
    meta: dict[str, Any]


def pair_sha256(pair: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: pair[k] for k in ("instruction", "input", "output")}).encode()).hexdigest()


def key_words(key: str) -> list[str]:
    """The words an answer must hold one of to state a fact: its names, numbers and last word."""
    words = re.findall(r"[\w'-]+", key)
    chosen = [w for w in words if w[0].isupper() or any(c.isdigit() for c in w)]
    return list(dict.fromkeys(chosen + [words[-1]])) if words else []


def pairs_from_memory(event: MemoryEvent) -> list[Pair]:
    """The pairs one memory teaches. A conversation: its exchange, once the person marked the reply
    good (until then the reply is the model's own guess, and training on it would teach the model its
    inventions). A note, observation or reflection (typed or ingested): the questions a person would
    ask about each fact it states, in several wordings, answered by its own sentence (the last
    wording is a probe: verify keeps it out of training); the first wording again with the note in
    the prompt (a grounded pair); and the whole note as the answer to "what did I note that day?"."""
    meta = {"memory": event.id, "type": event.type, "timestamp": event.timestamp.isoformat()}
    content = event.content.strip()
    if event.type == CONVERSATION:
        if is_unmarked_reply(event) or not event.response or not content:
            return []
        return [Pair(instruction=content, output=event.response.strip(), meta={**meta, "confidence": 0.9, "marked_good": True})]
    if not content:
        return []
    pairs: list[Pair] = []
    for fact in facts_in(content):
        *taught, probe = fact.questions()
        about = {**meta, "confidence": 0.8, "fact": fact.id, "keys": key_words(fact.key)}
        pairs += [Pair(instruction=q, output=fact.sentence, meta=about) for q in taught]
        pairs.append(Pair(instruction=taught[0], input=notes_block(content), output=fact.sentence, meta={**about, "grounded": True}))
        pairs.append(Pair(instruction=probe, input=notes_block(content), output=fact.sentence, meta={**about, "probe": True}))
    day = event.timestamp.strftime("%-d %B %Y")
    topic = f" about {event.tags[0]}" if event.tags else ""
    asked = DATED.get(event.type, DATED["note"]).format(topic=topic, day=day)
    pairs.append(Pair(instruction=asked, output=content, meta={**meta, "dated": True, "confidence": 0.7 if len(content) >= 40 else 0.4}))
    return pairs


# A note read beside the fact's note is cut here (a word boundary): three whole notes would crowd the
# answer out of a 256-token training example.
BESIDE_CHARS = 200


def among_other_notes(pairs: list[Pair], notes: dict[str, str], rng: random.Random) -> list[Pair]:
    """Grounded pairs (and probes) as the chat asks them: the fact's note among the grounded.READ_NOTES - 1
    other notes that share most words with the question (what a search puts beside it), in a random
    order, so the model learns to find the answer among notes, not to copy the only one."""
    words = {memory: set(stems(text)) for memory, text in notes.items()}
    placed = []
    for pair in pairs:
        own = pair.meta.get("memory")
        if not (pair.meta.get("grounded") or pair.meta.get("probe")) or own not in notes:
            placed.append(pair)
            continue
        asked = set(stems(pair.instruction))
        others = heapq.nsmallest(READ_NOTES - 1, (m for m in notes if m != own), key=lambda m: (-len(asked & words[m]), m))
        block = [notes[own]] + [_cut(notes[m]) for m in others]
        rng.shuffle(block)
        placed.append(pair.model_copy(update={"input": notes_block(*block)}))
    return placed


def _cut(text: str) -> str:
    text = text.strip()
    return text if len(text) <= BESIDE_CHARS else text[:BESIDE_CHARS].rsplit(" ", 1)[0] + " …"


DATED = {
    "note": "What did I note{topic} on {day}?",
    "observation": "What did I observe{topic} on {day}?",
    "reflection": "What was my reflection{topic} on {day}?",
}


def identity_pairs(persona: Persona) -> list[Pair]:
    """Who the assistant is, in its own persona's words (the name comes from persona/core.json)."""
    meta = {"type": "identity", "confidence": 1.0}
    values = ", ".join(persona.values)
    return [
        Pair(instruction="Who are you?", output=f"I am {persona.name}, {persona.identity}.", meta=meta),
        Pair(instruction="What is your name?", output=f"My name is {persona.name}.", meta=meta),
        Pair(instruction="What should I call you?", output=f"Call me {persona.name}.", meta=meta),
        Pair(instruction="Tell me about yourself.", output=f"I am {persona.name}, {persona.identity}. I value {values}.", meta=meta),
        Pair(instruction="What do you value?", output=f"I value {values}.", meta=meta),
        Pair(instruction="How do you like to talk?", output=f"My style is {persona.style}.", meta=meta),
    ]
