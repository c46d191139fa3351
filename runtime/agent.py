"""The agent loop (pydantic-ai): every skill is a tool, and every tool call goes through Runtime.call,
so the trust gate, the approval queue and the audit log apply to the agent exactly as to the person.

A queued call ends the turn (pydantic-ai's deferred tools) naming the approval id; once the request
is approved (CLI, console, API) the run resumes with the approval's result.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, Field

from .approvals import ApprovalStatus
from .errors import MhError
from .models.llama import EmbeddedLlama, ModelError
from .persona import load_persona
from .router import Plan, PlanStep, Router
from .router import shared as shared_router
from .runtime import CallStatus, Runtime, Session


class ToolCallRecord(BaseModel):
    skill: str
    args: dict[str, Any]
    status: CallStatus
    approval_id: str | None = None
    error: str | None = None


class PendingApproval(BaseModel):
    approval_id: str
    skill: str
    args: dict[str, Any]
    tool_call_id: str


class TurnResult(BaseModel):
    reply: str
    calls: list[ToolCallRecord] = Field(default_factory=list)
    pending: list[PendingApproval] = Field(default_factory=list)
    memory_id: str | None = None


class ChatEvent(BaseModel):
    kind: Literal["text", "tool", "done"]
    text: str = ""
    call: ToolCallRecord | None = None
    result: TurnResult | None = None


def waiting_line(pending: list[PendingApproval]) -> str:
    waiting = ", ".join(f"{p.approval_id} ({p.skill} {p.args})" for p in pending)
    return f"Waiting for your approval: {waiting}. Approve with `mh approvals approve ID`."


class ChatAgent:
    def __init__(
        self, runtime: Runtime, *, session: Session | None = None, model: str | None = None, pydantic_model=None,
        person: Session | None = None,
    ) -> None:
        """`model` overrides etc/agent.json's model name or GGUF path; `pydantic_model` replaces the
        model outright (a pydantic-ai test double such as FunctionModel, in tests). `person` is the
        person's session that saves each exchange in memory (default: the runtime's person): the
        saving is the person's `conversation_save`, never a tool of the agent."""
        self.runtime = runtime
        self._routed = pydantic_model is None  # the router plans only for the embedded model it drives
        if pydantic_model is not None:
            self.model = pydantic_model
        self.session = session or Session(actor="agent")
        self.person = person or runtime.person
        cfg = runtime.agent_config()
        self.config = cfg.model_copy(update={"model": model}) if model else cfg
        self.messages: list = []
        self.pending: list[PendingApproval] = []
        self._calls: list[ToolCallRecord] = []

    # -- models -----------------------------------------------------------------------------------

    @cached_property
    def llama(self) -> EmbeddedLlama:
        from pathlib import Path

        cfg = self.config
        lora = self._active_adapter()
        return EmbeddedLlama(Path(cfg.model) if cfg.model else None, n_ctx=cfg.n_ctx, threads=cfg.threads, lora=lora)

    def warm_up(self) -> None:
        """Start loading the embedded model now, in the background (see EmbeddedLlama.preload)."""
        if self.config.provider == "embedded" and self._routed:
            self.llama.preload()

    def _active_adapter(self):
        from pathlib import Path

        from .training.registry import active_record

        record = active_record(self.runtime.home)
        return Path(record["gguf"]) if record and record.get("gguf") else None

    @cached_property
    def router(self) -> Router:
        return shared_router(self.runtime.skills)

    @cached_property
    def embedded(self):
        from .models.embedded import EmbeddedAgentModel

        return EmbeddedAgentModel(self.llama, self.router, max_tokens=self.config.max_tokens, temperature=self.config.temperature,
                                  persona=load_persona(self.runtime.home))

    @cached_property
    def model(self):
        if self.config.provider == "embedded":
            return self.embedded.pydantic_model()
        from .models.remote import build_remote_model

        return build_remote_model(self.config)

    @cached_property
    def agent(self):
        from pydantic_ai import Agent, DeferredToolRequests

        return Agent(
            self.model,
            tools=[self._tool(item) for item in self.runtime.skills.for_agent()],
            output_type=[str, DeferredToolRequests],
            instructions=load_persona(self.runtime.home).system_prompt(),
        )

    def _tool(self, item, call: Callable[..., Any] | None = None):
        from pydantic_ai import Tool

        return Tool.from_schema(
            call or self._skill_caller(item.id), name=item.id, description=item.description,
            json_schema=item.input_model.model_json_schema(),
        )

    def _skill_caller(self, skill_id: str) -> Callable[..., Any]:
        from pydantic_ai import CallDeferred, ModelRetry

        from .errors import SkillInputError

        def call(**args: Any) -> Any:
            try:
                outcome = self.runtime.call(skill_id, args, session=self.session)
            except SkillInputError as exc:
                raise ModelRetry(str(exc)) from None
            record = ToolCallRecord(skill=skill_id, args=args, status=outcome.status, approval_id=outcome.approval_id,
                                    error=outcome.error or (outcome.reason if outcome.status is CallStatus.denied else None))
            self._calls.append(record)
            if outcome.status is CallStatus.queued:
                raise CallDeferred(metadata={"approval_id": outcome.approval_id, "skill": skill_id})
            if outcome.status is CallStatus.ok:
                return outcome.result
            return {"error": record.error, "fix": outcome.fix}

        return call

    def new_conversation(self) -> None:
        """Forget this chat's history and pending approvals; the next turn is a session of its own."""
        self.session = Session(actor="agent")
        self.messages, self.pending = [], []

    # -- turns ------------------------------------------------------------------------------------

    async def stream(self, text: str | None, *, deferred=None) -> AsyncIterator[ChatEvent]:
        """One turn (or the resumption of one), as events: text deltas, tool calls, then done."""
        from pydantic_ai import AgentRunResultEvent, FunctionToolResultEvent, PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta

        self._calls = []
        reply: list[str] = []
        result = None
        try:
            async with self.agent.run_stream_events(
                text, message_history=self.messages or None, deferred_tool_results=deferred
            ) as events:
                async for event in events:
                    delta = None
                    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                        delta = event.part.content
                    elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                        delta = event.delta.content_delta
                    elif isinstance(event, FunctionToolResultEvent) and self._calls:
                        yield ChatEvent(kind="tool", call=self._calls[-1])
                    elif isinstance(event, AgentRunResultEvent):
                        result = event.result
                    if delta:
                        reply.append(delta)
                        yield ChatEvent(kind="text", text=delta)
        except MhError:
            raise
        except Exception as exc:
            raise self._model_failure(exc) from exc
        turn = self._finish(text, "".join(reply), result)
        if turn.pending:
            yield ChatEvent(kind="text", text=("\n" if reply else "") + waiting_line(turn.pending))
        yield ChatEvent(kind="done", result=turn)

    def _model_failure(self, exc: Exception) -> MhError:
        from pydantic_ai.exceptions import ModelAPIError, UnexpectedModelBehavior

        if self.config.provider != "embedded" and isinstance(exc, (ModelAPIError, OSError)):
            from .models.remote import unreachable

            return unreachable(self.config, exc)
        if isinstance(exc, UnexpectedModelBehavior):
            return ModelError(f"the model's reply could not be used: {exc}", fix="ask again, more plainly")
        raise exc

    def _finish(self, text: str | None, reply: str, result) -> TurnResult:
        from pydantic_ai import DeferredToolRequests

        self.messages = result.all_messages() if result is not None else self.messages
        output = result.output if result is not None else reply
        self.pending = []
        if isinstance(output, DeferredToolRequests):
            for call in output.calls:
                meta = output.metadata.get(call.tool_call_id, {})
                self.pending.append(PendingApproval(approval_id=meta.get("approval_id", "?"), skill=call.tool_name,
                                                    args=call.args_as_dict(), tool_call_id=call.tool_call_id))
            reply = (reply + "\n" if reply else "") + waiting_line(self.pending)
        elif isinstance(output, str) and not reply:
            reply = output
        turn = TurnResult(reply=reply.strip(), calls=self._calls, pending=self.pending)
        if text is not None or not self.pending:
            turn.memory_id = self._remember(text, turn)
        return turn

    def _remember(self, text: str | None, turn: TurnResult) -> str | None:
        """Save the exchange as the person; None when the gate refuses it (at `observe`) or it
        fails: the answer stands either way."""
        tools = [c.skill for c in turn.calls]
        outcome = self.runtime.call("conversation_save", {
            "content": text or "(resumed after approval)", "response": turn.reply, "session": self.session.id,
            "provider": self.config.provider, "tools": tools}, session=self.person)
        memory_id = outcome.result["id"] if outcome.status is CallStatus.ok else None
        self.runtime.audit.append("agent", "turn", details={"session": self.session.id, "memory": memory_id,
                                  "tools": tools, "pending": [p.approval_id for p in turn.pending]},
                                  actor=self.session.actor)
        return memory_id

    def turn(self, text: str, on_text: Callable[[str], None] | None = None) -> TurnResult:
        return asyncio.run(self._collect(self.stream(text), on_text))

    def resume(self, on_text: Callable[[str], None] | None = None) -> TurnResult | None:
        """Continue a turn that waited for approvals, once every one of them is resolved."""
        from pydantic_ai import DeferredToolResults

        if not self.pending:
            return None
        results: dict[str, Any] = {}
        for item in self.pending:
            approval = self.runtime.approvals.get(item.approval_id)
            if approval.status in (ApprovalStatus.pending, ApprovalStatus.approved):
                return None
            if approval.status is ApprovalStatus.executed:
                results[item.tool_call_id] = approval.result
            else:
                why = approval.error or approval.note or ""
                results[item.tool_call_id] = {"error": f"{approval.status} by {approval.resolved_by}" + (f": {why}" if why else "")}
        return asyncio.run(self._collect(self.stream(None, deferred=DeferredToolResults(calls=results)), on_text))

    async def _collect(self, events: AsyncIterator[ChatEvent], on_text) -> TurnResult:
        async for event in events:
            if event.kind == "text" and on_text:
                on_text(event.text)
            elif event.kind == "done":
                return event.result  # type: ignore[return-value]
        raise AssertionError("the event stream ended without a result")

    # -- planning ---------------------------------------------------------------------------------

    def plan(self, text: str) -> Plan:
        """The skill calls the agent would make, executing nothing."""
        if self.config.provider == "embedded" and self._routed:
            return self.embedded.plan(text)
        return asyncio.run(self._dry_run(text))

    async def _dry_run(self, text: str) -> Plan:
        from pydantic_ai import Agent, UsageLimits
        from pydantic_ai.exceptions import UsageLimitExceeded

        steps: list[PlanStep] = []

        def recorder(skill_id: str):
            def record(**args: Any) -> dict[str, Any]:
                steps.append(PlanStep(skill=skill_id, args=args))
                return {"planned": True, "note": "plan mode: not executed"}
            return record

        agent = Agent(self.model, tools=[self._tool(item, recorder(item.id)) for item in self.runtime.skills.for_agent()],
                      instructions=load_persona(self.runtime.home).system_prompt())
        try:
            await agent.run(text, usage_limits=UsageLimits(request_limit=6))
        except UsageLimitExceeded:
            pass  # a model that keeps calling tools: the plan is what it asked for so far
        except Exception as exc:
            raise self._model_failure(exc) from exc
        return Plan(steps=steps)
