"""The trust gate: what the current level and the policy rules let a skill call do.

Pure logic, no I/O: `decide` takes everything it needs as arguments, so it is cheap and easy to test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import Field

from .strict import StrictModel


class TrustLevel(StrEnum):
    """Lowest first."""

    observe = "observe"
    suggest = "suggest"
    supervised_auto = "supervised_auto"
    bounded_auto = "bounded_auto"


class Risk(StrEnum):
    read = "read"
    low = "low"
    medium = "medium"
    high = "high"


class Verdict(StrEnum):
    run = "run"
    queue = "queue"
    deny = "deny"


class PolicyRule(StrictModel):
    """A rule that overrides the trust table for matching calls. deny > ask > allow."""

    skill: str = Field(description="glob over skill ids, e.g. 'fs_*'")
    args: dict[str, str] = Field(default_factory=dict, description="argument name -> glob")
    effect: Literal["allow", "ask", "deny"]
    expires: datetime | None = Field(default=None, description="ISO time; the rule stops applying then")
    note: str = ""


TABLE: dict[TrustLevel, dict[Risk, Verdict]] = {
    TrustLevel.observe: {Risk.read: Verdict.run, Risk.low: Verdict.deny, Risk.medium: Verdict.deny, Risk.high: Verdict.deny},
    TrustLevel.suggest: {Risk.read: Verdict.run, Risk.low: Verdict.queue, Risk.medium: Verdict.queue, Risk.high: Verdict.queue},
    TrustLevel.supervised_auto: {Risk.read: Verdict.run, Risk.low: Verdict.run, Risk.medium: Verdict.queue, Risk.high: Verdict.queue},
    TrustLevel.bounded_auto: {Risk.read: Verdict.run, Risk.low: Verdict.run, Risk.medium: Verdict.run, Risk.high: Verdict.queue},
}

_EFFECT_VERDICT = {"allow": Verdict.run, "ask": Verdict.queue, "deny": Verdict.deny}
_EFFECT_RANK = {"deny": 0, "ask": 1, "allow": 2}


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


def matching_rules(
    rules: Iterable[PolicyRule], skill: str, args: dict[str, Any], now: datetime
) -> list[PolicyRule]:
    """Unexpired rules whose skill glob and every argument glob match, strongest effect first."""
    found = [
        rule
        for rule in rules
        if (rule.expires is None or rule.expires > now)
        and fnmatchcase(skill, rule.skill)
        and all(name in args and fnmatchcase(str(args[name]), glob) for name, glob in rule.args.items())
    ]
    return sorted(found, key=lambda rule: _EFFECT_RANK[rule.effect])


def decide(
    *,
    skill: str,
    risk: Risk,
    requires_approval: bool,
    args: dict[str, Any],
    level: TrustLevel,
    rules: Iterable[PolicyRule],
    now: datetime,
    by_person: bool = False,
    yolo: bool = False,
) -> Decision:
    """The verdict for one call.

    Order: `observe` is a global brake on anything that is not a read; then a matching policy rule
    (deny > ask > allow) replaces the table; `requires_approval` lifts run to queue; finally the
    person acting directly, or a --yolo session, turns queue into run. Nothing turns deny into run.
    """
    if level is TrustLevel.observe and risk is not Risk.read:
        return Decision(Verdict.deny, f"trust level is observe: {risk} skills do not run")
    rules_hit = matching_rules(rules, skill, args, now) if rules else None
    if rules_hit:
        rule = rules_hit[0]
        verdict = _EFFECT_VERDICT[rule.effect]
        reason = f"policy rule {rule.effect} {rule.skill}" + (f" ({rule.note})" if rule.note else "")
    else:
        verdict = TABLE[level][risk]
        reason = f"{risk} risk at {level}"
    if verdict is Verdict.run and requires_approval:
        verdict, reason = Verdict.queue, f"{skill} always requires approval"
    if verdict is Verdict.queue and by_person:
        return Decision(Verdict.run, f"{reason}; the person acting directly is their own approver")
    if verdict is Verdict.queue and yolo:
        return Decision(Verdict.run, f"{reason}; --yolo session")
    return Decision(verdict, reason)
