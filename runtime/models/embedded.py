"""The embedded model as a pydantic-ai model: the router chooses skills, llama.cpp writes the words.

pydantic-ai runs the loop (tools, deferred approvals, history); this decides each model turn from
the messages alone: a new request is planned by the router; while steps remain, the next one is
returned as a tool call (references to earlier results filled in); then llama.cpp answers, with the
results in its context. Nothing is stored between turns, so a resumed run continues correctly.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.messages import ModelResponse as Response
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from .. import extractive, grounded, intent
from ..persona import Persona
from ..router import Plan, PlanStep, Router
from .llama import EmbeddedLlama

EMPTY_REPLY = "Say what you would like: ask me something, or ask me to do something (`mh skills` lists what I can do)."
FOREIGN_REPLY = "I can only work in English for now: the model I run on is small. Ask me in English and I will do my best."
# What the model may say when it reads notes for a question: the sentence that answers, not an essay.
READING_TOKENS = 48


@dataclass
class TurnState:
    request: str
    history: list[dict[str, str]]
    results: list[tuple[str, Any]] = field(default_factory=list)  # (skill, returned content)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (skill, args) this turn asked for


def read_turn(messages: list[ModelMessage]) -> TurnState:
    """The current request, the earlier exchanges as chat messages, and this turn's tool results."""
    start = max(i for i, m in enumerate(messages) if isinstance(m, ModelRequest) and any(isinstance(p, UserPromptPart) for p in m.parts))
    history: list[dict[str, str]] = []
    for message in messages[:start]:
        for part in message.parts:
            if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                history.append({"role": "user", "content": part.content})
            elif isinstance(part, TextPart) and part.content:
                history.append({"role": "assistant", "content": part.content})
    request = next(p.content for p in messages[start].parts if isinstance(p, UserPromptPart))
    state = TurnState(request=str(request), history=history)
    for message in messages[start + 1 :]:
        for part in message.parts:
            if isinstance(part, ToolReturnPart):
                state.results.append((part.tool_name, part.content))
            elif isinstance(part, ToolCallPart):
                state.calls.append((part.tool_name, part.args_as_dict()))
    return state


@dataclass(frozen=True)
class Decision:
    """One model turn: a tool call, or fixed text, or a prompt for llama.cpp (after any fixed text)."""

    call: tuple[str, dict[str, Any]] | None = None
    text: str = ""
    prompt: list[dict[str, str]] | None = None


def failure_of(content: Any) -> str | None:
    if isinstance(content, dict) and content.get("error"):
        fix = f" ({content['fix']})" if content.get("fix") else ""
        return f"{content['error']}{fix}"
    return None


