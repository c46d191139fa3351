"""No poisoning: the model's own replies are saved as its words, not the person's. They are not
trained on until the person marks them good, they rank below the person's own words in search, and
the grounded answers never quote them as a fact about the person. Marking and forgetting are the
person's, through the door (`mh memory mark-good|forget`, `/good` and `/forget` in `mh chat`)."""

import json
import sqlite3

from pydantic_ai import ModelResponse, TextPart
from pydantic_ai.models.function import FunctionModel

from runtime import CallStatus, Session
from runtime.agent import ChatAgent
from runtime.datasets.build import UNMARKED_REPLY
from runtime.datasets.store import DatasetStore
from runtime.grounded import memory_answer
from runtime.memory import MemoryStore

from .conftest import run_mh

NOTE = "the spare key is under the blue pot"
INVENTED = "Your spare key is in the closet, next to the spare key hook."


def inventing_model() -> FunctionModel:
    """A model that answers a question about the person with an invention, as the 135M base model does."""
    response = ModelResponse(parts=[TextPart(INVENTED)])

    async def stream(messages, info):
        yield INVENTED

    return FunctionModel(lambda messages, info: response, stream_function=stream)


def chat_exchange(rt) -> str:
    """One chat turn, saved the way every chat turn is (the person's conversation_save); its memory id."""
    turn = ChatAgent(rt, pydantic_model=inventing_model(), person=Session.person_at("chat")).turn("where is my spare key?")
    assert turn.reply == INVENTED and turn.memory_id
    return turn.memory_id


def raw_pairs(rt) -> tuple[list[dict], dict]:
    built = rt.call("dataset_build", {})
    assert built.status is CallStatus.ok, built
    lines = DatasetStore(rt.home).raw(built.result["id"]).read_text().splitlines()
    return [json.loads(line) for line in lines], built.result["skipped"]


def test_a_saved_exchange_is_typed_the_persons_words_and_the_models_unmarked_reply(rt):
    memory_id = chat_exchange(rt)
    saved = json.loads(rt.memory.files.find(memory_id).read_text())
    assert (saved["type"], saved["content"], saved["response"]) == ("conversation", "where is my spare key?", INVENTED)
    assert saved["metadata"]["marked_good"] is False and saved["metadata"]["source"] == "chat"
    shown = run_mh(rt.home.root, "memory", "show", memory_id, check=True).stdout
    assert f"the model's reply (not trained on; `mh memory mark-good {memory_id}` to train on it): {INVENTED}" in shown


def test_the_persons_note_outranks_the_models_reply_and_is_what_the_answer_quotes(rt):
    note = rt.call("memory_capture", {"content": NOTE}).result["id"]
    memory_id = chat_exchange(rt)
    hits = rt.memory.search("spare key")
    assert [h.unmarked_reply for h in hits] == [False, True] and hits[1].id == memory_id
    # It is the rule that orders them, not the words: on words alone the reply (which says "spare key"
    # three times with the question) scores higher than the note.
    assert hits[1].score > hits[0].score
    found = rt.call("memory_search", {"query": "spare key"}).result
    assert [h["unmarked_reply"] for h in found["hits"]] == [False, True]
    answer = memory_answer("Where is my spare key?", found)
    assert answer.endswith(NOTE) and "closet" not in answer
    listed = run_mh(rt.home.root, "remember", "spare key", check=True).stdout
    assert listed.index(note) < listed.index(f"{memory_id} ") < listed.index("[conversation, model reply not marked good]")


def test_an_unmarked_reply_alone_is_never_quoted_as_a_fact_about_the_person(rt):
    chat_exchange(rt)
    found = rt.call("memory_search", {"query": "spare key"}).result
    assert len(found["hits"]) == 1 and found["hits"][0]["unmarked_reply"]
    assert memory_answer("Where is my spare key?", found) == "I have no note about your spare key. Tell me, and I will remember it."


def test_chat_replies_are_not_trained_on_unless_marked_good(rt):
    for i in range(3):
        rt.memory.add(type="note", content=f"{NOTE}, and the bike lock code is written on card {i}", source="capture:person@cli")
    memory_id = chat_exchange(rt)
    pairs, skipped = raw_pairs(rt)
    assert not any("closet" in pair["output"] for pair in pairs)
    assert skipped[UNMARKED_REPLY] == 1
    marked = run_mh(rt.home.root, "memory", "mark-good", memory_id, check=True).stdout
    assert marked.strip() == f"Marked good: {memory_id} (its reply may be trained on)."
    assert "Already marked good" in run_mh(rt.home.root, "memory", "mark-good", memory_id, check=True).stdout
    pairs, skipped = raw_pairs(rt)
    (pair,) = [pair for pair in pairs if pair["meta"].get("memory") == memory_id]
    assert (pair["instruction"], pair["output"], pair["meta"]["marked_good"]) == ("where is my spare key?", INVENTED, True)
    assert UNMARKED_REPLY not in skipped
    event = rt.memory.get(memory_id)
    assert event.metadata.marked_good and event.metadata.marked_good_by == "person@cli"
    assert [h.unmarked_reply for h in rt.memory.search("closet")] == [False]
    (entry,) = [e for e in rt.audit.entries() if (e.category, e.event) == ("memory", "marked_good")]
    assert entry.actor == "person@cli" and entry.details == {"memory": memory_id}


