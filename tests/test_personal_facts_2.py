"""bench/personal_facts_2.py: the second blind set's facts are well formed, land once each, and filler leaks none."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))  # its `from personal_facts import ...`, as when bench/ scripts run
_spec = importlib.util.spec_from_file_location("personal_facts_2", ROOT / "bench" / "personal_facts_2.py")
personal_facts_2 = importlib.util.module_from_spec(_spec)
sys.modules["personal_facts_2"] = personal_facts_2
_spec.loader.exec_module(personal_facts_2)

# Words that would put a fact's topic in a filler note, where it could state or contradict the fact.
FACT_TOPIC_WORDS = ["dog", "puppy", "greyhound", "vet", "husband", "wife", "married", "anniversary", "nephew", "niece", "auntie",
                    "gran", "grandma", "nan", "bday", "birthday", "Priya", "door code", "code", "buzzer", "allergy", "allergic",
                    "antibiotic", "GP", "doctor", "Dr", "surgery", "choir", "rehearsal", "sing", "fireproof", "passport",
                    "documents", "van", "car", "MOT", "garage", "mechanic", "Dev", "clutch", "hometown", "grew up",
                    "Korean", "language", "tutor", "aquarium", "employer", "payslip", "blood", "allotment", "plot", "wifi",
                    "password", "router", "internet", "swim", "swimming", "dip", "cove", "tide", "thyroid", "tablets",
                    "prescription", "medication", "Lorcan", "Caspian", "Min-ji", "Monday", "Tuesday", "Wednesday",
                    "Thursday", "Friday", "Saturday", "Sunday", "tues", "thurs"]


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) is not None


def test_twenty_well_formed_facts():
    facts = personal_facts_2.FACTS
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
            assert not any(personal_facts_2.hit(probe, [key]) for key in fact.keys), (fact.id, probe)


def test_every_fact_has_tags():
    assert set(personal_facts_2.FACT_TAGS) == {fact.id for fact in personal_facts_2.FACTS}


def test_notes_hold_every_statement_once_and_filler_leaks_nothing():
    collection = personal_facts_2.notes(150)
    assert len(collection) == 150
    texts = [note.text for note in collection]
    for fact in personal_facts_2.FACTS:
        for statement in fact.statements:
            assert sum(text.count(statement) for text in texts) == 1, statement
            assert [note.fact for note in collection if statement in note.text] == [fact.id]
    keys = [key for fact in personal_facts_2.FACTS for key in fact.keys]
    for note in collection:
        assert 0 <= note.days_ago <= 120
        assert len(note.tags) <= 2 and all(tag == tag.lower() for tag in note.tags)
        if note.fact is None:
            leaked = [word for word in keys + FACT_TOPIC_WORDS if _mentions(note.text, word)]
            assert not leaked, (leaked, note.text)


def test_filler_word_lists_leak_nothing():
    keys = [key for fact in personal_facts_2.FACTS for key in fact.keys]
    text = "\n".join(word for words in personal_facts_2.POOLS.values() for word in words)
    text += "\n" + "\n".join(template for templates in personal_facts_2.TEMPLATES.values() for template in templates)
    leaked = [word for word in keys + FACT_TOPIC_WORDS if _mentions(text, word)]
    assert not leaked


def test_notes_are_seeded():
    assert personal_facts_2.notes(150, seed=3) == personal_facts_2.notes(150, seed=3)
    assert personal_facts_2.notes(150, seed=3) != personal_facts_2.notes(150, seed=4)


def test_a_thousand_notes_have_few_duplicates():
    texts = [note.text for note in personal_facts_2.notes(1000)]
    assert len(texts) == 1000
    duplicates = sum(count - 1 for count in Counter(texts).values())
    assert duplicates < 20


def test_too_few_notes_for_the_statements():
    with pytest.raises(ValueError, match="at least"):
        personal_facts_2.notes(10)


def test_probe_rows_one_per_question():
    rows = personal_facts_2.probe_rows()
    assert len(rows) == 40
    assert rows[0] == {"fact": personal_facts_2.FACTS[0].id, "question": personal_facts_2.FACTS[0].probes[0],
                       "keys": personal_facts_2.FACTS[0].keys}
    assert all(set(row) == {"fact", "question", "keys"} for row in rows)


def test_hit():
    assert personal_facts_2.hit("Your dog is called Pimento.", ["Pimento"])
    assert personal_facts_2.hit("it's PIMENTO", ["Pimento"])
    assert not personal_facts_2.hit("Your dog is called Biscuit.", ["Pimento"])
    assert not personal_facts_2.hit("The code is 47190.", ["4719"])
    assert not personal_facts_2.hit("The code is 14719.", ["4719"])
    assert personal_facts_2.hit("The code is 4719#.", ["4719"])
    assert personal_facts_2.hit("Plot 23b.", ["23B"])
    assert personal_facts_2.hit("Gran's birthday is on March 3.", ["3 March", "March 3"])
    assert not personal_facts_2.hit("It's on March 31.", ["March 3"])
    assert not personal_facts_2.hit("", ["Pimento"])


def test_cli_writes_json_lines(tmp_path):
    script = ROOT / "bench" / "personal_facts_2.py"
    out = subprocess.run([sys.executable, str(script), "--count", "60", "--seed", "2"],
                         capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 60
    assert rows == [note.model_dump() for note in personal_facts_2.notes(60, seed=2)]
    target = tmp_path / "notes.jsonl"
    subprocess.run([sys.executable, str(script), "--count", "60", "--out", str(target)], check=True, capture_output=True)
    assert len(target.read_text().splitlines()) == 60
