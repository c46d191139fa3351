"""Questions about the person answered from their own notes, through the door: the router plans a
memory search, the Runtime runs it (gate, audit, real SQLite), and grounded.memory_answer quotes the
note or says there is none. Two sets: ours (memory_facts.jsonl) and a blind one written by a helper
who never saw this code (memory_facts_blind.jsonl; its first-contact score is in docs/PERFORMANCE.md)."""

import json

import pytest

from runtime import Runtime, grounded
from runtime.agent import ChatAgent
from runtime.router import Router

from .conftest import ROOT


def answers(rt, name, *, chat: bool = False):
    """(answered right, answerable, said no note, unanswerable, misses) for one facts set: the note
    lookup alone, or (`chat`) whole chat turns with the shipped model, which reads the notes when no
    note holds the question's words."""
    rows = [json.loads(line) for line in (ROOT / "tests" / "data" / name).read_text().splitlines() if line.strip()]
    for row in rows:
        if "fact" in row:
            rt.call("memory_capture", {"content": row["fact"]})
    router = Router(rt.skills)
    agent = ChatAgent(rt) if chat else None
    right = answerable = honest = unanswerable = 0
    misses = []
    for row in (r for r in rows if "question" in r):
        plan = router.plan(row["question"])
        if agent is not None:
            agent.new_conversation()
            reply = agent.turn(row["question"]).reply
        elif [s.skill for s in plan.steps] != ["memory_search"]:
            reply = f"(planned {[s.skill for s in plan.steps]})"
        else:
            reply = grounded.memory_answer(row["question"], rt.call("memory_search", plan.steps[0].args).result) or "(chat)"
        if row["answer"] is None:
            unanswerable += 1
            good = reply.startswith("I have no note")
            honest += good
        else:
            answerable += 1
            good = row["answer"].lower() in reply.lower()
            right += good
        if not good:
            misses.append(f"{row['question']!r} -> {reply[:120]!r}")
    return right, answerable, honest, unanswerable, misses


def test_personal_questions_are_answered_from_the_notes_nine_in_ten(rt):
    right, answerable, honest, unanswerable, misses = answers(rt, "memory_facts.jsonl")
    assert right >= 0.9 * answerable, "\n".join(misses)
    assert honest >= 0.9 * unanswerable, "\n".join(misses)


def test_the_blind_set_holds_its_measured_score(rt):
    """A floor at the score measured after the fixes (first contact: 8/45 and 2/10), so a change that
    loses ground on requests nobody tuned for shows up here."""
    right, _, honest, _, misses = answers(rt, "memory_facts_blind.jsonl")
    assert right >= 30 and honest >= 8, "\n".join(misses)


def test_whole_chat_turns_keep_both_sets_scores(rt, tmp_path):
    """The model reading the notes adds answers the lookup misses ("which city did tom move to" ->
    "Tom lives in Bristol now") and must not cost honesty: floors at the measured scores (the lookup
    alone: 42/45 + 10/10 ours, 32/45 + 8/10 blind)."""
    right, _, honest, _, misses = answers(rt, "memory_facts.jsonl", chat=True)
    assert right >= 42 and honest == 10, "\n".join(misses)
    blind = Runtime(tmp_path / "blind")
    blind.init()
    right, _, honest, _, misses = answers(blind, "memory_facts_blind.jsonl", chat=True)
    blind.close()
    assert right >= 36 and honest >= 7, "\n".join(misses)


@pytest.mark.parametrize(("question", "reply"), [
    ("does my sister eat meat?", "From your notes"),  # "my sister Lea" in one note, "Lea is vegetarian" in another
    ("what are lea's kids called?", "Jonas and Mia"),  # a synonym: the note says children
    ("what shoe size is mia?", "I have no note"),  # Lea's size is noted, not Mia's: not someone else's note
    ("whats my brothers phone number", "I have no note"),  # typed without apostrophes; no note names a brother
])
def test_a_note_answers_in_other_words_but_never_about_someone_else(rt, question, reply):
    for fact in ["My sister Lea's birthday is on May 3.", "Lea is vegetarian, so no meat when she comes over.",
                 "Lea's children are called Jonas and Mia.", "Lea wears shoe size 39.", "Anna's phone number is 0176 5521 9034."]:
        rt.call("memory_capture", {"content": fact})
    (step,) = Router(rt.skills).plan(question).steps
    answer = grounded.memory_answer(question, rt.call("memory_search", step.args).result)
    assert answer is not None and reply in answer, answer


def test_a_general_question_no_note_answers_is_left_to_the_chat(rt):
    rt.call("memory_capture", {"content": "Book club meets on the first Thursday of the month."})
    (step,) = Router(rt.skills).plan("what is the capital of australia?").steps
    assert grounded.memory_answer("what is the capital of australia?", rt.call("memory_search", step.args).result) is None


