"""The agent loop on the real embedded model, and on pydantic-ai test doubles for hostile replies."""

import json

import pytest
from pydantic_ai import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import DeltaToolCall, FunctionModel

from runtime import CallStatus, Session
from runtime.agent import ChatAgent
from runtime.errors import MhError


def double(response: ModelResponse) -> FunctionModel:
    """A pydantic-ai model that always gives `response`, streamed or not."""

    async def stream(messages, info):
        for part in response.parts:
            if isinstance(part, TextPart):
                yield part.content
            else:
                args = part.args if isinstance(part.args, str) else json.dumps(part.args)
                yield {0: DeltaToolCall(name=part.tool_name, json_args=args)}

    return FunctionModel(lambda messages, info: response, stream_function=stream)


def memories(rt):
    return [json.loads(p.read_text()) for p in sorted((rt.home.root / "memory" / "episodic").rglob("evt-*.json"))]


def test_reading_a_file_shows_its_own_lines(chat_rt):
    turn = ChatAgent(chat_rt).turn("Read the README.md file")
    assert [(c.skill, c.status) for c in turn.calls] == [("fs_read", CallStatus.ok)]
    assert turn.reply == "README.md:\n# Garden notes\n\nThis home belongs to Alex, who grows tomatoes and basil."


def test_a_summary_or_a_question_about_a_file_is_answered_from_its_sentences(chat_rt):
    (chat_rt.home.out / "notes.txt").write_text(
        "Garden plan. The tomatoes go in the south bed in May. Basil needs water every second day. "
        "The shed key hangs behind the door. Compost is turned on Sundays. The hose leaks at the tap.\n" * 3)
    agent = ChatAgent(chat_rt)
    turn = agent.turn("summarize out/notes.txt")
    assert [c.skill for c in turn.calls] == ["fs_read"] and "extractive summary" in turn.reply
    body = turn.reply.split("\n", 1)[1]
    assert all(line.removeprefix("- ") in (chat_rt.home.out / "notes.txt").read_text() for line in body.splitlines())
    turn = agent.turn("what does out/notes.txt say about the shed key?")
    assert "The shed key hangs behind the door." in turn.reply and turn.reply.startswith("From out/notes.txt:")


def test_a_question_about_the_person_is_answered_from_memory(chat_rt):
    chat_rt.call("memory_capture", {"content": "The spare key is under the blue pot by the back door."})
    agent = ChatAgent(chat_rt)
    turn = agent.turn("where is my spare key?")
    assert [c.skill for c in turn.calls] == ["memory_search"]
    assert "under the blue pot" in turn.reply and turn.reply.startswith("From your notes")
    assert agent.turn("what do you remember about my sister?").reply.startswith("I have no note about your sister.")


def test_who_it_is_comes_from_the_persona_and_an_empty_request_gets_a_short_reply(chat_rt):
    (chat_rt.home.persona / "core.json").write_text('{"name": "Juniper"}')
    agent = ChatAgent(chat_rt)
    assert agent.turn("who are you?").reply.startswith("I'm Juniper,")
    assert agent.turn("   ").reply.startswith("Say what you would like")


def test_a_request_in_another_language_gets_a_short_reply_not_an_echo(chat_rt):
    agent = ChatAgent(chat_rt)
    for text in ["¿Dónde está la llave?", "Где мой ключ?", "私の鍵はどこ"]:
        turn = agent.turn(text)
        assert turn.reply.startswith("I can only work in English") and turn.calls == [], text
    turn = agent.turn("remember that Zoë likes crème brûlée")  # an English request with foreign words still acts
    assert [c.skill for c in turn.calls] == ["memory_capture"]


def test_a_turn_without_tools_is_a_plain_answer_and_is_remembered(chat_rt):
    agent = ChatAgent(chat_rt)
    turn = agent.turn("hi")
    assert turn.calls == [] and turn.reply
    (saved,) = memories(chat_rt)
    assert (saved["type"], saved["content"], saved["response"]) == ("conversation", "hi", turn.reply)
    assert saved["metadata"]["source"] == "chat" and saved["id"] == turn.memory_id
    assert chat_rt.audit.tail(1)[0].event == "turn"


def test_low_risk_runs_at_supervised_auto_and_history_is_kept(chat_rt):
    chat_rt.set_trust("supervised_auto")
    agent = ChatAgent(chat_rt)
    turn = agent.turn("Create a file out/test.txt containing 'MetaHuman Operator Test'")
    assert turn.reply == "Created out/test.txt (23 bytes)."
    assert (chat_rt.home.out / "test.txt").read_text() == "MetaHuman Operator Test"
    agent.turn("hi")
    assert len(agent.messages) > 4  # both turns are in the history the next turn sees


def test_medium_risk_waits_for_approval_then_the_turn_resumes(chat_rt):
    chat_rt.set_trust("suggest")
    (chat_rt.home.out / "test.txt").write_text("x")
    agent = ChatAgent(chat_rt)
    turn = agent.turn("Delete out/test.txt")
    (pending,) = turn.pending
    assert pending.skill == "fs_delete" and pending.approval_id in turn.reply
    assert (chat_rt.home.out / "test.txt").exists()
    assert agent.resume() is None  # nothing resolved yet

    chat_rt.approve(pending.approval_id, by="person@test")
    resumed = agent.resume()
    assert resumed.reply == "Deleted out/test.txt." and not agent.pending
    assert not (chat_rt.home.out / "test.txt").exists()


