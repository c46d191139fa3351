"""bench/personal_facts.py: the planted facts are well formed, every statement lands once, filler never leaks a fact."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("personal_facts", ROOT / "bench" / "personal_facts.py")
personal_facts = importlib.util.module_from_spec(_spec)
sys.modules["personal_facts"] = personal_facts
_spec.loader.exec_module(personal_facts)

# Words that would put a fact's topic in a filler note, where it could state or contradict the fact.
FACT_TOPIC_WORDS = ["cat", "kitten", "sister", "brother", "sibling", "partner", "daughter", "son", "school", "spare key", "car",
                    "plate", "boss", "manager", "allergy", "allergic", "dentist", "book club", "gym", "locker", "bike", "passport",
                    "grew up", "hometown", "language", "lesson", "Idris", "Wren", "Marguerite", "Monday", "Tuesday", "Wednesday",
                    "Thursday", "Friday", "Saturday", "Sunday"]


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) is not None


def test_twenty_well_formed_facts():
    facts = personal_facts.FACTS
    assert len(facts) == 20
    assert len({fact.id for fact in facts}) == 20
    for fact in facts:
        assert 2 <= len(fact.statements) <= 4, fact.id
        assert len(fact.probes) == 2, fact.id
        assert fact.keys, fact.id
        for key in fact.keys:
            assert any(key.casefold() in statement.casefold() for statement in fact.statements), (fact.id, key)
        for probe in fact.probes:
            assert not any(statement.casefold() in probe.casefold() for statement in fact.statements), (fact.id, probe)


def test_notes_hold_every_statement_once_and_filler_leaks_nothing():
    collection = personal_facts.notes(150)
    assert len(collection) == 150
    texts = [note.text for note in collection]
    for fact in personal_facts.FACTS:
        for statement in fact.statements:
            assert sum(text.count(statement) for text in texts) == 1, statement
            assert [note.fact for note in collection if statement in note.text] == [fact.id]
    keys = [key for fact in personal_facts.FACTS for key in fact.keys]
    for note in collection:
        assert 0 <= note.days_ago <= 120
        assert len(note.tags) <= 2 and all(tag == tag.lower() for tag in note.tags)
        if note.fact is None:
            leaked = [word for word in keys + FACT_TOPIC_WORDS if _mentions(note.text, word)]
            assert not leaked, (leaked, note.text)


def test_notes_are_seeded():
    assert personal_facts.notes(150, seed=3) == personal_facts.notes(150, seed=3)
    assert personal_facts.notes(150, seed=3) != personal_facts.notes(150, seed=4)


def test_a_thousand_notes_have_few_duplicates():
    texts = [note.text for note in personal_facts.notes(1000)]
    assert len(texts) == 1000
    duplicates = sum(count - 1 for count in Counter(texts).values())
    assert duplicates < 20


def test_too_few_notes_for_the_statements():
    with pytest.raises(ValueError, match="at least"):
        personal_facts.notes(10)


def test_probe_rows_one_per_question():
    rows = personal_facts.probe_rows()
    assert len(rows) == 40
    assert rows[0] == {"fact": personal_facts.FACTS[0].id, "question": personal_facts.FACTS[0].probes[0],
                       "keys": personal_facts.FACTS[0].keys}


def test_hit():
    assert personal_facts.hit("Your cat is called Miso.", ["Miso"])
    assert personal_facts.hit("it's MISO", ["Miso"])
    assert not personal_facts.hit("Your cat is called Pixel.", ["Miso"])
    assert not personal_facts.hit("The code is 14471.", ["4471"])
    assert personal_facts.hit("The code is 4471.", ["4471"])
    assert personal_facts.hit("It's on September 14th.", ["September 14"])
