"""The inbox ingestor with real files, real watchdog events and real kills."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime import Runtime
from runtime.inbox import chunks
from runtime.ingest import Ingestor

from .conftest import ROOT, run_mh


@pytest.fixture
def inbox(rt) -> Path:
    rt.home.config_file("memory.json").write_text(json.dumps({"settle_ms": 0, "max_file_bytes": 200_000, "chunk_chars": 500}))
    return rt.home.root / "memory" / "inbox"


def drop(inbox: Path, name: str, data, *, age: float = 60) -> Path:
    path = inbox / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def all_memories(rt):
    return [json.loads(p.read_text()) for p in (rt.home.root / "memory" / "episodic").rglob("evt-*.json")]


def test_text_markdown_json_and_ndjson_become_memories(rt, inbox):
    drop(inbox, "note.txt", "Bought basil seeds today.")
    drop(inbox, "plan.md", "# Garden\n\nTomatoes along the south wall.")
    drop(inbox, "one.json", json.dumps({"content": "Anna likes jazz", "type": "observation", "tags": ["anna"]}))
    drop(inbox, "many.json", json.dumps([{"content": "first record"}, {"content": "second record", "training_consent": False}]))
    drop(inbox, "other.json", json.dumps({"temperature": 21}))
    drop(inbox, "log.ndjson", '{"content": "line one"}\n\n{"content": "line two", "timestamp": "2025-01-02T03:04:05Z"}\n')
    outcomes = Ingestor(rt).run_once()
    assert sorted((o.name, o.status, len(o.memories)) for o in outcomes) == [
        ("log.ndjson", "ingested", 2), ("many.json", "ingested", 2), ("note.txt", "ingested", 1),
        ("one.json", "ingested", 1), ("other.json", "ingested", 1), ("plan.md", "ingested", 1)]
    assert [p.name for p in inbox.iterdir() if not p.name.startswith("_")] == []
    archived = sorted(p.name for p in (inbox / "_archive").rglob("*") if p.is_file())
    assert archived == ["log.ndjson", "many.json", "note.txt", "one.json", "other.json", "plan.md"]
    by_content = {m["content"]: m for m in all_memories(rt)}
    assert by_content["Anna likes jazz"]["type"] == "observation" and by_content["Anna likes jazz"]["tags"] == ["anna"]
    assert by_content["second record"]["metadata"]["training_consent"] is False
    assert by_content["line two"]["timestamp"].startswith("2025-01-02T03:04:05")
    assert '"temperature": 21' in next(c for c in by_content if "temperature" in c)
    assert rt.memory.search("basil")[0].id == by_content["Bought basil seeds today."]["id"]
    events = [e.event for e in rt.audit.entries() if e.category == "ingest"]
    assert events.count("file") == 6


def test_long_files_become_linked_chunks_with_hashes(rt, inbox):
    text = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(20))
    drop(inbox, "long.md", text)
    (outcome,) = Ingestor(rt).run_once()
    memories = sorted(all_memories(rt), key=lambda m: m["metadata"]["chunk"])
    assert len(memories) == len(outcome.memories) > 5
    assert all(len(m["content"]) <= 500 for m in memories)
    assert memories[1]["links"] == [memories[0]["id"]]
    sources = {m["metadata"]["source_sha256"] for m in memories}
    assert len(sources) == 1 and all(m["metadata"]["chunks"] == len(memories) for m in memories)
    assert all(len(m["metadata"]["content_sha256"]) == 64 for m in memories)
    assert " ".join(m["content"] for m in memories).split() == text.split()  # every word, in order


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        ("latin1.txt", "café".encode("latin-1"), "not UTF-8: invalid byte 0xe9 at offset 3"),
        ("huge.txt", b"x" * 200_001, "too large: 200001 bytes"),
        ("broken.json", b'{"content": "x",', "invalid JSON at line 1"),
        ("broken.ndjson", b'{"content": "ok"}\n{nope}\n', "invalid JSON on line 2"),
        ("empty.txt", b"\n\n  \n", "empty"),
        ("sheet.xlsx", b"PK-not-really", "unsupported kind '.xlsx'"),
        ("badtags.json", b'{"content": "x", "tags": "not-a-list"}', "record 1"),
    ],
)
def test_bad_files_go_to_failed_with_a_reason_and_stay_whole(rt, inbox, name, data, reason):
    drop(inbox, name, data)
    (outcome,) = Ingestor(rt).run_once()
    assert outcome.status == "failed" and reason in outcome.reason
    kept = inbox / "_failed" / name
    assert kept.read_bytes() == data
    assert reason in (inbox / "_failed" / f"{name}.reason").read_text()
    assert all_memories(rt) == []


def test_symlinks_are_moved_aside_never_followed(rt, inbox, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not ingest")
    os.symlink(secret, inbox / "link.txt")
    (outcome,) = Ingestor(rt).run_once()
    assert outcome.status == "failed" and "symlink" in outcome.reason
    assert (inbox / "_failed" / "link.txt").is_symlink() and secret.read_text() == "do not ingest"
    assert all_memories(rt) == []


def test_files_still_being_written_wait(rt, inbox):
    rt.home.config_file("memory.json").write_text(json.dumps({"settle_ms": 60_000}))
    drop(inbox, "fresh.txt", "half of it", age=0)
    (inbox / ".hidden.txt").write_text("x")
    (inbox / "download.txt.part").write_text("x")
    outcomes = Ingestor(rt).run_once()
    assert [(o.name, o.status) for o in outcomes] == [("fresh.txt", "waiting")]
    assert (inbox / "fresh.txt").exists() and all_memories(rt) == []


def test_the_same_content_twice_is_not_duplicated(rt, inbox):
    drop(inbox, "a.txt", "same words")
    Ingestor(rt).run_once()
    drop(inbox, "b.txt", "same words")
    (outcome,) = Ingestor(rt).run_once()
    assert outcome.status == "ingested" and outcome.new == 0
    assert len(all_memories(rt)) == 1 and rt.memory.stats()["total"] == 1


def test_mh_ingest_copies_in_and_the_cli_processes(rt, inbox, tmp_path):
    source = tmp_path / "letter.md"
    source.write_text("Dear diary, the plums are ripe.")
    home = rt.home.root
    assert "queued letter.md" in run_mh(home, "ingest", str(source), check=True).stdout
    proc = run_mh(home, "agent", "run", "ingestor", "--once", check=True)
    assert "ingested  letter.md -> 1 memory (1 new)" in proc.stdout  # never "1 memories"
    assert "plums" in run_mh(home, "remember", "plums", check=True).stdout
    assert source.read_text() == "Dear diary, the plums are ripe."
    status = json.loads(run_mh(home, "agent", "status", "ingestor", "--json", check=True).stdout)
    assert status["runs"] == 1 and status["successes"] == 1 and "ingested letter.md" in status["log"][-1]
    assert "ingestor: stopped; 1 run, 1 ok" in run_mh(home, "agent", "status", "ingestor", check=True).stdout
    monitor = json.loads(run_mh(home, "agent", "monitor", "--json", check=True).stdout)
    assert monitor == {"memories": 1, "processed": 0, "unprocessed": 1, "inbox": 0, "failed": 0}
    assert "ingestor" in run_mh(home, "agent", "list", check=True).stdout
    assert run_mh(home, "agent", "status", "nobody").returncode == 1


def test_a_kill_at_any_moment_loses_nothing_and_duplicates_nothing(rt, inbox):
    count = 300
    for i in range(count):
        drop(inbox, f"n{i:03d}.txt", f"note number {i} with unique word w{i}x")
    rt.home.config_file("memory.json").write_text(json.dumps({"settle_ms": 0, "batch_files": 8}))
    env = {**os.environ, "MH_HOME": str(rt.home.root)}
    archived = lambda: len(list((inbox / "_archive").rglob("*.txt")))  # noqa: E731
    killed_at = []
    for target in (40, 130, 220):  # kill at three points of the run, mid-batch wherever it happens to be
        proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "agent", "run", "ingestor", "--once"],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and archived() < target and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at.append(archived())
    run_mh(rt.home.root, "agent", "run", "ingestor", "--once", check=True, timeout=300)
    memories = all_memories(rt)
    assert sorted(m["content"] for m in memories) == sorted(f"note number {i} with unique word w{i}x" for i in range(count))
    assert len({m["id"] for m in memories}) == count
    assert [p for p in inbox.iterdir() if not p.name.startswith("_")] == []
    Runtime(rt.home.root).memory.reindex()
    assert rt.memory.stats()["total"] == count and len(rt.memory.search("w17x")) == 1
    assert rt.verify_audit().ok
    logged = [e.details["file"] for e in rt.audit.entries() if (e.category, e.event) == ("ingest", "file")]
    assert sorted(logged) == sorted(p.name for p in (inbox / "_archive").rglob("*.txt"))  # each archived file, once
    assert killed_at[0] < count  # the kills really interrupted the work


def test_the_watching_ingestor_reacts_to_new_files(rt, inbox):
    rt.home.config_file("memory.json").write_text(json.dumps({"settle_ms": 200}))
    env = {**os.environ, "MH_HOME": str(rt.home.root)}
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "agent", "run", "ingestor"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # let it start watching
        (inbox / "live.txt").write_text("watched and remembered")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not rt.memory.search("remembered"):
            time.sleep(0.2)
        assert rt.memory.search("remembered")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert (inbox / "_archive").exists()


def test_chunks_cut_long_paragraphs_at_spaces():
    pieces = chunks("word " * 300, 200)
    assert all(len(p) <= 200 for p in pieces) and " ".join(pieces).split() == ["word"] * 300
