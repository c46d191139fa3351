"""bench/personal_facts.py and bench/personal_facts_2.py: each blind set's facts are well formed, every statement
lands once, filler leaks no fact; bench/fact_sets.py's hit() judges answers for both."""

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
sys.path.insert(0, str(ROOT / "bench"))  # the sets' `from fact_sets import ...`, as when bench/ scripts run


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fact_sets = _load("fact_sets")
SETS = {name: _load(name) for name in ("personal_facts", "personal_facts_2")}

# Per set, words that would put a fact's topic in a filler note, where it could state or contradict the fact.
FACT_TOPIC_WORDS = {
    "personal_facts": ["cat", "kitten", "sister", "brother", "sibling", "partner", "daughter", "son", "school", "spare key", "car",
                       "plate", "boss", "manager", "allergy", "allergic", "dentist", "book club", "gym", "locker", "bike", "passport",
                       "grew up", "hometown", "language", "lesson", "Idris", "Wren", "Marguerite", "Monday", "Tuesday", "Wednesday",
                       "Thursday", "Friday", "Saturday", "Sunday"],
    "personal_facts_2": ["dog", "puppy", "greyhound", "vet", "husband", "wife", "married", "anniversary", "nephew", "niece", "auntie",
                         "gran", "grandma", "nan", "bday", "birthday", "Priya", "door code", "code", "buzzer", "allergy", "allergic",
                         "antibiotic", "GP", "doctor", "Dr", "surgery", "choir", "rehearsal", "sing", "fireproof", "passport",
                         "documents", "van", "car", "MOT", "garage", "mechanic", "Dev", "clutch", "hometown", "grew up",
                         "Korean", "language", "tutor", "aquarium", "employer", "payslip", "blood", "allotment", "plot", "wifi",
                         "password", "router", "internet", "swim", "swimming", "dip", "cove", "tide", "thyroid", "tablets",
                         "prescription", "medication", "Lorcan", "Caspian", "Min-ji", "Monday", "Tuesday", "Wednesday",
                         "Thursday", "Friday", "Saturday", "Sunday", "tues", "thurs"],
}

each_set = pytest.mark.parametrize("name", list(SETS))


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) is not None


@each_set
def test_twenty_well_formed_facts(name):
    facts = SETS[name].FACTS
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
            assert not any(fact_sets.hit(probe, [key]) for key in fact.keys), (fact.id, probe)


@each_set
def test_every_fact_has_tags(name):
    assert set(SETS[name].FACT_TAGS) == {fact.id for fact in SETS[name].FACTS}


@each_set
def test_notes_hold_every_statement_once_and_filler_leaks_nothing(name):
    facts = SETS[name].FACTS
    collection = SETS[name].notes(150)
    assert len(collection) == 150
    texts = [note.text for note in collection]
    for fact in facts:
        for statement in fact.statements:
            assert sum(text.count(statement) for text in texts) == 1, statement
            assert [note.fact for note in collection if statement in note.text] == [fact.id]
    keys = [key for fact in facts for key in fact.keys]
    for note in collection:
        assert 0 <= note.days_ago <= 120
        assert len(note.tags) <= 2 and all(tag == tag.lower() for tag in note.tags)
        if note.fact is None:
            leaked = [word for word in keys + FACT_TOPIC_WORDS[name] if _mentions(note.text, word)]
            assert not leaked, (leaked, note.text)


@each_set
def test_filler_word_lists_leak_nothing(name):
    fact_set = SETS[name].SET
    keys = [key for fact in fact_set.facts for key in fact.keys]
    text = "\n".join(word for words in fact_set.words.values() for word in words)
    text += "\n" + "\n".join(template for templates in fact_set.templates.values() for template in templates)
    leaked = [word for word in keys + FACT_TOPIC_WORDS[name] if _mentions(text, word)]
    assert not leaked


@each_set
def test_notes_are_seeded(name):
    notes = SETS[name].notes
    assert notes(150, seed=3) == notes(150, seed=3)
    assert notes(150, seed=3) != notes(150, seed=4)


@each_set
def test_a_thousand_notes_have_few_duplicates(name):
    texts = [note.text for note in SETS[name].notes(1000)]
    assert len(texts) == 1000
    duplicates = sum(count - 1 for count in Counter(texts).values())
    assert duplicates < 20


@each_set
def test_too_few_notes_for_the_statements(name):
    with pytest.raises(ValueError, match="at least"):
        SETS[name].notes(10)


@each_set
def test_probe_rows_one_per_question(name):
    facts = SETS[name].FACTS
    rows = SETS[name].probe_rows()
    assert len(rows) == 40
    assert rows[0] == {"fact": facts[0].id, "question": facts[0].probes[0], "keys": facts[0].keys}
    assert all(set(row) == {"fact", "question", "keys"} for row in rows)


@each_set
def test_every_set_offers_the_shared_judge(name):
    assert SETS[name].hit is fact_sets.hit


def test_hit():
    hit = fact_sets.hit
    assert hit("Your cat is called Miso.", ["Miso"])
    assert hit("it's MISO", ["Miso"])
    assert not hit("Your cat is called Pixel.", ["Miso"])
    assert not hit("The code is 14471.", ["4471"])
    assert hit("The code is 4471.", ["4471"])
    assert hit("It's on September 14th.", ["September 14"])
    assert hit("Your dog is called Pimento.", ["Pimento"])
    assert hit("it's PIMENTO", ["Pimento"])
    assert not hit("Your dog is called Biscuit.", ["Pimento"])
    assert not hit("The code is 47190.", ["4719"])
    assert not hit("The code is 14719.", ["4719"])
    assert hit("The code is 4719#.", ["4719"])
    assert hit("Plot 23b.", ["23B"])
    assert hit("Gran's birthday is on March 3.", ["3 March", "March 3"])
    assert not hit("It's on March 31.", ["March 3"])
    assert not hit("", ["Pimento"])


@each_set
def test_cli_writes_json_lines(name, tmp_path):
    script = ROOT / "bench" / f"{name}.py"
    out = subprocess.run([sys.executable, str(script), "--count", "60", "--seed", "2"],
                         capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 60
    assert rows == [note.model_dump() for note in SETS[name].notes(60, seed=2)]
    target = tmp_path / "notes.jsonl"
    subprocess.run([sys.executable, str(script), "--count", "60", "--out", str(target)], check=True, capture_output=True)
    assert len(target.read_text().splitlines()) == 60