CAT_NOTES = ["Our cat is Miso, a grey tabby who sleeps on the piano.", "Leo's birthday is on 12 June. Dad's pills are refilled every 90 days.",
             "The plumber comes on Friday. Called Dorian to catch up.",
             "Dr. Hahn moved her practice to Elm Street in March."]  # the fourth is not read (READ_NOTES)


@pytest.mark.parametrize(("question", "reading", "reply"), [
    # the question's words are not the note's ("called" / "is"): the model's reading names the note's sentence
    ("what is my cat called?", "Your cat is called Miso.", "Our cat is Miso, a grey tabby who sleeps on the piano."),
    ("what's my cat's name?", "Miso, the grey tabby.", "Our cat is Miso, a grey tabby who sleeps on the piano."),
    # "called" asks for a name; a note that merely says "Called ..." is not about the cat
    ("what do we call our cat?", "Called Dorian to catch up.", None),
    # an invented answer: no sentence backs "Luna"
    ("what is my cat called?", "Your cat is called Luna.", None),
    # the question said back: nothing read out of the notes
    ("what is my cat called?", "What is my cat called?", None),
    # backed words, but the sentence is not about the thing asked
    ("what is my dog called?", "Your dog is called Miso.", None),
    # "when" wants a date: the sentence that backs the reading must hold one
    ("when does the plumber come round?", "The plumber comes on Friday.", "The plumber comes on Friday."),
    ("when is the plumber coming round?", "The plumber is coming to fix the sink.", None),
    # a note about someone else is not an answer about the person's relation
    ("when is my brother's birthday?", "Your brother's birthday is on 12 June.", None),
    # "how old" wants an age: "every 90 days" is a number, not one
    ("how old is my dad?", "Your dad takes his pills every 90 days.", None),
    # the model read only the search's best three notes: a fourth backs nothing
    ("where is the doctor's practice now?", "On Elm Street.", None),
])
def test_the_models_reading_of_the_notes_is_said_only_in_the_notes_own_words(question, reading, reply):
    result = {"hits": [{"excerpt": text, "timestamp": "2026-11-02T09:00:00+00:00"} for text in CAT_NOTES]}
    answer = grounded.backed_reading(question, grounded.said_words(reading), result)
    assert answer == (None if reply is None else f"From your notes (2026-11-02): {reply}"), answer


def test_the_model_reads_the_best_notes_in_the_form_it_was_trained_on():
    result = {"hits": [{"excerpt": text, "timestamp": "2026-11-02T09:00:00+00:00"} for text in CAT_NOTES]
              + [{"excerpt": "You asked about the cat; the model said Luna.", "unmarked_reply": True}]}
    prompt = grounded.reading_prompt("what is my cat called?", result)
    assert prompt == "what is my cat called?\n\n" + grounded.notes_block(*CAT_NOTES[:grounded.READ_NOTES])
    assert grounded.reading_prompt("what is my cat called?", {"hits": result["hits"][-1:]}) is None  # the model's own guess is no note


def test_a_reading_no_read_note_backs_is_searched_for_in_its_own_words():
    """The adapter may answer from what it learned, past the notes it was shown: the notes are searched
    for its first sentence (it runs on into other notes), and only a sentence found there is said."""
    said = grounded.said_words("My favourite dish is khachapuri, the cheese boat. Coffee with Fenna on Monday.")
    args = grounded.reading_search(said)
    assert args is not None and args["match"] == "any" and args["not_type"] == "conversation"
    assert "khachapuri" in args["query"] and "fenna" not in args["query"]
    assert args["query"].split() == said  # the turn's tool call carries the reading's words back
    found = {"hits": [{"excerpt": text, "timestamp": "2026-10-02T09:00:00+00:00"} for text in CAT_NOTES]
             + [{"excerpt": "Slept badly. My favourite dish: khachapuri, the cheese boat with an egg.", "timestamp": "2026-10-09T09:00:00+00:00"}]}
    assert grounded.backed_reading("what's my favourite dish?", said, found) is None  # not among the notes it read
    assert grounded.backed_reading("what's my favourite dish?", said, found, read=None) == (
        "From your notes (2026-10-09): My favourite dish: khachapuri, the cheese boat with an egg.")
    assert grounded.reading_search(grounded.said_words("What is it?")) is None  # no content word to look for


def test_a_chat_turn_reads_the_notes_and_says_only_what_a_note_says(rt):
    """The real chat turn with the shipped model: no note holds "called", so the model reads the best
    notes; the reply is the note's sentence, and questions no note answers still get "no note"."""
    for fact in ["Our cat is Miso, a grey tabby who sleeps on the piano.", "The plumber comes on Friday to fix the boiler.",
                 "My sister Lea moved to Porto in March."]:
        rt.call("memory_capture", {"content": fact})
    agent = ChatAgent(rt)
    replies = {}
    for question in ("what is my cat called?", "what is my dog called?", "what is my brother called?"):
        agent.new_conversation()
        replies[question] = agent.turn(question).reply
    assert replies["what is my cat called?"].endswith(": Our cat is Miso, a grey tabby who sleeps on the piano."), replies
    assert replies["what is my dog called?"].startswith("I have no note about your dog"), replies
    assert replies["what is my brother called?"].startswith("I have no note about your brother"), replies
    assert "_scorer" not in agent.llama.__dict__  # the base model has learned nothing to recall by