def test_a_rejected_request_is_reported_and_nothing_runs(chat_rt):
    (chat_rt.home.out / "keep.txt").write_text("x")
    agent = ChatAgent(chat_rt)
    pending = agent.turn("Delete out/keep.txt").pending[0]
    chat_rt.reject(pending.approval_id, by="person@test", reason="I need it")
    assert "rejected by person@test: I need it" in agent.resume().reply
    assert (chat_rt.home.out / "keep.txt").exists()


def test_a_denied_call_is_explained(chat_rt):
    chat_rt.set_trust("observe")
    turn = ChatAgent(chat_rt).turn("Create a file out/a.txt containing 'x'")
    assert turn.calls[0].status is CallStatus.denied
    assert "fs_write did not work" in turn.reply and "observe" in turn.reply
    assert not (chat_rt.home.out / "a.txt").exists()


def test_the_multi_step_seed_request_runs_end_to_end(chat_rt):
    chat_rt.set_trust("supervised_auto")
    docs = chat_rt.home.root / "docs"
    docs.mkdir()
    (docs / "a-guide.md").write_text("The guide explains how to water tomatoes every morning.\n")
    (docs / "b-notes.md").write_text("Other notes.\n")
    turn = ChatAgent(chat_rt).turn(
        "List markdown files in docs/, read the first one, and create a summary in out/doc-summary.txt")
    assert [c.skill for c in turn.calls] == ["fs_list", "fs_read", "fs_write"]
    assert turn.calls[1].args == {"path": "docs/a-guide.md"}
    summary = (chat_rt.home.out / "doc-summary.txt").read_text()
    assert summary.strip() and summary != (docs / "a-guide.md").read_text()


def test_a_missing_argument_is_asked_for(chat_rt):
    turn = ChatAgent(chat_rt).turn("delete the file")
    assert turn.calls == [] and "need the path" in turn.reply


def test_a_prompt_longer_than_the_context_is_cut_with_a_notice(chat_rt):
    chat_rt_cfg = chat_rt.home.config_file("agent.json")
    chat_rt_cfg.write_text(json.dumps({"n_ctx": 512, "max_tokens": 16}))
    turn = ChatAgent(chat_rt).turn("tell me about gardens. " * 400)
    assert turn.reply.startswith("(Your message is longer than my context of 512 tokens")


def test_yolo_session_runs_what_would_wait(chat_rt):
    (chat_rt.home.out / "gone.txt").write_text("x")
    session = Session(actor="agent")
    chat_rt.set_yolo(session, True)
    turn = ChatAgent(chat_rt, session=session).turn("Delete out/gone.txt")
    assert turn.reply == "Deleted out/gone.txt." and not turn.pending


@pytest.mark.parametrize(
    "reply",
    [
        ModelResponse(parts=[ToolCallPart("fs_nuke", {"path": "/"})]),  # a skill that does not exist
        ModelResponse(parts=[ToolCallPart("fs_write", "{not json")]),  # arguments that are not JSON
        ModelResponse(parts=[ToolCallPart("fs_write", {"path": "../../etc/x", "content": 1})]),  # wrong types
    ],
)
def test_a_model_that_calls_nonsense_gets_a_clear_message_and_nothing_runs(rt, reply):
    agent = ChatAgent(rt, pydantic_model=double(reply))
    with pytest.raises(MhError, match="could not be used"):
        agent.turn("do something")
    starts = [e for e in rt.audit.entries() if e.category == "skill" and e.event in ("start", "result")]
    assert starts == []
    assert agent.messages == []  # no half turn kept: the next turn starts clean, the chat goes on


def test_a_double_that_answers_in_text_goes_through_the_loop(rt):
    agent = ChatAgent(rt, pydantic_model=double(ModelResponse(parts=[TextPart("hello")])))
    assert agent.turn("hi").reply == "hello"


def test_the_exchange_is_saved_by_the_person_and_not_at_observe(rt):
    agent = ChatAgent(rt, pydantic_model=double(ModelResponse(parts=[TextPart("hello")])),
                      person=Session.person_at("console"))
    first = agent.turn("hi")
    assert rt.memory.get(first.memory_id).response == "hello"
    assert rt.audit.tail(2, category="skill")[-1].actor == "person@console"
    rt.set_trust("observe")
    second = agent.turn("hi again")
    assert second.reply == "hello" and second.memory_id is None and len(memories(rt)) == 1


def test_plan_executes_nothing(chat_rt):
    plan = ChatAgent(chat_rt).plan("Delete out/test.txt")
    assert [s.skill for s in plan.steps] == ["fs_delete"]
    assert not any(e.category in ("skill", "approval") for e in chat_rt.audit.entries())


def test_a_missing_or_corrupt_gguf_is_a_clear_error(rt, tmp_path):
    with pytest.raises(MhError, match="no model file"):
        ChatAgent(rt, model=str(tmp_path / "missing.gguf")).turn("hi")
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(MhError, match="could not load"):
        ChatAgent(rt, model=str(corrupt)).turn("hi")
    notgguf = tmp_path / "text.gguf"
    notgguf.write_text("hello")
    with pytest.raises(MhError, match="not a GGUF file"):
        ChatAgent(rt, model=str(notgguf)).turn("hi")
