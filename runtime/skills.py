"""Skill manifests and the registry. Skills are plain functions; `@skill` turns one into a manifest.

    @skill(risk="read")
    def fs_read(ctx: SkillContext, args: FsReadInput) -> FsReadResult:
        '''Read a UTF-8 text file inside the home.'''

The id is the function's name, the description its docstring's first paragraph, the input model
the annotation of its second parameter. Plugins offer skills through the `register_skills` hook.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, get_type_hints

from pydantic import BaseModel

from .errors import SkillNotFound
from .trust import Risk

if TYPE_CHECKING:
    from .audit import AuditLog
    from .config import AgentConfig
    from .home import Home
    from .keys import Signer
    from .memory import MemoryStore
    from .sandbox import Sandbox
    from .tasks import TaskStore


class SkillHost(Protocol):
    """The part of the runtime a skill may use. `Runtime` is one; a skill never sees the rest of it
    (the approval queue, the trust settings, the person's session)."""

    home: Home
    audit: AuditLog
    sandbox: Sandbox
    memory: MemoryStore
    tasks: TaskStore
    signer: Signer

    def agent_config(self) -> AgentConfig: ...

    def call(self, skill_id: str, args: dict[str, Any] | None = None, *, session: Any = None) -> Any: ...


@dataclass(frozen=True)
class SkillContext:
    """What a running skill gets: who asked (`actor`, from `session`), the home's stores and the
    file boundary, and `call` for a step that is itself a skill (it goes through the gate and the
    audit log as the same session). `progress` is true when a person watches on a terminal."""

    host: SkillHost = field(repr=False)
    session: Any
    progress: bool = False

    @property
    def actor(self) -> str:
        return self.session.actor

    @property
    def home(self) -> Home:
        return self.host.home

    @property
    def audit(self) -> AuditLog:
        return self.host.audit

    @property
    def sandbox(self) -> Sandbox:
        return self.host.sandbox

    @property
    def memory(self) -> MemoryStore:
        return self.host.memory

    @property
    def tasks(self) -> TaskStore:
        return self.host.tasks

    @property
    def signer(self) -> Signer:
        return self.host.signer

    def agent_config(self) -> AgentConfig:
        return self.host.agent_config()

    def call(self, skill_id: str, args: dict[str, Any] | None = None) -> Any:
        return self.host.call(skill_id, args, session=self.session)


Handler = Callable[[SkillContext, Any], Any]


@dataclass(frozen=True)
class Skill:
    id: str
    description: str
    input_model: type[BaseModel]
    risk: Risk
    handler: Handler = field(repr=False)
    requires_approval: bool = False
    examples: tuple[str, ...] = ()
    describe: Callable[[Any], str] | None = field(default=None, repr=False)
    # Words that ask for this action in so many words ("delete", "remind me"): a skill that changes
    # anything is planned only when the request says one of them (runtime.intent.asks_for).
    asks: tuple[str, ...] = ()
    # Why the skill cannot work right now, with the fix (web search with no provider set), or None.
    # Asked before the gate, so nothing waits in the approval queue that could never run.
    unavailable: Callable[[SkillHost], tuple[str, str] | None] | None = field(default=None, repr=False)
    # False for the person's own operations (train, export, token rotation, ...): never a tool of
    # the agent, and `Runtime.call` denies them to an agent session.
    agent: bool = True

    def say(self, result: Any) -> str:
        """One short line a person can read about a result (compact JSON when the skill has no words)."""
        if self.describe is not None:
            return self.describe(result)
        return json.dumps(result, ensure_ascii=False, default=str)[:2000]

    def manifest(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "risk": str(self.risk),
            "requires_approval": self.requires_approval,
            "input_schema": self.input_model.model_json_schema(),
            "examples": list(self.examples),
            "asks": list(self.asks),
            "agent": self.agent,
        }


def skill(
    *, risk: Risk | str, requires_approval: bool = False, examples: tuple[str, ...] = (),
    describe: Callable[[Any], str] | None = None, agent: bool = True, asks: tuple[str, ...] = (),
    unavailable: Callable[[SkillHost], tuple[str, str] | None] | None = None,
) -> Callable[[Handler], Skill]:
    def build(function: Handler) -> Skill:
        params = list(inspect.signature(function).parameters)
        if len(params) != 2:
            raise TypeError(f"skill {function.__name__} must take (ctx, args)")
        input_model = get_type_hints(function)[params[1]]
        if not (isinstance(input_model, type) and issubclass(input_model, BaseModel)):
            raise TypeError(f"skill {function.__name__}: annotate args with a pydantic model")
        doc = inspect.getdoc(function) or ""
        return Skill(
            id=function.__name__,
            description=doc.split("\n\n")[0].replace("\n", " ").strip(),
            input_model=input_model,
            risk=Risk(risk),
            handler=function,
            requires_approval=requires_approval,
            examples=examples,
            describe=describe,
            agent=agent,
            asks=asks,
            unavailable=unavailable,
        )

    return build


class SkillRegistry:
    def __init__(self) -> None:
        self._skills: dict[str, Skill] = {}

    def register(self, item: Skill) -> None:
        if item.id in self._skills:
            raise ValueError(f"two plugins register a skill named {item.id!r}")
        self._skills[item.id] = item

    def get(self, skill_id: str) -> Skill:
        try:
            return self._skills[skill_id]
        except KeyError:
            near = difflib.get_close_matches(skill_id, self._skills, n=3)
            hint = f"did you mean {', '.join(near)}?" if near else "run `mh skills` to list them"
            raise SkillNotFound(f"no skill named {skill_id!r}", fix=hint) from None

    def __iter__(self) -> Iterator[Skill]:
        return iter(sorted(self._skills.values(), key=lambda s: s.id))

    def for_agent(self) -> list[Skill]:
        """The skills the agent may choose: its tools and the router's classes."""
        return [item for item in self if item.agent]

    def __contains__(self, skill_id: object) -> bool:
        return skill_id in self._skills

    def __len__(self) -> int:
        return len(self._skills)