def test_the_search_for_a_reading_is_answered_from_the_turns_own_messages(rt):
    """The second pass keeps nothing on the model object: the reading's words travel in the turn's
    own memory_search call, so a model that never saw the first pass answers the same (before, a
    reading whose search failed lingered in a dict until the question came again)."""
    from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart, UserPromptPart
    from pydantic_ai.models import ModelRequestParameters
    from pydantic_ai.models.function import AgentInfo

    from runtime.agent import shared_router
    from runtime.models.embedded import EmbeddedAgentModel
    from runtime.models.llama import EmbeddedLlama

    question = "what's my favourite dish?"
    first = {"hits": [{"excerpt": text, "timestamp": "2026-10-02T09:00:00+00:00"} for text in CAT_NOTES]}
    said = grounded.said_words("My favourite dish is khachapuri, the cheese boat.")
    second = {"hits": [{"excerpt": "Slept badly. My favourite dish: khachapuri, the cheese boat with an egg.",
                        "timestamp": "2026-10-09T09:00:00+00:00"}]}
    messages = [
        ModelRequest(parts=[UserPromptPart(content=question)]),
        ModelResponse(parts=[ToolCallPart("memory_search", {"query": "favourite dish"}, tool_call_id="a")]),
        ModelRequest(parts=[ToolReturnPart("memory_search", first, tool_call_id="a")]),
        ModelResponse(parts=[ToolCallPart("memory_search", grounded.reading_search(said), tool_call_id="b")]),
        ModelRequest(parts=[ToolReturnPart("memory_search", second, tool_call_id="b")]),
    ]
    model = EmbeddedAgentModel(EmbeddedLlama(None), shared_router(rt.skills), max_tokens=64, temperature=0.0)
    info = AgentInfo(function_tools=[], allow_text_output=True, output_tools=[], model_settings=None,
                     model_request_parameters=ModelRequestParameters(), instructions=None)
    decision = model._decide(messages, info)
    assert decision.text == "From your notes (2026-10-09): My favourite dish: khachapuri, the cheese boat with an egg."
    assert decision.call is None and decision.prompt is None and "_chat" not in model.llama.__dict__  # no model call


def test_recall_chooses_only_among_sentences_about_the_question_and_only_with_a_clear_gain():
    """With an adapter, the chat may answer with the note sentence whose likelihood gains most over a
    question that asks nothing; the candidates are the sentences about the question (one of its
    words, not someone else's, holding what is asked), from the search's best RECALL_NOTES notes."""
    notes = ["Our cat is Miso, a grey tabby. The plumber comes on Friday.", "Leo's cat is called Pepper.",
             "We bought the cat a bed."] + [f"the cat met Rolo, number {i}." for i in range(grounded.RECALL_NOTES)]
    result = {"hits": [{"excerpt": text, "timestamp": "2026-11-02T09:00:00+00:00"} for text in notes]
              + [{"excerpt": "Your cat is called Luna.", "unmarked_reply": True, "timestamp": "2026-11-03T09:00:00+00:00"}]}
    candidates = grounded.recall_candidates("what is my cat called?", result)
    sentences = [sentence for sentence, _ in candidates]
    assert "Our cat is Miso, a grey tabby." in sentences  # about the cat, holds a name
    assert "The plumber comes on Friday." not in sentences  # not about the cat
    assert "We bought the cat a bed." not in sentences  # about the cat, but no name in it
    assert "Leo's cat is called Pepper." not in sentences  # Leo's cat, not mine
    assert "Your cat is called Luna." not in sentences  # the model's own unmarked reply is no note
    met = [s for s in sentences if s.startswith("the cat met Rolo")]
    assert len(met) == grounded.RECALL_NOTES - 3 and "the cat met Rolo, number 7." not in met  # only the best RECALL_NOTES notes
    assert grounded.recall_candidates("when does the plumber come?", result) == [("The plumber comes on Friday.", "2026-11-02")]

    gains = [grounded.MIN_RECALL_GAIN + (3.0 if s.startswith("Our cat") else 0.5) for s in sentences]
    assert grounded.recalled(candidates, gains) == "From your notes (2026-11-02): Our cat is Miso, a grey tabby."
    assert grounded.recalled(candidates, [grounded.MIN_RECALL_GAIN - 0.1] * len(candidates)) is None  # no clear gain: no answer
    assert grounded.recalled([], []) is None
