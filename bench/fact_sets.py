"""The machinery the blind personal-fact sets share (bench/personal_facts.py, bench/personal_facts_2.py).

A set module holds its data (FACTS, each fact's tags, filler word lists and templates) and wires it here
through a FactSet: notes() hides every fact statement once among seeded filler notes, probe_rows() are its
questions, hit() scores an answer against a fact's keys. The two sets were written blind and differ in a few
mechanics (capitals, how sentences are joined, how long a filler note is ...); those are FactSet fields, and
every random draw happens in the order each set made it, so a seed gives the notes it always gave: published
benchmark numbers depend on them.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Fact(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    statements: list[str]
    probes: list[str]
    keys: list[str]


class Note(BaseModel):
    text: str
    tags: list[str]
    days_ago: float
    fact: str | None


def hit(answer: str, keys: list[str]) -> bool:
    """True when the answer holds any key, case-insensitive; a key with digits must not touch other digits."""
    text = answer.casefold()
    for key in keys:
        key = key.casefold()
        if any(char.isdigit() for char in key):
            if re.search(rf"(?<!\d){re.escape(key)}(?!\d)", text):
                return True
        elif key in text:
            return True
    return False


_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class FactSet:
    """One blind set's data and the way its notes app strings filler sentences together."""

    facts: list[Fact]
    fact_tags: dict[str, list[str]]  # a fact note's tags; "work" facts get work filler around them
    words: dict[str, list[str]]  # a template slot's name -> the words that may fill it
    templates: dict[str, list[str]]  # filler kind -> its sentence templates
    filler_kinds: list[str]  # the templates' kinds in the order a filler note's kind is drawn from
    around_fact: str  # the filler kind beside a fact that is not about work
    filler_lengths: list[int]  # a filler note's sentence count is drawn from these
    tagged_share: float  # the chance a filler note carries its kind as a tag
    capitalise: bool  # whether a filled template starts with a capital
    joiners: tuple[str, ...]  # what a note's sentences are joined with, drawn per note when there are several

    def _sentence(self, template: str, rng: random.Random, used: set[str]) -> str:
        """The template with each slot filled by a word from its list not yet used in the note ("eggs, eggs")."""

        def fill(slot: re.Match) -> str:
            word = rng.choice([word for word in self.words[slot.group(1)] if word not in used])
            used.add(word)
            return word

        text = _SLOT.sub(fill, template)
        return text[0].upper() + text[1:] if self.capitalise else text

    def _sentences(self, kind: str, count: int, rng: random.Random) -> list[str]:
        templates = self.templates[kind]
        used: set[str] = set()
        return [self._sentence(template, rng, used) for template in rng.sample(templates, min(count, len(templates)))]

    def _join(self, sentences: list[str], rng: random.Random) -> str:
        # A single joiner is not drawn: a draw would move every later one and change the set's notes.
        joiner = rng.choice(self.joiners) if len(self.joiners) > 1 else self.joiners[0]
        return joiner.join(sentences)

    def _filler_note(self, rng: random.Random) -> Note:
        kind = rng.choice(self.filler_kinds)
        text = self._join(self._sentences(kind, rng.choice(self.filler_lengths), rng), rng)
        tags = [kind] if rng.random() < self.tagged_share else []
        return Note(text=text, tags=tags, days_ago=round(rng.uniform(0, 120), 2), fact=None)

    def _fact_note(self, fact: Fact, statement: str, rng: random.Random) -> Note:
        tags = self.fact_tags[fact.id]
        around = self._sentences("work" if "work" in tags else self.around_fact, rng.choice([0, 1, 1, 2]), rng)
        around.insert(rng.randint(0, len(around)), statement)
        return Note(text=self._join(around, rng), tags=rng.sample(tags, rng.randint(0, len(tags))),
                    days_ago=round(rng.uniform(0, 120), 2), fact=fact.id)

    def notes(self, count: int = 150, seed: int = 0) -> list[Note]:
        """count notes: every fact statement once, the rest filler; shuffled, the same for the same seed."""
        rng = random.Random(seed)
        fact_notes = [self._fact_note(fact, statement, rng) for fact in self.facts for statement in fact.statements]
        if count < len(fact_notes):
            raise ValueError(f"count must be at least {len(fact_notes)}, one note per fact statement")
        collection = fact_notes + [self._filler_note(rng) for _ in range(count - len(fact_notes))]
        rng.shuffle(collection)
        return collection

    def probe_rows(self) -> list[dict]:
        return [{"fact": fact.id, "question": probe, "keys": fact.keys} for fact in self.facts for probe in fact.probes]

    def main(self, doc: str) -> None:
        """A set module's command line: its notes as JSON lines, to --out or to stdout."""
        parser = argparse.ArgumentParser(description=doc.splitlines()[0])
        parser.add_argument("--count", type=int, default=150)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", type=Path, default=None, help="JSON lines file; stdout when left out")
        args = parser.parse_args()
        lines = "".join(note.model_dump_json() + "\n" for note in self.notes(args.count, args.seed))
        if args.out is None:
            try:
                sys.stdout.write(lines)
                sys.stdout.flush()
            except BrokenPipeError:
                sys.stdout = None  # type: ignore[assignment]  # reader (e.g. head) went away; nothing more to say
        else:
            args.out.write_text(lines)
            print(f"wrote {args.count} notes to {args.out}")
