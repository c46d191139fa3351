"""The audit log, read: the last entries (`mh audit tail`), the chain check (`mh audit verify`) and the
replay against the files on disk (`mh audit replay`). Reads only: the tail stops at `count` matching
entries, reading the day files from the newest back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..replay import replay

if TYPE_CHECKING:
    from ..runtime import Runtime


class AuditEntryView(BaseModel):
    seq: int
    ts: str
    level: str
    category: str
    event: str
    actor: str
    details: Any
    prev: str
    hash: str


class AuditProblem(BaseModel):
    file: str
    line: int
    reason: str = Field(description="edited | inserted | deleted | reordered | truncated | bad signature | malformed | "
                              "re-keyed | rewritten | rolled back | log deleted | log replaced | checkpoints deleted | no checkpoint")
    detail: str


class AuditCheck(BaseModel):
    ok: bool
    entries: int
    files: int
    checkpoints: int
    head_seq: int
    head_hash: str
    warnings: list[str]
    problem: AuditProblem | None = Field(description="the first bad line and why; None when the chain holds")


class ReplayResult(BaseModel):
    """The state rebuilt from the log, and where the files on disk differ from it."""

    entries: int
    trust_level: str | None
    approvals: dict[str, str] = Field(description="approval id -> status")
    datasets: dict[str, str] = Field(description="dataset id -> stage")
    active_adapter: dict[str, Any] | None = Field(description="name and version; None while the base model is in use")
    differences: list[str]
    ok: bool = Field(description="the files on disk match the log")


def audit_tail(runtime: Runtime, count: int, *, category: str | None = None, level: str | None = None,
               date: str | None = None) -> list[AuditEntryView]:
    """The last `count` entries that match, oldest first. `date` is a prefix of the timestamp (2026-11-22)."""
    return [AuditEntryView(**entry.to_dict()) for entry in runtime.audit.tail(count, category=category, level=level, date=date)]


def verify_audit(runtime: Runtime) -> AuditCheck:
    report = runtime.verify_audit()
    problem = report.problem
    return AuditCheck(
        ok=report.ok, entries=report.entries, files=report.files, checkpoints=report.checkpoints,
        head_seq=report.head_seq, head_hash=report.head_hash, warnings=report.warnings,
        problem=AuditProblem(file=problem.file, line=problem.line, reason=problem.reason, detail=problem.detail) if problem else None,
    )


def replay_audit(runtime: Runtime) -> ReplayResult:
    report = replay(runtime)
    state = report.state
    return ReplayResult(entries=state.entries, trust_level=state.trust_level, approvals=state.approvals, datasets=state.datasets,
                        active_adapter=state.active_adapter, differences=report.differences, ok=report.ok)
