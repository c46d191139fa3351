"""Pairs a person would ask (issue 15): the questions a note answers, in several wordings, answered
in its own words; a held-out wording per fact as the probe; questions whose notes disagree dropped;
and training that scores the answer only, under the persona's system prompt."""

import json
import os

import pytest

from runtime.datasets import pairs as pairs_module
from runtime.datasets.pairs import pairs_from_memory
from runtime.datasets.questions import facts_in
from runtime.datasets.receipts import Receipt, dataset_sha256, sign
from runtime.datasets.store import DatasetStore
from runtime.grounded import notes_block
from runtime.persona import load_persona
from runtime.runtime import CallStatus

# What a person writes, and what they would ask of it.
NOTES_AND_QUESTIONS = [
    ("My sister Oriane moved to Trondheim last spring.", "What is my sister called?", "Oriane"),
    ("My sister Oriane moved to Trondheim last spring.", "Where does my sister live?", "Trondheim"),
    ("Our cat is called Quince and she hates the vacuum.", "What is our cat called?", "Quince"),
    ("The spare key is under the blue flowerpot by the shed.", "Where is the spare key?", "flowerpot"),
    ("Bike lock code: 5082", "What is my bike lock code?", "5082"),
    ("I'm allergic to cashews, tell restaurants.", "What am I allergic to?", "cashews"),
    ("Book club is on the first Wednesday of every month.", "When is my book club?", "Wednesday"),
    ("Passports are in the grey fireproof box on the top shelf.", "Where are my passports?", "box"),
    ("I work at Brightmoor Logistics since March.", "Where do I work?", "Brightmoor"),
    ("Tom's birthday is on the 12th of August.", "When is Tom's birthday?", "August"),
    ("Oriane, my younger sister, wants everyone together.", "What is my sister called?", "Oriane"),
    ("Dentist appointment with Dr. Lindqvist moved to 8:40.", "What is my dentist called?", "Lindqvist"),
    ("Grew up in Zadar, and I still miss the sea.", "Where did I grow up?", "Zadar"),
    ("Left my towel in locker 263 again.", "What is my locker number?", "263"),
    ("Idris was born on the 14th of September.", "When is Idris's birthday?", "September"),
    ("Changed my address with the bank to 27 Larkspur Lane.", "What is my address?", "Larkspur"),
    ("Hit a 100-day streak learning Portuguese.", "What language am I learning?", "Portuguese"),
    ("First week at Brightmoor Logistics done.", "Where do I work?", "Brightmoor"),
]


@pytest.mark.parametrize("note, question, key", NOTES_AND_QUESTIONS)
def test_a_note_gives_the_question_a_person_would_ask(note, question, key):
    facts = facts_in(note)
    asked = {q: fact for fact in facts for q in fact.questions()}
    assert question in asked, [f.questions() for f in facts]
    assert key in asked[question].key and asked[question].sentence == note


def test_notes_without_a_fact_give_no_question():
    for note in ("Errands: take the recycling to the depot, buy a thank-you card.", "Lovely walk today, it rained later.",
                 "It is what it is."):
        assert facts_in(note) == []


def test_a_memory_gives_wordings_a_grounded_pair_a_probe_and_its_dated_pair(rt):
    event = rt.memory.add(type="note", content="Our cat is called Quince and she hates the vacuum.", source="t", tags=["home"])
    pairs = pairs_from_memory(event)
    facts = [p for p in pairs if p.meta.get("fact") == "name:our cat"]
    taught = [p.instruction for p in facts if not p.meta.get("probe") and not p.meta.get("grounded")]
    (grounded,) = [p for p in facts if p.meta.get("grounded")]
    (probe,) = [p for p in facts if p.meta.get("probe")]
    assert len(taught) == 3 and probe.instruction not in taught and grounded.instruction == taught[0]
    assert grounded.input == notes_block(event.content) and all(p.output == event.content for p in facts)
    assert all(p.meta["keys"] == ["Quince"] for p in facts)
    dated = [p for p in pairs if "fact" not in p.meta]
    assert [p.instruction for p in dated] == [f"What did I note about home on {event.timestamp:%-d %B %Y}?"]


