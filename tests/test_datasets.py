"""Datasets end to end: build -> clean -> verify -> receipt, and the trainer firewall's refusals."""

import json
import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from nacl.signing import SigningKey

from runtime import CallStatus
from runtime.config import DatasetConfig, DatasetGates
from runtime.datasets.build import build_dataset
from runtime.datasets.clean import clean_pairs, normalise
from runtime.datasets.firewall import FirewallRefused, open_for_training
from runtime.datasets.receipts import Receipt, sign
from runtime.datasets.store import DatasetStore
from runtime.datasets.verify import VerifyFailed, split
from runtime.keys import Signer

from .conftest import ROOT, run_mh

SECRETS = [json.loads(line) for line in (ROOT / "tests" / "data" / "planted_secrets.jsonl").read_text().splitlines()]


def fill(rt, count=24, **extra):
    for i in range(count):
        rt.memory.add(type=["note", "reflection", "observation"][i % 3],
                      content=f"Day {i}: I repotted {i} seedlings of basil and wrote about patience number {i * 7}.",
                      source="test", **extra)


def pipeline(rt):
    built = rt.call("dataset_build", {})
    assert built.status is CallStatus.ok, built
    dataset_id = built.result["id"]
    assert rt.call("dataset_clean", {"id": dataset_id}).status is CallStatus.ok
    verified = rt.call("dataset_verify", {"id": dataset_id})
    assert verified.status is CallStatus.ok, verified
    return dataset_id


def test_build_clean_verify_gives_a_signed_frozen_dataset_that_training_may_open(rt):
    fill(rt)
    rt.memory.add(type="conversation", content="what should I plant next?", response="Try coriander.", source="chat",
                  metadata={"marked_good": True})  # a reply the person vouched for (see test_memory_marks.py)
    dataset_id = pipeline(rt)
    store = DatasetStore(rt.home)
    folder = store.verified(dataset_id)
    assert sorted(p.name for p in folder.iterdir()) == ["eval.jsonl", "manifest.json", "probe.jsonl", "train.jsonl"]
    assert oct(folder.stat().st_mode & 0o777) == "0o555" and oct((folder / "train.jsonl").stat().st_mode & 0o777) == "0o444"
    receipt = Receipt.model_validate_json(store.receipt(dataset_id).read_text())
    assert receipt.counts["train"] + receipt.counts["eval"] == receipt.counts["pairs"] and receipt.counts["eval"] >= 2
    assert receipt.key_id == rt.signer.key_id and receipt.tool.startswith("mh ")
    opened = open_for_training(rt, dataset_id, actor="trainer")
    lines = [json.loads(line) for line in opened.train.read_text().splitlines()]
    assert {"instruction", "input", "output", "meta"} == set(lines[0])
    assert any(p["output"] == "Try coriander." and p["instruction"] == "what should I plant next?" for p in lines + [
        json.loads(line) for line in opened.eval.read_text().splitlines()])
    stages = [e.event for e in rt.audit.entries() if e.category == "dataset"]
    assert stages == ["built", "cleaned", "verified", "opened_for_training"]


def test_identity_pairs_use_the_persona_name(rt):
    (rt.home.root / "persona" / "core.json").write_text(json.dumps({"name": "Juniper"}))
    fill(rt, 3)
    report = build_dataset(rt, DatasetConfig())
    rows = [json.loads(line) for line in DatasetStore(rt.home).raw(report.dataset_id).read_text().splitlines()]
    assert {"instruction": "What is your name?", "input": "", "output": "My name is Juniper.",
            "meta": {"type": "identity", "confidence": 1.0}} in rows
    assert not any("Mira" in r["output"] for r in rows)


def test_memories_without_consent_or_content_are_never_used(rt):
    fill(rt, 5)
    rt.memory.add(type="note", content="PRIVATE diary entry about my health", source="t", metadata={"training_consent": False})
    rt.memory.add(type="conversation", content="a question with no answer", source="chat")
    broken = rt.memory.add(type="note", content="will be broken", source="t")
    rt.memory.files.find(broken.id).write_text("{not json")
    report = build_dataset(rt, DatasetConfig())
    text = DatasetStore(rt.home).raw(report.dataset_id).read_text()
    assert "PRIVATE" not in text and "no answer" not in text
    assert report.skipped == {"no training consent": 1, "unreadable memory file": 1,
                              "nothing to learn (empty, or a conversation without a response)": 1}


def test_time_weighting_prefers_recent_memories(rt):
    now = datetime.now(UTC)
    for i in range(200):
        old = i % 2 == 0
        rt.memory.add(type="note", content=f"{'ancient' if old else 'fresh'} memory number {i} with enough words",
                      source="t", timestamp=now - timedelta(days=720 if old else 1))
    report = build_dataset(rt, DatasetConfig(half_life_days=30, max_pairs=50, seed=3))
    text = DatasetStore(rt.home).raw(report.dataset_id).read_text()
    assert text.count("fresh memory") > 45 and report.skipped["not drawn by the time-weighted sample"] == 150
    assert build_dataset(rt, DatasetConfig(), days=30).memories == 100


