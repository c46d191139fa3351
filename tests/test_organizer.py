import pytest

from runtime.errors import MhError
from runtime.organize import Organized, OrganizeFailed, Organizer, llama_tagger


def test_tags_and_entities_are_added_and_memories_marked_processed(rt):
    event = rt.memory.add(type="note", content="Met Anna in Berlin about the garden", source="t", tags=["mine"])
    result = Organizer(rt, tagger=lambda text: Organized(tags=["garden"], entities=["Anna", "Berlin"])).run_once()
    assert result == {"organized": 1, "failed": 0}
    updated = rt.memory.get(event.id)
    assert updated.tags == ["garden", "mine"] and updated.entities == ["Anna", "Berlin"] and updated.metadata.processed
    assert rt.memory.stats()["unprocessed"] == 0
    assert rt.memory.search("garden", tag="garden")[0].id == event.id
    assert Organizer(rt, tagger=lambda text: pytest.fail("nothing left to do")).run_once() == {"organized": 0, "failed": 0}


@pytest.mark.parametrize("error", [OrganizeFailed("the model's JSON does not fit"), MhError("model gone"), ValueError("bad")])
def test_a_model_failure_leaves_the_memory_unprocessed_and_untouched(rt, error):
    event = rt.memory.add(type="note", content="something", source="t")
    path = rt.memory.files.find(event.id)
    before = path.read_bytes()

    def broken(text):
        raise error

    assert Organizer(rt, tagger=broken).run_once() == {"organized": 0, "failed": 1}
    assert path.read_bytes() == before and rt.memory.stats()["unprocessed"] == 1
    assert rt.audit.tail(1)[0].event == "failed"


def test_the_real_model_answers_in_the_schema(chat_rt):
    from runtime.agent import ChatAgent

    tag = llama_tagger(ChatAgent(chat_rt).llama)
    found = tag("Alice flew from Paris to Tokyo to meet engineers at Sony about robots.")
    # Schema-constrained decoding gives tags (an empty answer would be useless), cleaned to short lowercase words.
    assert found.tags and len(found.tags) <= 8 and all(t == t.strip().lower() and len(t) <= 40 for t in found.tags)