def test_probes_are_kept_out_of_training_and_questions_whose_notes_disagree_are_dropped(rt):
    for text in ("Our cat is called Quince.", "We took our cat Quince to the vet.", "Gym locker: 263",
                 "Shopping list: oat milk", "Shopping list: eggs", "Lovely walk in the rain today, the river was high."):
        rt.memory.add(type="note", content=text, source="t")
    built = rt.call("dataset_build", {}).result
    assert built["skipped"]["question with different answers in different notes (not a fact)"] == 2 * 4  # two wordings, a grounded pair and a probe each
    dataset_id = clean_and_verify(rt, built["id"])
    folder = DatasetStore(rt.home).verified(dataset_id)
    rows = {name: [json.loads(line) for line in (folder / name).read_text().splitlines()] for name in ("train.jsonl", "eval.jsonl", "probe.jsonl")}
    probes = {p["instruction"]: p["meta"]["keys"] for p in rows["probe.jsonl"]}
    assert probes == {"What's our cat's name?": ["Quince"], "Remind me: what is my gym locker?": ["263"]}
    trained = {p["instruction"] for name in ("train.jsonl", "eval.jsonl") for p in rows[name]}
    assert not set(probes) & trained and not any("shopping" in q.lower() for q in trained)
    receipt = json.loads(DatasetStore(rt.home).receipt(dataset_id).read_text())
    assert receipt["counts"]["probe"] == 2 and "probe.jsonl" in receipt["files"]


def test_a_grounded_pair_reads_its_note_among_the_notes_a_search_would_put_beside_it(rt):
    """As the chat asks (grounded.reading_prompt): the fact's note and the two notes sharing most of the
    question's words, in a seeded random order; the notes beside it are cut short."""
    own = rt.memory.add(type="note", content="Our cat is called Quince and she hates the vacuum.", source="t")
    beside = ["The neighbour's cat sat on our car again.", "Bought cat food and litter. " + "Also a long list of other things. " * 10]
    for text in [*beside, "Lovely walk in the rain today, the river was high.", "Gym locker: 263"]:
        rt.memory.add(type="note", content=text, source="t")
    raw = DatasetStore(rt.home).raw
    built = [[json.loads(line) for line in raw(rt.call("dataset_build", {}).result["id"]).read_text().splitlines()] for _ in range(2)]
    (grounded,) = [p for p in built[0] if p["meta"].get("grounded") and p["meta"]["memory"] == own.id]
    notes = grounded["input"].removeprefix("From my notes:\n- ").split("\n- ")
    assert sorted(notes) == sorted([own.content, beside[0], pairs_module._cut(beside[1])]), notes
    assert pairs_module._cut(beside[1]).endswith(" …") and len(pairs_module._cut(beside[1])) <= pairs_module.BESIDE_CHARS + 2
    assert built[0] == built[1]  # the same home builds the same pairs


def clean_and_verify(rt, dataset_id: str) -> str:
    rt.call("dataset_clean", {"id": dataset_id})
    outcome = rt.call("dataset_verify", {"id": dataset_id})
    assert outcome.status is CallStatus.ok, outcome.error
    return dataset_id


def test_training_scores_the_answer_only_under_the_persona_system_prompt(rt):
    """What TRL is given: the persona's system prompt and the question as the prompt, the answer as
    the completion; its tokenized rows label the answer's tokens only."""
    from runtime.training.trainer import _examples

    system = load_persona(rt.home).system_prompt()
    (row,) = _examples([{"instruction": "What is our cat called?", "input": "", "output": "Our cat is called Quince."}], system)
    assert row["prompt"] == [{"role": "system", "content": system}, {"role": "user", "content": "What is our cat called?"}]
    assert row["completion"] == [{"role": "assistant", "content": "Our cat is called Quince."}]


def test_the_probe_file_is_part_of_what_the_receipt_signs(rt):
    """Removing the probes (so an adapter is never measured on facts) or adding a probe file to a
    dataset signed without one is refused by the firewall, like any other edit."""
    from runtime.datasets.firewall import FirewallRefused, open_for_training

    for text in ("Our cat is called Quince.", "Gym locker: 263", "Lovely walk in the rain today, the river was high."):
        rt.memory.add(type="note", content=text, source="t")
    dataset_id = clean_and_verify(rt, rt.call("dataset_build", {}).result["id"])
    folder = DatasetStore(rt.home).verified(dataset_id)
    probe = folder / "probe.jsonl"
    kept = probe.read_bytes()
    os.chmod(folder, 0o755)
    probe.unlink()
    with pytest.raises(FirewallRefused, match="a verified file is missing: probe.jsonl"):
        open_for_training(rt, dataset_id, actor="trainer")
    receipt_path = DatasetStore(rt.home).receipt(dataset_id)
    receipt = Receipt.model_validate_json(receipt_path.read_text())
    files = {k: v for k, v in receipt.files.items() if k != "probe.jsonl"}
    older = sign(receipt.model_copy(update={"files": files, "sha256": dataset_sha256(files)}), rt.signer)
    receipt_path.write_text(older.model_dump_json())  # as a dataset verified before probes existed
    assert open_for_training(rt, dataset_id, actor="trainer").receipt.files == files
    probe.write_bytes(kept)
    with pytest.raises(FirewallRefused, match="files were added to the verified dataset: probe.jsonl"):
        open_for_training(rt, dataset_id, actor="trainer")
