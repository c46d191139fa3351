"""The boredom service: off means off; after the interval of idle time one reflection, grounded in
recent memories (every line theirs, their ids linked); one per idle stretch, restarts included; a
broken etc/boredom.json names the key. The organizer waits for idle time, works in batches and
says its progress; its extractive tags and entities are measured on a labelled set."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import time_machine

from runtime.boredom import BoredomService
from runtime.dreams import ungrounded_lines
from runtime.errors import SkillInputError
from runtime.organize import Organizer, extractive_tagger

DATA = Path(__file__).parent / "data"


def write_boredom(home, settings: dict) -> None:
    (home / "etc" / "boredom.json").write_text(json.dumps(settings))


def capture(rt, text: str) -> str:
    return rt.call("memory_capture", {"content": text}).result["id"]


def reflections(rt) -> list:
    return [event for _, event in rt.memory.events() if event.type == "reflection"]


def test_off_means_off(rt):
    write_boredom(rt.home.root, {"level": "off"})
    with time_machine.travel(datetime(2027, 1, 9, 9, 0), tick=False) as clock:
        capture(rt, "The seed catalogue arrived; the tomato varieties look good this year.")
        clock.move_to(datetime(2027, 1, 10, 9, 0))
        service = BoredomService(rt)
        service.tick()
    assert reflections(rt) == [] and service.book.state().note.startswith("off")


def test_one_reflection_after_the_idle_interval_grounded_in_recent_memories(rt):
    write_boredom(rt.home.root, {"level": "custom", "intervals": {"custom": 120}})
    with time_machine.travel(datetime(2027, 1, 9, 9, 0), tick=False) as clock:
        old = capture(rt, "An old note about the attic insulation that is not recent at all.")
        clock.move_to(datetime(2027, 1, 9, 10, 0))
        recent = [capture(rt, text) for text in (
            "The plum tree flowered early this year. The bees came back in the afternoon.",
            "Planted garlic in the raised bed before the frost. The soil was still warm.",
            "Called the garden centre about compost; they deliver on Fridays.",
            "Watered the seedlings and moved the basil to the sunny window.",
            "The greenhouse door was left open overnight, but nothing froze.",
        )]
        service = BoredomService(rt)
        clock.move_to(datetime(2027, 1, 9, 10, 1))
        service.tick()
        assert reflections(rt) == [] and "reflects after 120 s idle" in service.book.state().note
        clock.move_to(datetime(2027, 1, 9, 10, 2, 1))
        service.tick()
        found = reflections(rt)
        assert len(found) == 1
        reflection = found[0]
        assert reflection.links and set(reflection.links) <= set(recent) and old not in reflection.links
        assert not ungrounded_lines(reflection.content, [rt.memory.get(link).content for link in reflection.links])
        clock.move_to(datetime(2027, 1, 9, 12, 0))
        service.tick()
        BoredomService(rt).tick()  # a restart in the same idle stretch
        assert len(reflections(rt)) == 1
        capture(rt, "Back from the market with two bags of apples.")  # the person acts: a new stretch begins
        clock.move_to(datetime(2027, 1, 9, 12, 2, 1))
        BoredomService(rt).tick()
        assert len(reflections(rt)) == 2
    actors = {e.actor for e in rt.audit.entries() if e.category == "skill" and e.details.get("skill") == "memory_compose"}
    assert actors == {"service:boredom-service"}


@pytest.mark.parametrize("settings, key", [
    ({"level": "custom"}, "intervals"),
    ({"level": "sometimes"}, "level"),
    ({"level": "low", "intervals": {"low": 1}}, "intervals.low"),
    ({"levle": "low"}, "levle"),
])
def test_a_broken_boredom_json_names_the_key(rt, settings, key):
    write_boredom(rt.home.root, settings)
    service = BoredomService(rt)
    service.tick()
    state = service.book.state()
    assert state.note.startswith(f"error: etc/boredom.json: {key}:") and state.failures == 1 and reflections(rt) == []


def test_the_organizer_waits_for_idle_time_then_works_in_batches(rt):
    (rt.home.etc / "memory.json").write_text(json.dumps({"organize_batch": 2, "organize_idle_mins": 10}))
    with time_machine.travel(datetime(2027, 1, 9, 9, 0), tick=False) as clock:
        for i in range(5):
            capture(rt, f"Met Anna in Berlin about the community garden, meeting number {i}.")
        organizer = Organizer(rt)
        organizer.tick()
        assert rt.memory.stats()["unprocessed"] == 5 and "idle 10 min" in organizer.book.state().note
        clock.move_to(datetime(2027, 1, 9, 9, 11))
        organizer.tick()
    assert rt.memory.stats()["unprocessed"] == 0
    progress = [line for line in organizer.book.last_lines(20) if "progress:" in line]
    assert [line.split("progress: ")[1] for line in progress] == ["2 of 5 organized", "4 of 5 organized", "5 of 5 organized"]
    event = next(event for _, event in rt.memory.events())
    assert "Anna" in event.entities and "Berlin" in event.entities and "garden" in event.tags


def precision(path: Path) -> tuple[float, float]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    right_tags = all_tags = right_names = all_names = 0
    for row in rows:
        found = extractive_tagger(row["text"])
        all_tags += len(found.tags)
        right_tags += sum(tag in {t.lower() for t in row["tags"]} for tag in found.tags)
        all_names += len(found.entities)
        right_names += sum(name.lower() in {e.lower() for e in row["entities"]} for name in found.entities)
    return right_tags / all_tags, right_names / all_names


def test_extractive_tags_and_entities_are_precise_on_the_labelled_sets():
    """The numbers of docs/PERFORMANCE.md (the model's were 0.24 and 0.17 on the first set): a change
    that makes the tagger worse fails here."""
    tags, names = precision(DATA / "organizer_labels.jsonl")
    assert tags >= 0.8 and names >= 0.85
    tags, names = precision(DATA / "organizer_heldout.jsonl")  # written after the tagger, never tuned on
    assert tags >= 0.6 and names >= 0.8


def compose(rt, content: str, links: list[str], **extra):
    return rt.call("memory_compose", {"type": "reflection", "id": "evt-test-compose", "timestamp": "2027-01-09T10:00:00+00:00",
                                      "content": content, "links": links, **extra})


@pytest.mark.parametrize("line", ["I love Anna", "n", "never said I love"])
def test_a_composed_line_must_be_a_whole_sentence_of_a_linked_memory(rt, line):
    source = capture(rt, "I never said I love Anna. We only met twice at the market.")
    outcome = compose(rt, line, [source])
    assert outcome.status.value == "failed" and "not in the linked memories" in outcome.error
    assert reflections(rt) == []
    assert compose(rt, "I never said I love Anna.", [source]).result["created"]


def test_a_composed_memory_cannot_link_a_dream_or_reflection(rt):
    source = capture(rt, "The plum tree flowered early this year. The bees came back in the afternoon.")
    assert compose(rt, "The plum tree flowered early this year.", [source]).result["created"]
    outcome = rt.call("memory_compose", {"type": "dream", "id": "evt-test-dream", "timestamp": "2027-01-09T10:00:00+00:00",
                                         "content": "The plum tree flowered early this year.", "links": ["evt-test-compose"]})
    assert outcome.status.value == "failed" and "itself a dream or reflection" in outcome.error


@pytest.mark.parametrize("metadata", [{"processed": "true"}, {"content_sha256": "0" * 64}, {"source": "chat"}, {"training_consent": "true"}])
def test_a_composed_memory_takes_only_the_services_metadata(rt, metadata):
    source = capture(rt, "Planted garlic in the raised bed before the frost. The soil was still warm.")
    with pytest.raises(SkillInputError, match="metadata"):
        compose(rt, "The soil was still warm.", [source], metadata=metadata)
    assert compose(rt, "The soil was still warm.", [source], metadata={"level": "low"}).result["created"]
    saved = rt.memory.get("evt-test-compose").metadata
    assert saved.processed is False and saved.training_consent is False and saved.source.startswith("reflection:")


def test_metahumans_boredom_json_is_read_with_its_ui_keys_ignored(rt):
    from runtime.config import load_config

    write_boredom(rt.home.root, {"level": "off", "intervals": {"off": -1, "low": 900, "medium": 300, "high": 60},
                                 "showInChat": True, "loraSchedule": "sunday-3am"})
    cfg = load_config(rt.home, "boredom.json")
    assert cfg.interval_s is None and cfg.intervals.low == 900
    service = BoredomService(rt)
    service.tick()
    assert service.book.state().note.startswith("off")


@pytest.mark.parametrize("interruption", ["stop", "the person is back"])
def test_the_organizer_leaves_its_backlog_between_batches_when_stopped_or_the_person_returns(rt, interruption):
    (rt.home.etc / "memory.json").write_text(json.dumps({"organize_batch": 2, "organize_idle_mins": 10}))
    with time_machine.travel(datetime(2027, 1, 9, 9, 0), tick=False) as clock:
        for i in range(6):
            capture(rt, f"Met Anna in Berlin about the community garden, meeting number {i}.")
        clock.move_to(datetime(2027, 1, 9, 9, 11))
        organizer = Organizer(rt)
        batch = organizer.run_once

        def first_batch_then_interrupted(limit=None):
            result = batch(limit)
            if interruption == "stop":
                organizer.stop.set()  # SIGTERM: the supervisor waits STOP_GRACE_S, not for the whole backlog
            else:
                capture(rt, "Back at the desk.")
            return result

        organizer.run_once = first_batch_then_interrupted
        organizer.tick()
    assert rt.memory.stats()["unprocessed"] == 4 + (interruption != "stop")


def test_an_unreadable_memory_json_is_said_once_as_the_organizers_failure(rt):
    (rt.home.etc / "memory.json").write_text(json.dumps({"organize_batch": "many"}))
    organizer = Organizer(rt)
    organizer.tick()
    organizer.tick()
    state = organizer.book.state()
    assert state.note.startswith("error: etc/memory.json: organize_batch") and state.failures == 1
    assert len([line for line in organizer.book.last_lines(20) if "cannot run" in line]) == 1


def test_a_level_changed_within_an_idle_stretch_gives_no_second_reflection(rt):
    write_boredom(rt.home.root, {"level": "high"})
    with time_machine.travel(datetime(2027, 1, 9, 9, 0), tick=False) as clock:
        capture(rt, "The plum tree flowered early this year. The bees came back in the afternoon.")
        clock.move_to(datetime(2027, 1, 9, 9, 1, 1))
        BoredomService(rt).tick()
        assert len(reflections(rt)) == 1
        write_boredom(rt.home.root, {"level": "medium"})  # the same stretch, another interval
        clock.move_to(datetime(2027, 1, 9, 9, 6, 1))
        BoredomService(rt).tick()
    assert len(reflections(rt)) == 1


def test_at_observe_the_boredom_service_and_the_organizer_pause_and_resume(rt):
    write_boredom(rt.home.root, {"level": "high"})
    (rt.home.etc / "memory.json").write_text(json.dumps({"organize_idle_mins": 1}))
    with time_machine.travel(datetime(2027, 1, 9, 9, 0), tick=False) as clock:
        capture(rt, "Met Anna in Berlin about the community garden. The plum tree flowered early this year.")
        rt.set_trust("observe")
        clock.move_to(datetime(2027, 1, 9, 9, 5))
        boredom, organizer = BoredomService(rt), Organizer(rt)
        boredom.tick()
        organizer.tick()
        assert reflections(rt) == [] and rt.memory.stats()["unprocessed"] == 1
        assert boredom.book.state().note.startswith("paused") and organizer.book.state().note.startswith("paused")
        rt.set_trust("suggest")
        clock.move_to(datetime(2027, 1, 9, 9, 6))
        boredom.tick()
        organizer.tick()
    assert len(reflections(rt)) == 1 and rt.memory.stats()["unprocessed"] == 0
