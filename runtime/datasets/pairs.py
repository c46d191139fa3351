"""Instruction pairs and how each kind of memory becomes them."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..jsonio import canonical
from ..memory import CONVERSATION, MemoryEvent, is_unmarked_reply
from ..persona import Persona
from ..secrets import redact_secrets

LOW_CONFIDENCE = 0.5


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    instruction: str
    input: str = ""
    output: str
    meta: dict[str, Any]


def pair_sha256(pair: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: pair[k] for k in ("instruction", "input", "output")}).encode()).hexdigest()


def _topic(event: MemoryEvent) -> str:
    if event.tags:
        return event.tags[0]
    # From the redacted text: the first words may hold a secret whose tell-tale ("password:") the
    # word split would remove, leaving the cleaner nothing to recognise.
    safe = redact_secrets(event.content, high_entropy=True, label=lambda kind: " ")[0]
    words = re.findall(r"[\w'-]+", safe)[:6]
    return " ".join(words) + ("…" if len(words) == 6 else "")


QUESTION = {
    "note": "What have I noted about {topic}?",
    "observation": "What did I observe about {topic}?",
    "reflection": "Share my reflection on {topic}.",
}


def pairs_from_memory(event: MemoryEvent) -> list[Pair]:
    """The pairs one memory teaches: a conversation its exchange, once the person marked the reply
    good (until then the reply is the model's own guess, and training on it would teach the model its
    inventions); a note, observation or reflection (typed or ingested) the person's own words as the
    answer to a question about its topic."""
    meta = {"memory": event.id, "type": event.type, "timestamp": event.timestamp.isoformat()}
    content = event.content.strip()
    if event.type == CONVERSATION:
        if is_unmarked_reply(event) or not event.response or not content:
            return []
        return [Pair(instruction=content, output=event.response.strip(), meta={**meta, "confidence": 0.9, "marked_good": True})]
    template = QUESTION.get(event.type, QUESTION["note"])
    confidence = 0.7 if len(content) >= 40 else 0.4
    return [Pair(instruction=template.format(topic=_topic(event)), output=content, meta={**meta, "confidence": confidence})]


def identity_pairs(persona: Persona) -> list[Pair]:
    """Who the assistant is, in its own persona's words (the name comes from persona/core.json)."""
    meta = {"type": "identity", "confidence": 1.0}
    values = ", ".join(persona.values)
    return [
        Pair(instruction="Who are you?", output=f"I am {persona.name}, {persona.identity}.", meta=meta),
        Pair(instruction="What is your name?", output=f"My name is {persona.name}.", meta=meta),
        Pair(instruction="What do you value?", output=f"I value {values}.", meta=meta),
        Pair(instruction="How do you like to talk?", output=f"My style is {persona.style}.", meta=meta),
    ]
