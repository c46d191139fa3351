"""kill -9 at the exact points where two steps must both happen: the process SIGKILLs itself right
after (or before) one named call, so the kill lands between that step and the next, every time.

The child is the real CLI (`python -m runtime.cli ...`) with one function wrapped in the child only:
no fault hook exists in mh itself, so nothing a person or a config file sets can trigger one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime import Runtime
from runtime.datasets.firewall import FirewallRefused, open_for_training
from runtime.datasets.store import DatasetStore

from .conftest import ROOT, run_mh

# Wraps TARGET ("module:Attribute.path") in the child; when WHEN (an expression over `args`) holds
# for a call, the child SIGKILLs itself after the call returns (or before it starts, with BEFORE).
CHILD = """
import importlib, os, runpy, signal, sys
from pathlib import Path
TARGET, WHEN, BEFORE = sys.argv[1], sys.argv[2], sys.argv[3] == "before"
module, _, attr = TARGET.partition(":")
owner = importlib.import_module(module)
*path, name = attr.split(".")
for part in path:
    owner = getattr(owner, part)
real = getattr(owner, name)
def wrapped(*args, **kwargs):
    hit = eval(WHEN)
    if hit and BEFORE:
        os.kill(os.getpid(), signal.SIGKILL)
    result = real(*args, **kwargs)
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
setattr(owner, name, wrapped)
sys.argv = ["mh", *sys.argv[4:]]
runpy.run_module("runtime.cli", run_name="__main__")
"""


def killed(home: Path, target: str, when: str, *args: str, before: bool = False) -> None:
    """`mh ARGS`, killed -9 at the point named by target/when; fails unless the kill really happened."""
    env = {**os.environ, "MH_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", CHILD, target, when, "before" if before else "after", *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, f"not killed at {target} ({proc.returncode}): {proc.stderr[-2000:]}"


# -- dataset verify ------------------------------------------------------------------------------

def clean_dataset(rt) -> str:
    for i in range(24):
        rt.memory.add(type="note", content=f"Day {i}: I repotted {i} seedlings of basil, patience number {i * 7}.", source="t")
    dataset_id = rt.call("dataset_build", {}).result["id"]
    assert rt.call("dataset_clean", {"id": dataset_id}).status.value == "ok"
    return dataset_id


VERIFY_KILLS = {
    # the point of issue 13: the staged folder has just become verified/<id>/
    "after the rename to verified/": ("pathlib:Path.rename", "Path(args[1]).parent.name == 'verified'", False),
    "after the receipt, before the entry": (
        "runtime.datasets.verify:atomic_write", "Path(args[0]).parent.name == 'receipts'", False),
    "after the entry, before the rename": (
        "runtime.audit.log:AuditLog.append", "args[1:3] == ('dataset', 'verified')", False),
    "before the receipt": ("runtime.datasets.verify:atomic_write", "Path(args[0]).parent.name == 'receipts'", True),
}


@pytest.mark.parametrize("point", sorted(VERIFY_KILLS))
def test_a_kill_during_verify_never_leaves_a_verified_dataset_without_its_receipt(rt, point):
    dataset_id = clean_dataset(rt)
    target, when, before = VERIFY_KILLS[point]
    killed(rt.home.root, target, when, "dataset", "verify", dataset_id, before=before)
    store = DatasetStore(rt.home)
    if store.stage_of(dataset_id) == "verified":  # killed after it became visible: it is whole already
        assert store.receipt(dataset_id).exists()
    else:  # killed before: still clean, refused, and verified again by a re-run
        assert store.stage_of(dataset_id) == "clean"
        with pytest.raises(FirewallRefused, match="not verified: it is at stage clean"):
            open_for_training(rt, dataset_id, actor="trainer")
        run_mh(rt.home.root, "dataset", "verify", dataset_id, check=True)
    opened = open_for_training(rt, dataset_id, actor="trainer")
    assert opened.train.exists() and opened.receipt.dataset_id == dataset_id
    assert json.loads(run_mh(rt.home.root, "audit", "replay", "--json", check=True).stdout)["datasets"] == {
        dataset_id: "verified"}
    assert not list(rt.home.datasets_verified.glob(".*"))  # no staging folder left behind


def test_a_verified_dataset_without_a_receipt_is_refused_then_verified_again(rt):
    """What the old order (rename, then receipt) left after a kill: refused, and no longer stuck."""
    dataset_id = clean_dataset(rt)
    run_mh(rt.home.root, "dataset", "verify", dataset_id, check=True)
    store = DatasetStore(rt.home)
    store.receipt(dataset_id).unlink()
    with pytest.raises(FirewallRefused, match="no receipt"):
        open_for_training(rt, dataset_id, actor="trainer")
    run_mh(rt.home.root, "dataset", "verify", dataset_id, check=True)
    assert open_for_training(rt, dataset_id, actor="trainer").receipt.dataset_id == dataset_id


# -- the ingestor ---------------------------------------------------------------------------------

INGEST_KILLS = {
    # the point of issue 13: an original is in _archive/ and its entry is not written yet
    "after a move, before its entry": ("os:rename", "'_archive' in str(args[1]) and args[1].name == 'n02.txt'", False),
    "after an entry, before the intent is deleted": (
        "runtime.audit.log:AuditLog.append", "args[1:3] == ('ingest', 'file') and kwargs['details']['file'] == 'n04.txt'",
        False),
    "after the intent, before the first move": ("os:rename", "'_archive' in str(args[1])", True),
}


@pytest.mark.parametrize("point", sorted(INGEST_KILLS))
def test_a_kill_during_ingest_leaves_every_archived_file_with_exactly_one_entry(rt, point):
    rt.home.config_file("memory.json").write_text(json.dumps({"settle_ms": 0}))
    inbox = rt.home.inbox
    names = [f"n{i:02d}.txt" for i in range(5)]
    for i, name in enumerate(names):
        (inbox / name).write_text(f"note number {i} with the unique word w{i}x")
        os.utime(inbox / name, (time.time() - 60, time.time() - 60))
    target, when, before = INGEST_KILLS[point]
    killed(rt.home.root, target, when, "agent", "run", "ingestor", "--once", before=before)
    assert list(rt.home.inbox_intents.glob("*.json"))  # the intent outlived its batch
    run_mh(rt.home.root, "agent", "run", "ingestor", "--once", check=True)
    archived = sorted(p.name for p in rt.home.inbox_archive.rglob("*.txt"))
    assert archived == names and not [p for p in inbox.iterdir() if not p.name.startswith("_")]
    entries = [e for e in Runtime(rt.home.root).audit.entries() if (e.category, e.event) == ("ingest", "file")]
    assert sorted(e.details["file"] for e in entries) == names  # each once: nothing lost, nothing doubled
    assert all(e.details["archived"].startswith("memory/inbox/_archive/") for e in entries)
    assert all(e.actor == "service:ingestor" for e in entries)
    assert list(rt.home.inbox_intents.iterdir()) == []
    assert rt.memory.stats()["total"] == len(names)
    run_mh(rt.home.root, "agent", "run", "ingestor", "--once", check=True)  # nothing left to finish, nothing doubled
    assert sum(1 for e in Runtime(rt.home.root).audit.entries() if (e.category, e.event) == ("ingest", "file")) == 5


def test_a_live_batch_intent_is_not_finished_by_another(rt):
    """An intent whose writer still runs is locked: another ingestor leaves it alone."""
    import fcntl

    folder = rt.home.inbox_intents
    folder.mkdir(parents=True)
    (rt.home.inbox_archive / "2026-01-01").mkdir(parents=True)
    (rt.home.inbox_archive / "2026-01-01" / "a.txt").write_text("x")
    intent = folder / "live.json"
    intent.write_text(json.dumps({"created_at": "2026-01-01T00:00:00+00:00", "actor": "service:ingestor", "moves": [
        {"file": "a.txt", "archived": "memory/inbox/_archive/2026-01-01/a.txt", "memories": 1, "new": 1,
         "source_sha256": "0" * 64}]}))
    with open(intent, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert rt.call("inbox_ingest", {"files": []}).result == {"files": []} and intent.exists()
    (report,) = rt.call("inbox_ingest", {"files": []}).result["files"]  # its writer is gone: finished now
    assert report["status"] == "recovered" and not intent.exists()
    (entry,) = [e for e in rt.audit.entries() if (e.category, e.event) == ("ingest", "file")]
    assert entry.actor == "service:ingestor" and entry.details["recovered_by"] == "person@python"


@pytest.mark.parametrize("archived", ["etc/trust.json", "memory/inbox/_archive/../../../etc/trust.json", "/etc/passwd"])
def test_an_edited_intent_cannot_make_the_ingestor_log_a_file_outside_the_archive(rt, archived):
    folder = rt.home.inbox_intents
    folder.mkdir(parents=True)
    (folder / "forged.json").write_text(json.dumps({"created_at": "2026-01-01T00:00:00+00:00", "actor": "service:ingestor",
                                                     "moves": [{"file": "x", "archived": archived, "memories": 1, "new": 1,
                                                                "source_sha256": "0" * 64}]}))
    assert rt.call("inbox_ingest", {"files": []}).result == {"files": []}
    assert [p.name for p in folder.iterdir()] == ["forged.broken"]
    assert not [e for e in rt.audit.entries() if (e.category, e.event) == ("ingest", "file")]
    (warning,) = [e for e in rt.audit.entries() if (e.category, e.event) == ("ingest", "intent_broken")]
    assert warning.level == "warning" and "not in memory/inbox/_archive" in warning.details["error"]
