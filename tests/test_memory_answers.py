"""Questions about the person answered from their own notes, through the door: the router plans a
memory search, the Runtime runs it (gate, audit, real SQLite), and grounded.memory_answer quotes the
note or says there is none. Two sets: ours (memory_facts.jsonl) and a blind one written by a helper
who never saw this code (memory_facts_blind.jsonl; its first-contact score is in docs/PERFORMANCE.md)."""

import json

import pytest

from runtime import grounded
from runtime.router import Router

from .conftest import ROOT


def answers(rt, name):
    """(answered right, answerable, said no note, unanswerable, misses) for one facts set."""
    rows = [json.loads(line) for line in (ROOT / "tests" / "data" / name).read_text().splitlines() if line.strip()]
    for row in rows:
        if "fact" in row:
            rt.call("memory_capture", {"content": row["fact"]})
    router = Router(rt.skills)
    right = answerable = honest = unanswerable = 0
    misses = []
    for row in (r for r in rows if "question" in r):
        plan = router.plan(row["question"])
        if [s.skill for s in plan.steps] != ["memory_search"]:
            reply = f"(planned {[s.skill for s in plan.steps]})"
        else:
            reply = grounded.memory_answer(row["question"], rt.call("memory_search", plan.steps[0].args).result) or "(chat)"
        if row["answer"] is None:
            unanswerable += 1
            good = reply.startswith("I have no note")
            honest += good
        else:
            answerable += 1
            good = row["answer"].lower() in reply.lower()
            right += good
        if not good:
            misses.append(f"{row['question']!r} -> {reply[:120]!r}")
    return right, answerable, honest, unanswerable, misses


def test_personal_questions_are_answered_from_the_notes_nine_in_ten(rt):
    right, answerable, honest, unanswerable, misses = answers(rt, "memory_facts.jsonl")
    assert right >= 0.9 * answerable, "\n".join(misses)
    assert honest >= 0.9 * unanswerable, "\n".join(misses)


def test_the_blind_set_holds_its_measured_score(rt):
    """A floor at the score measured after the fixes (first contact: 8/45 and 2/10), so a change that
    loses ground on requests nobody tuned for shows up here."""
    right, _, honest, _, misses = answers(rt, "memory_facts_blind.jsonl")
    assert right >= 30 and honest >= 8, "\n".join(misses)


@pytest.mark.parametrize(("question", "reply"), [
    ("does my sister eat meat?", "From your notes"),  # "my sister Lea" in one note, "Lea is vegetarian" in another
    ("what are lea's kids called?", "Jonas and Mia"),  # a synonym: the note says children
    ("what shoe size is mia?", "I have no note"),  # Lea's size is noted, not Mia's: not someone else's note
    ("whats my brothers phone number", "I have no note"),  # typed without apostrophes; no note names a brother
])
def test_a_note_answers_in_other_words_but_never_about_someone_else(rt, question, reply):
    for fact in ["My sister Lea's birthday is on May 3.", "Lea is vegetarian, so no meat when she comes over.",
                 "Lea's children are called Jonas and Mia.", "Lea wears shoe size 39.", "Anna's phone number is 0176 5521 9034."]:
        rt.call("memory_capture", {"content": fact})
    (step,) = Router(rt.skills).plan(question).steps
    answer = grounded.memory_answer(question, rt.call("memory_search", step.args).result)
    assert answer is not None and reply in answer, answer


def test_a_general_question_no_note_answers_is_left_to_the_chat(rt):
    rt.call("memory_capture", {"content": "Book club meets on the first Thursday of the month."})
    (step,) = Router(rt.skills).plan("what is the capital of australia?").steps
    assert grounded.memory_answer("what is the capital of australia?", rt.call("memory_search", step.args).result) is None
