import json
import multiprocessing

import pytest

from runtime import CallStatus, Runtime
from runtime.memory import MemoryCorrupt, MemoryNotFound
from runtime.memory.index import IndexUnreadable

from .conftest import run_mh


def test_capture_search_show_stats(rt):
    first = rt.memory.add(type="note", content="The spare key is under the blue pot", source="test", tags=["home"])
    rt.memory.add(type="reflection", content="Gardening calms me down; tomatoes love sun", source="test")
    hits = rt.memory.search("key")
    assert [h.id for h in hits] == [first.id] and "[key]" in hits[0].snippet
    assert rt.memory.get(first.id).content == first.content
    assert rt.memory.stats() == {"total": 2, "processed": 0, "unprocessed": 2, "by_type": {"note": 1, "reflection": 1}}
    path = next((rt.home.root / "memory" / "episodic").rglob(f"{first.id}.json"))
    saved = json.loads(path.read_text())
    assert set(saved) >= {"id", "timestamp", "type", "content", "response", "tags", "entities", "importance", "links", "metadata"}
    assert saved["metadata"]["source"] == "test" and saved["metadata"]["training_consent"] is True
    assert len(saved["metadata"]["content_sha256"]) == 64


def test_search_is_ranked_and_filtered(rt):
    rt.memory.add(type="note", content="tomato tomato tomato sauce", source="t", tags=["food"])
    rt.memory.add(type="note", content="one tomato in a long sentence about many other things entirely", source="t")
    rt.memory.add(type="reflection", content="a tomato thought", source="t", tags=["mind"])
    assert rt.memory.search("tomato")[0].snippet.startswith("[tomato] [tomato]")
    assert [h.type for h in rt.memory.search("tomato", type="reflection")] == ["reflection"]
    assert [h.tags for h in rt.memory.search("tomato", tag="food")] == [["food"]]
    assert rt.memory.search("tomato", since="2999-01-01") == []
    assert len(rt.memory.search("tomato", until="2999-01-01")) == 3
    assert len(rt.memory.search("tomatoes")) == 3  # porter stemming


@pytest.mark.parametrize("query", ['"', "'", "*", "AND", "OR NOT", "(", ")", "NEAR(", "a:b", "-x", "^", "col:tomato", "😀", "\\", "%_"])
def test_fts_special_characters_never_break_search(rt, query):
    event = rt.memory.add(type="note", content="plain text with a:b and -x in it", source="t")
    # Operators and punctuation are plain words or nothing: found exactly when every word is in the text.
    expected = [event.id] if query in ("AND", "a:b", "-x") else []
    assert [hit.id for hit in rt.memory.search(query)] == expected


def test_empty_query_finds_nothing(rt):
    rt.memory.add(type="note", content="x", source="t")
    assert rt.memory.search("   ") == []


def test_reindex_reproduces_the_same_results_and_reports_broken_files(rt):
    for i in range(30):
        rt.memory.add(type="note" if i % 2 else "observation", content=f"memory number {i} about apples and pears {i % 7}", source="t")
    before = [(h.id, h.snippet) for h in rt.memory.search("apples", limit=50)]
    broken = rt.memory.add(type="note", content="soon broken apples", source="t")
    path = next((rt.home.root / "memory" / "episodic").rglob(f"{broken.id}.json"))
    path.write_text('{"id": "oops", "this is": not json')
    (rt.home.root / "memory" / "index.db").unlink()
    report = rt.memory.reindex()
    assert report.indexed == 30 and len(report.broken) == 1 and broken.id in report.broken[0]
    assert [(h.id, h.snippet) for h in rt.memory.search("apples", limit=50)] == before
    assert path.read_text().startswith('{"id": "oops"')  # reported, never changed
    with pytest.raises(MemoryCorrupt, match="not a valid memory"):
        rt.memory.get(broken.id)
    with pytest.raises(MemoryNotFound):
        rt.memory.get("evt-nope")


def test_a_damaged_index_is_a_clear_error_and_reindex_sets_it_aside(rt):
    kept = rt.memory.add(type="note", content="the ladder is in the shed", source="t")
    index = rt.home.root / "memory" / "index.db"
    for suffix in ("-wal", "-shm"):
        index.with_name(index.name + suffix).unlink(missing_ok=True)
    index.write_bytes(b"this is not sqlite " * 200)
    with pytest.raises(IndexUnreadable, match="index.db is not a readable SQLite index") as caught:
        rt.memory.search("ladder")
    assert "mh memory reindex" in caught.value.fix
    cli = run_mh(rt.home.root, "remember", "ladder")
    assert cli.returncode == 1 and "mh memory reindex" in cli.stderr
    said = run_mh(rt.home.root, "memory", "reindex", check=True).stdout
    assert "indexed 1 memory" in said
    assert [h.id for h in rt.memory.search("ladder")] == [kept.id]
    (aside,) = index.parent.glob("index.db.unreadable-*")
    assert aside.read_bytes().startswith(b"this is not sqlite") and f"kept as memory/{aside.name}" in said
    entry = rt.audit.tail(1, category="memory")[0]
    assert (entry.event, entry.details["set_aside"]) == ("reindexed", f"memory/{aside.name}")


def test_memory_skills_go_through_the_gate(rt, agent):
    assert rt.call("memory_capture", {"content": "from the agent"}, session=agent).status is CallStatus.queued
    rt.set_trust("supervised_auto")
    captured = rt.call("memory_capture", {"content": "from the agent", "tags": ["a"]}, session=agent)
    assert captured.status is CallStatus.ok
    found = rt.call("memory_search", {"query": "agent"}, session=agent)
    assert found.result["hits"][0]["id"] == captured.result["id"]


def _capture_many(home: str, count: int) -> None:
    with Runtime(home) as runtime:
        for i in range(count):
            runtime.memory.add(type="note", content=f"parallel {i}", source="race")


def test_ids_never_collide_across_processes(rt):
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_capture_many, args=(str(rt.home.root), 150)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    files = list((rt.home.root / "memory" / "episodic").rglob("evt-*.json"))
    assert len(files) == 300 and rt.memory.stats()["total"] == 300


def test_cli_capture_remember_show_stats_reindex(rt):
    home = rt.home.root
    out = run_mh(home, "capture", "The meeting moved to Friday", "--tag", "work", check=True).stdout
    memory_id = out.split()[-1]
    hits = json.loads(run_mh(home, "remember", "friday", "--json", check=True).stdout)
    assert hits[0]["id"] == memory_id
    assert "The meeting moved to Friday" in run_mh(home, "memory", "show", memory_id, check=True).stdout
    assert json.loads(run_mh(home, "memory", "stats", "--json", check=True).stdout)["total"] == 1
    assert run_mh(home, "memory", "stats", check=True).stdout.startswith("1 memory: 0 processed, 1 unprocessed")
    assert "indexed 1 memory\n" in run_mh(home, "memory", "reindex", check=True).stdout
    assert run_mh(home, "remember", 'NEAR( "', check=True).stdout.strip() == "nothing found"
    missing = run_mh(home, "memory", "show", "evt-missing")
    assert missing.returncode == 1 and "no memory evt-missing" in missing.stderr