def test_only_a_chat_reply_can_be_marked_good(rt):
    note = rt.call("memory_capture", {"content": NOTE}).result["id"]
    refused = run_mh(rt.home.root, "memory", "mark-good", note)
    assert refused.returncode == 1 and "no reply of the model to mark" in refused.stderr
    assert not rt.memory.get(note).metadata.marked_good


def test_forget_removes_the_memory_from_files_and_index_audited_without_its_words(rt):
    memory_id = chat_exchange(rt)
    path = rt.memory.files.find(memory_id)
    rt.set_trust("observe")
    assert run_mh(rt.home.root, "memory", "forget", memory_id).returncode == 3 and path.exists()
    rt.set_trust("suggest")
    said = run_mh(rt.home.root, "memory", "forget", memory_id, check=True).stdout
    assert said.strip() == f"Forgot {memory_id} (conversation)."
    assert not path.exists() and rt.memory.search("closet") == [] and rt.memory.stats()["total"] == 0
    assert rt.memory.reindex().indexed == 0  # gone from the files too: a rebuild does not bring it back
    again = run_mh(rt.home.root, "memory", "forget", memory_id)
    assert again.returncode == 1 and f"no memory {memory_id}" in again.stderr
    (entry,) = [e for e in rt.audit.entries() if (e.category, e.event) == ("memory", "forgotten")]
    assert entry.actor == "person@cli" and entry.details["memory"] == memory_id and entry.details["type"] == "conversation"
    assert "closet" not in json.dumps(entry.details)


def test_the_agent_can_neither_mark_its_own_reply_good_nor_forget_a_memory(rt, agent):
    memory_id = chat_exchange(rt)
    rt.set_trust("bounded_auto")
    for skill in ("memory_mark_good", "memory_forget"):
        outcome = rt.call(skill, {"id": memory_id}, session=agent)
        assert outcome.status is CallStatus.denied and "never the agent's" in outcome.reason
    assert not rt.memory.get(memory_id).metadata.marked_good


def test_an_old_homes_index_and_conversations_stay_readable_and_count_as_unmarked(rt):
    note = rt.memory.add(type="note", content=NOTE, source="t")
    old = rt.memory.add(type="conversation", content="where is my spare key?", response=INVENTED, source="chat")
    path = rt.memory.files.find(old.id)
    saved = json.loads(path.read_text())
    del saved["metadata"]["marked_good"]  # a file written before replies could be marked
    saved["metadata"]["source"] = "chat"
    path.write_text(json.dumps(saved))
    with sqlite3.connect(rt.home.memory_index) as db:  # an index built before the column existed
        db.execute("alter table memories drop column unmarked_reply")
    store = MemoryStore(rt.home)
    assert [(h.id, h.unmarked_reply) for h in store.search("spare key")] == [(note.id, False), (old.id, True)]
    assert not store.get(old.id).metadata.marked_good
    assert store.reindex().indexed == 2 and [h.id for h in store.search("spare key")] == [note.id, old.id]


def test_good_and_forget_in_mh_chat_act_on_the_last_reply(rt, monkeypatch, capsys):
    """`mh chat`'s own loop, its lines typed in: /good marks the first exchange, /forget removes the second."""
    from runtime.cli.chat_cmd import _interactive

    lines = iter(["/good", "hi", "/good", "hello", "/forget", "/good evt-missing", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    _interactive(rt, ChatAgent(rt, pydantic_model=inventing_model(), person=Session.person_at("chat")))
    (kept,) = [event for _, event in rt.memory.events()]
    assert kept.content == "hi" and kept.metadata.marked_good and kept.metadata.marked_good_by == "person@chat"
    out, err = capsys.readouterr()
    assert "no reply saved in this chat yet" in out  # /good before any exchange marks nothing
    assert f"Marked good: {kept.id}" in out and "Forgot evt-" in out and "no memory evt-missing" in err
    forgotten = [e for e in rt.audit.entries() if (e.category, e.event) == ("memory", "forgotten")]
    assert [e.actor for e in forgotten] == ["person@chat"] and forgotten[0].details["memory"] != kept.id


def test_asking_the_chat_gets_the_persons_note_not_the_invented_reply(chat_rt):
    """The real embedded model's turn, after an exchange in which a model invented the answer."""
    chat_exchange(chat_rt)
    agent = ChatAgent(chat_rt)
    assert agent.turn("Where is my spare key?").reply == "I have no note about your spare key. Tell me, and I will remember it."
    chat_rt.call("memory_capture", {"content": NOTE})
    asked = agent.turn("Where is my spare key?")
    assert asked.reply.startswith("From your notes") and asked.reply.endswith(NOTE) and "closet" not in asked.reply
    searched = agent.turn("Search my memories for spare key")
    assert [c.skill for c in searched.calls] == ["memory_search"]
    # The note first; then the saved exchanges (the invented one and this chat's own turns), each labelled the model's.
    kinds = [line.split("[", 1)[1].split("]", 1)[0] for line in searched.reply.splitlines()[1:]]
    assert kinds[0] == "note" and set(kinds[1:]) == {"conversation, model reply"} and len(kinds) == 4