class EmbeddedAgentModel:
    def __init__(self, llama: EmbeddedLlama, router: Router, *, max_tokens: int, temperature: float, persona: Persona | None = None) -> None:
        self.llama = llama
        self.router = router
        self.persona = persona or Persona()
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._plans: dict[str, Plan] = {}

    def pydantic_model(self) -> FunctionModel:
        return FunctionModel(self._respond, stream_function=self._stream, model_name=f"embedded:{self.llama.gguf.name}")

    def plan(self, request: str) -> Plan:
        if request not in self._plans:
            self._plans[request] = self.router.plan(request)
        return self._plans[request]

    # -- deciding a model turn -----------------------------------------------------------------------

    def _decide(self, messages: list[ModelMessage], info: AgentInfo) -> Decision:
        state = read_turn(messages)
        if not state.request.strip():
            return Decision(text=EMPTY_REPLY)
        if intent.is_identity_question(state.request):
            return Decision(text=self.persona.introduction())  # the persona's words, not the model's guess
        plan = self.plan(state.request)
        if intent.is_foreign(state.request) and all(step.skill == "memory_search" for step in plan.steps):
            return Decision(text=FOREIGN_REPLY)  # asked for nothing it can do: the model would only echo it
        if plan.question is not None:
            return Decision(text=plan.question)
        steps = plan.steps
        for skill, content in state.results:
            if (problem := failure_of(content)) is not None:
                return Decision(text=f"{skill} did not work: {problem}")
        done = len(state.results)
        if done < len(steps):
            step = steps[done]
            if step.missing:
                return Decision(text=_ask_for(step))
            return Decision(call=(step.skill, self._resolve(step, state)))
        if not state.results:
            prompt = self._chat_prompt(state, info.instructions)
            cut = prompt[-1]["content"] != state.request
            notice = f"(Your message is longer than my context of {self.llama.n_ctx} tokens; I read only its start.)\n"
            return Decision(text=notice if cut else "", prompt=prompt)
        last_skill, last = state.results[-1]
        if len(steps) == 1 and last_skill == "fs_read":
            return Decision(text=grounded.file_answer(state.request, last))  # the file's own words, never a retelling
        if len(steps) == 1 and state.results[0][0] == "memory_search" and intent.is_question(state.request):
            return self._answer_from_notes(state, info.instructions)
        # Actions are reported in fixed words: a 135M model retelling a JSON result only adds errors.
        return Decision(text="\n".join(self.router.skills.get(skill).say(content) for skill, content in state.results))

    def _answer_from_notes(self, state: TurnState, instructions: str | None) -> Decision:
        """A question the plan searched the notes for: the note that holds its words; else the note
        sentence that backs the model's reading of the best notes; else, with an adapter, the sentence
        it would answer with; else, once, a search for what the model read (its adapter may know the
        note) and the sentence that backs it there; else "no note", or talk for a general question."""
        request, searched = state.request, state.results[0][1]
        if len(state.results) == 1:
            if (quote := grounded.quoted_note(request, searched)) is not None:
                return Decision(text=quote)
            if (prompt := grounded.reading_prompt(request, searched)) is not None:
                messages = ([{"role": "system", "content": instructions}] if instructions else []) + [
                    {"role": "user", "content": self._fit(prompt, READING_TOKENS)}]
                said = grounded.said_words("".join(self.llama.stream_chat(messages, max_tokens=READING_TOKENS, temperature=0.0)))
                if (quote := grounded.backed_reading(request, said, searched)) is not None:
                    return Decision(text=quote)
                if self.llama.lora is not None and (quote := self._recall(request, searched, instructions)) is not None:
                    return Decision(text=quote)
                if (args := grounded.reading_search(said)) is not None:
                    return Decision(call=("memory_search", args))
        elif len(state.results) == 2:  # the search for what the model read: its words are that call's query
            said = state.calls[-1][1]["query"].split()
            if (quote := grounded.backed_reading(request, said, state.results[-1][1], read=None)) is not None:
                return Decision(text=quote)
        if (reply := grounded.no_note(request, searched)) is not None:
            return Decision(text=reply)
        return Decision(prompt=self._chat_prompt(state, instructions))  # a general question: no note, so talk

    def _recall(self, request: str, searched: dict[str, Any], instructions: str | None) -> str | None:
        """The note sentence the adapter would answer with (grounded.recalled): only with an adapter,
        since the base model has learned nothing about the person to choose by."""
        candidates = grounded.recall_candidates(request, searched)
        if not candidates:
            return None
        system = [{"role": "system", "content": instructions}] if instructions else []
        sentences = [sentence for sentence, _ in candidates]
        asked = self.llama.answer_logprobs([*system, {"role": "user", "content": request}], sentences)
        baseline = self.llama.answer_logprobs([*system, {"role": "user", "content": grounded.RECALL_BASELINE}], sentences)
        if asked is None or baseline is None:
            return None  # a question too long to score
        return grounded.recalled(candidates, [a - b for a, b in zip(asked, baseline, strict=True)])

    def _resolve(self, step: PlanStep, state: TurnState) -> dict[str, Any]:
        args = {}
        for name, value in step.args.items():
            if isinstance(value, dict) and "from_step" in value:
                skill, result = state.results[value["from_step"]]
                value = self._take(result, value["take"], skill)
            args[name] = value
        return args

    def _take(self, result: Any, take: str, skill: str) -> Any:
        if take == "first_path":
            entries = [e for e in (result or {}).get("entries", []) if e.get("type") == "file"]
            return entries[0]["path"] if entries else "(no file found)"
        if take == "said":
            return self.router.skills.get(skill).say(result)
        content = str((result or {}).get("content", ""))
        if take == "content":
            return content
        # An extractive summary: the 135M model's own summaries invent text.
        found = extractive.summary(content)
        return f"Summary of {(result or {}).get('path', 'the file')} (its own sentences, extractive):\n{found.text}\n"

    def _chat_prompt(self, state: TurnState, instructions: str | None) -> list[dict[str, str]]:
        system = instructions or ""
        request = self._fit(state.request, self.max_tokens)
        return [{"role": "system", "content": system}, *self._fit_history(state.history, system + request),
                {"role": "user", "content": request}]

    def _fit(self, text: str, reserve: int) -> str:
        """Cut text so that it, the answer (`reserve` tokens) and some framing fit the context."""
        budget = self.llama.n_ctx - reserve - 256
        if len(text) < budget:  # fewer characters than tokens available: it fits for sure
            return text
        tokens = self.llama.count_tokens(text)
        if tokens <= budget:
            return text
        keep = int(len(text) * budget / tokens * 0.95)
        return text[:keep] + f"\n[... cut: the text was {tokens} tokens, more than the model's context holds]"

    def _fit_history(self, history: list[dict[str, str]], current: str) -> list[dict[str, str]]:
        budget = self.llama.n_ctx - self.max_tokens - 256 - self.llama.count_tokens(current)
        kept: list[dict[str, str]] = []
        for message in reversed(history):
            cost = len(message["content"]) // 2 + 8  # cheap upper-ish bound; exact counting is not needed
            if cost > budget:
                break
            budget -= cost
            kept.insert(0, message)
        return kept

    # -- pydantic-ai entry points ---------------------------------------------------------------------

    def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> Response:
        decision = self._decide(messages, info)
        if decision.call is not None:
            return ModelResponse(parts=[ToolCallPart(*decision.call)])
        generated = "".join(self._generate(decision.prompt)) if decision.prompt else ""
        return ModelResponse(parts=[TextPart(decision.text + generated)])

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | dict[int, DeltaToolCall]]:
        decision = self._decide(messages, info)
        if decision.call is not None:
            yield {0: DeltaToolCall(name=decision.call[0], json_args=json.dumps(decision.call[1]))}
            return
        if decision.text:
            yield decision.text
        if decision.prompt:
            for delta in self._generate(decision.prompt):
                yield delta

    def _generate(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """The model's words, a sentence at a time, so a reply that runs out of tokens ends at its
        last whole sentence instead of mid-way."""
        pending = ""
        said = False
        for delta in self.llama.stream_chat(messages, max_tokens=self.max_tokens, temperature=self.temperature):
            pending += delta
            if (end := _last_sentence_end(pending)) > 0:
                yield pending[:end]
                pending, said = pending[end:], True
        if self.llama.finish_reason != "length":
            if pending.strip():
                yield pending
        elif pending.strip() and not said:
            yield extractive.complete_sentences(pending)


SENTENCE_END = re.compile(r"[.!?…][\"')\]]*\s+|\n")


def _last_sentence_end(text: str) -> int:
    ends = [m.end() for m in SENTENCE_END.finditer(text)]
    return ends[-1] if ends else 0


def _ask_for(step: PlanStep) -> str:
    names = " and ".join(step.missing)
    examples = {"path": "a file name such as out/notes.txt", "content": "the text in quotes", "query": "what to look for"}
    hints = "; ".join(examples.get(name, name) for name in step.missing)
    return f"I can do that with {step.skill}, but I need the {names}: {hints}."
