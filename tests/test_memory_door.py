"""Memory writes go through the door: at `observe` nothing under memory/ changes, whoever asks (the
person's CLI, the chat's saved exchange, the ingestor, the organizer); at `bounded_auto` every
change is audited with its true actor."""

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from runtime.ingest import Ingestor
from runtime.organize import Organized, Organizer

from .conftest import run_mh


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def entries(rt, **match) -> list:
    return [e for e in rt.audit.entries() if all(getattr(e, k) == v for k, v in match.items())]


def skill_entries(rt, skill: str) -> list[tuple[str, str]]:
    return [(e.event, e.actor) for e in rt.audit.entries() if e.category == "skill" and e.details.get("skill") == skill]


@pytest.fixture
def stocked(rt, tmp_path):
    """A home with one unprocessed memory, one file waiting in the inbox, and a file to `mh ingest`."""
    rt.home.config_file("memory.json").write_text(json.dumps({"settle_ms": 0}))
    rt.memory.add(type="note", content="the plums are ripe", source="t")
    waiting = rt.home.inbox / "waiting.txt"
    waiting.write_text("a note that waits in the inbox")
    os.utime(waiting, (time.time() - 60, time.time() - 60))
    source = tmp_path / "letter.md"
    source.write_text("Dear diary, the pears are ripe too.")
    return source


def test_at_observe_no_memory_command_or_service_changes_anything(rt, stocked):
    rt.set_trust("observe")
    before = snapshot(rt.home.memory_dir)
    home = rt.home.root
    for args in (("ingest", str(stocked)), ("capture", "remember this"), ("memory", "reindex"),
                 ("agent", "run", "ingestor", "--once"), ("agent", "run", "organizer", "--once")):
        proc = run_mh(home, *args)
        assert proc.returncode == 3, (args, proc.stdout, proc.stderr)
        assert "observe" in proc.stderr
    assert snapshot(rt.home.memory_dir) == before
    assert (rt.home.inbox / "waiting.txt").read_text() == "a note that waits in the inbox"
    for skill in ("inbox_add", "memory_capture", "memory_reindex"):
        assert skill_entries(rt, skill) == [("denied", "person@cli")]
    paused = [(e.actor, e.details["skill"]) for e in entries(rt, category="service", event="paused")]
    assert paused == [("service:ingestor", "inbox_ingest"), ("service:organizer", "memory_organize")]
    # Reads still work.
    monitor = json.loads(run_mh(home, "agent", "monitor", "--json", check=True).stdout)
    assert monitor == {"memories": 1, "processed": 0, "unprocessed": 1, "inbox": 1, "failed": 0}
    assert "paused" in run_mh(home, "agent", "status", "ingestor", check=True).stdout


def test_at_bounded_auto_each_change_names_its_actor(rt, stocked):
    rt.set_trust("bounded_auto")
    home = rt.home.root
    assert "queued letter.md" in run_mh(home, "ingest", str(stocked), check=True).stdout
    run_mh(home, "capture", "remember this", check=True)
    run_mh(home, "memory", "reindex", check=True)
    run_mh(home, "agent", "run", "ingestor", "--once", check=True)
    assert Organizer(rt, tagger=lambda text: Organized(tags=["fruit"])).run_once() == {"organized": 4, "failed": 0}
    for skill, actor in (("inbox_add", "person@cli"), ("memory_capture", "person@cli"), ("memory_reindex", "person@cli"),
                         ("inbox_ingest", "service:ingestor"), ("memory_organize", "service:organizer")):
        assert skill_entries(rt, skill) == [("start", actor), ("result", actor)], skill
    assert {(e.details["file"], e.actor) for e in entries(rt, category="ingest", event="file")} == {
        ("letter.md", "service:ingestor"), ("waiting.txt", "service:ingestor")}
    assert {e.actor for e in entries(rt, category="organize", event="memory")} == {"service:organizer"}
    assert len(entries(rt, category="organize", event="memory")) == 4
    assert [p.name for p in rt.home.inbox.iterdir() if not p.name.startswith("_")] == []
    assert rt.memory.stats()["unprocessed"] == 0 and rt.verify_audit().ok


def test_a_paused_service_says_so_once_and_resumes_when_the_level_is_raised(rt, stocked):
    rt.set_trust("observe")
    ingestor = Ingestor(rt)
    organizer = Organizer(rt, tagger=lambda text: pytest.fail("a paused organizer does not ask the model"))
    for _ in range(3):  # a watching service passes again and again: one entry, not one per pass
        assert ingestor.run_once() == [] and organizer.run_once() == {"organized": 0, "failed": 0}
    assert len(entries(rt, category="service", event="paused")) == 2
    assert ingestor.door.paused and "observe" in ingestor.book.last_lines(1)[0]
    assert not any(e.category == "skill" for e in rt.audit.entries())
    assert (rt.home.inbox / "waiting.txt").exists() and rt.memory.stats()["unprocessed"] == 1

    rt.set_trust("supervised_auto")
    (outcome,) = ingestor.run_once()
    assert (outcome.name, outcome.status, len(outcome.memories)) == ("waiting.txt", "ingested", 1)
    organizer._tagger = lambda text: Organized(tags=["later"])
    assert organizer.run_once() == {"organized": 2, "failed": 0}
    assert ingestor.door.paused is None and organizer.door.paused is None
    assert [e.actor for e in entries(rt, category="service", event="resumed")] == ["service:ingestor", "service:organizer"]


def test_the_chat_answers_at_observe_but_saves_the_exchange_only_when_allowed(chat_rt):
    home = chat_rt.home.root
    chat_rt.set_trust("observe")
    before = snapshot(chat_rt.home.memory_dir)
    said = run_mh(home, "chat", "--once", "hi", check=True)
    assert said.stdout.strip()
    assert snapshot(chat_rt.home.memory_dir) == before
    assert skill_entries(chat_rt, "conversation_save") == [("denied", "person@chat")]
    (turn,) = entries(chat_rt, category="agent", event="turn")
    assert turn.actor == "agent" and turn.details["memory"] is None

    chat_rt.set_trust("bounded_auto")
    run_mh(home, "chat", "--once", "hi", check=True)
    assert skill_entries(chat_rt, "conversation_save")[1:] == [("start", "person@chat"), ("result", "person@chat")]
    saved = entries(chat_rt, category="agent", event="turn")[-1].details["memory"]
    assert chat_rt.memory.get(saved).type == "conversation"