def test_a_large_home_keeps_every_fact_and_only_the_newest_weighted_dated_pairs(rt):
    """"What did I note on DAY?" teaches style, one per note: capped a night (max_dated_pairs), so a
    home of thousands of notes does not make a nightly of hours; the fact pairs are all kept."""
    now = datetime.now(UTC)
    rt.memory.add(type="note", content="Our cat is called Quince.", source="t", timestamp=now - timedelta(days=400))
    for i in range(30):
        rt.memory.add(type="note", content=f"Walked by the river, day {i}, and it rained.", source="t", timestamp=now - timedelta(days=i * 20))
    report = build_dataset(rt, DatasetConfig(max_dated_pairs=10))
    rows = [json.loads(line) for line in DatasetStore(rt.home).raw(report.dataset_id).read_text().splitlines()]
    dated = [row for row in rows if row["meta"].get("dated")]
    assert len(dated) == 10 and report.skipped["dated pair beyond dataset.max_dated_pairs"] == 21
    assert sum(row["output"] == "Our cat is called Quince." for row in rows) == 5  # 3 wordings, grounded, probe: old, still kept
    ages = sorted((now - datetime.fromisoformat(row["meta"]["timestamp"])).days for row in dated)
    assert sum(ages) / len(ages) < 290 / 2, ages  # the newest weigh most: all 30 notes average 290 days


@pytest.mark.parametrize("case", SECRETS, ids=[c["kind"] for c in SECRETS])
def test_every_planted_secret_kind_is_caught(case):
    rows = [{"instruction": "what is it?", "input": "", "output": case["text"], "meta": {}}]
    kept, report = clean_pairs(rows, DatasetConfig())
    assert report.secrets.get(case["kind"]) == 1, report.secrets
    assert f"[REDACTED:{case['kind']}]" in kept[0]["output"]
    dropped, report = clean_pairs(rows, DatasetConfig(secrets="drop"))
    assert dropped == [] and report.dropped["secret"] == 1


def test_a_secret_in_the_first_words_does_not_leak_into_the_question(rt):
    rt.memory.add(type="note", content="my password: hunter2 and the rest of the note", source="t")
    rt.memory.add(type="note", content="Router password: hunter3", source="t")  # a label question's answer and key words
    report = build_dataset(rt, DatasetConfig())
    rows = [json.loads(line) for line in DatasetStore(rt.home).raw(report.dataset_id).read_text().splitlines()]
    kept, _ = clean_pairs(rows, DatasetConfig())
    (pair,) = [p for p in kept if "rest of the note" in p["output"]]
    assert "[REDACTED:password]" in pair["output"]
    asked = [p for p in kept if p["instruction"] == "What is my router password?"]
    assert asked and all("[REDACTED:password]" in p["output"] and p["meta"]["keys"] == [] for p in asked)
    assert "hunter2" not in json.dumps(kept) and "hunter3" not in json.dumps(kept)


def test_clean_normalises_and_drops_with_counts():
    rows = [
        {"instruction": "Hello\u00a0\u00a0world \r\n\r\n\r\n\r\n next", "input": "", "output": "ok\x07", "meta": {}},
        {"instruction": "  ", "input": "", "output": "x", "meta": {}},
        {"instruction": "long", "input": "", "output": "x" * 5000, "meta": {}},
        {"instruction": "Same", "input": "", "output": "same answer", "meta": {}},
        {"instruction": "same", "input": "", "output": "SAME answer", "meta": {}},
        {"instruction": "near", "input": "", "output": "the quick brown fox jumps over the lazy dog near the river bank today", "meta": {}},
        {"instruction": "near", "input": "", "output": "the quick brown fox jumps over the lazy dog near the river bank today!", "meta": {}},
        "not an object",
        {"instruction": 5, "output": "x"},
        {"instruction": "mail me", "input": "", "output": "ann@example.org or +44 20 7946 0958", "meta": {}},
        {"instruction": "bad \ud800 surrogate", "input": "", "output": "café", "meta": {}},
    ]
    kept, report = clean_pairs(rows, DatasetConfig(pii=True))
    assert kept[0]["instruction"] == "Hello world\n\nnext" and kept[0]["output"] == "ok"
    assert report.dropped == {"empty": 1, "too long": 1, "duplicate": 1, "near duplicate": 1, "malformed": 2}
    assert report.pii == {"email": 1, "phone": 1}
    assert any(p["output"] == "[EMAIL] or [PHONE]" for p in kept)
    assert normalise("bad \ud800 x") == "bad ? x"


