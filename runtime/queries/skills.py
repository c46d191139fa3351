"""The skills, read: each manifest and what the trust level does now when the agent calls it (`mh skills`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..runtime import AGENT, Session
from ..trust import Risk, TrustLevel, Verdict

if TYPE_CHECKING:
    from ..runtime import Runtime


class SkillRow(BaseModel):
    id: str
    description: str
    risk: Risk
    requires_approval: bool
    input_schema: dict[str, Any]
    examples: list[str]
    agent: bool = Field(description="false: the person's own operation, never an agent tool")
    agent_verdict: Verdict = Field(description="what the gate does now with the agent's call, arguments aside")


class SkillList(BaseModel):
    trust_level: TrustLevel
    items: list[SkillRow]


def list_skills(runtime: Runtime) -> SkillList:
    preview = Session(actor=AGENT, id="preview")
    items = []
    for item in runtime.skills:
        # Runtime.call denies a person-only skill to the agent whatever the table says.
        verdict = runtime.decide(item, {}, preview).verdict if item.agent else Verdict.deny
        items.append(SkillRow(**item.manifest(), agent_verdict=verdict))
    return SkillList(trust_level=runtime.trust_level(), items=items)