def test_verify_refuses_too_small_or_low_confidence(rt):
    fill(rt, 3)
    dataset_id = rt.call("dataset_build", {}).result["id"]
    rt.call("dataset_clean", {"id": dataset_id})
    outcome = rt.call("dataset_verify", {"id": dataset_id})
    assert outcome.status is CallStatus.failed and "fewer than min_pairs" in outcome.error
    assert not DatasetStore(rt.home).verified(dataset_id).exists()
    rt.home.config_file("auto-approval.json").write_text(json.dumps({"dataset": {"min_pairs": 1, "max_low_confidence_share": 0.0}}))
    for i in range(3):
        rt.memory.add(type="note", content=f"tiny {i}", source="t")
    dataset_id = rt.call("dataset_build", {}).result["id"]
    rt.call("dataset_clean", {"id": dataset_id})
    assert "low-confidence" in rt.call("dataset_verify", {"id": dataset_id}).error


def test_split_is_stable_and_respects_the_minimum():
    pairs = [{"instruction": f"q{i}", "input": "", "output": f"a{i}", "meta": {}} for i in range(50)]
    train, held = split(pairs, DatasetGates(eval_share=0.1, min_eval_pairs=2))
    assert len(held) == 5 and len(train) == 45 and split(list(reversed(pairs)), DatasetGates())[1] == list(reversed(held))


@pytest.fixture
def verified(rt):
    fill(rt)
    return pipeline(rt)


def refusal(rt, dataset_id, words):
    with pytest.raises(FirewallRefused, match=words):
        open_for_training(rt, dataset_id, actor="trainer")
    last = rt.audit.tail(1)[0]
    assert (last.category, last.event, last.level) == ("dataset", "refused", "security")


def test_firewall_refuses_a_dataset_that_is_not_verified(rt):
    fill(rt)
    dataset_id = rt.call("dataset_build", {}).result["id"]
    refusal(rt, dataset_id, "not verified: it is at stage raw")
    refusal(rt, "ds-20990101T000000-0000", "no such dataset")
    refusal(rt, "../../etc", "not a dataset id")


def test_firewall_refuses_a_file_edited_by_one_byte(rt, verified):
    train = DatasetStore(rt.home).verified(verified) / "train.jsonl"
    os.chmod(train, 0o644)
    data = bytearray(train.read_bytes())
    data[10] ^= 1
    train.write_bytes(bytes(data))
    refusal(rt, verified, "train.jsonl no longer matches its receipt")
    assert run_mh(rt.home.root, "dataset", "receipt", "verify", verified).returncode == 1


def test_firewall_refuses_an_edited_or_foreign_receipt(rt, verified):
    path = DatasetStore(rt.home).receipt(verified)
    original = path.read_text()
    receipt = Receipt.model_validate_json(original)
    path.write_text(receipt.model_copy(update={"counts": {**receipt.counts, "train": 999}}).model_dump_json())
    refusal(rt, verified, "edited after signing")
    path.write_text(sign(receipt, Signer(SigningKey.generate())).model_dump_json())
    refusal(rt, verified, "signed by key")
    path.write_text(receipt.model_copy(update={"signature": ""}).model_dump_json())
    refusal(rt, verified, "not signed")
    path.unlink()
    refusal(rt, verified, "no receipt")


def test_firewall_refuses_a_dataset_moved_back_to_raw(rt, verified):
    store = DatasetStore(rt.home)
    folder = store.verified(verified)
    os.chmod(folder, 0o755)
    shutil.move(folder / "train.jsonl", store.raw(verified))
    shutil.rmtree(folder)
    refusal(rt, verified, "not verified: it is at stage clean")  # the furthest stage still on disk


def test_firewall_refuses_extra_files(rt, verified):
    folder = DatasetStore(rt.home).verified(verified)
    os.chmod(folder, 0o755)
    (folder / "extra.jsonl").write_text("{}\n")
    refusal(rt, verified, "files were added")


def test_cli_list_show_receipt_and_replay(rt, verified):
    home = rt.home.root
    listed = json.loads(run_mh(home, "dataset", "list", "--json", check=True).stdout)
    assert [(d["id"], d["stage"], d["receipt"]) for d in listed] == [(verified, "verified", "signed")]
    assert "clean report" in run_mh(home, "dataset", "show", verified, check=True).stdout
    assert run_mh(home, "dataset", "receipt", "verify", verified, check=True).stdout.startswith("ok:")
    replay = json.loads(run_mh(home, "audit", "replay", "--json", check=True).stdout)
    assert replay["datasets"] == {verified: "verified"} and replay["differences"] == []
    missing = run_mh(home, "dataset", "clean", "ds-20990101T000000-0000")
    assert missing.returncode == 1 and "no raw dataset" in missing.stderr


def test_verify_twice_is_refused(rt, verified):
    with pytest.raises(VerifyFailed, match="verified already"):
        from runtime.datasets.verify import verify_dataset

        verify_dataset(rt, verified, DatasetGates())
