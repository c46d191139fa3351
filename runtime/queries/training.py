"""The read side of training: runs (list, one run in full) and promoted adapters. Read-only: nothing
here writes, and a damaged file reads as a status or a note, never as a crash.

A run's status is the name of its exit code (`ok`, `nan`, ...) or what it is doing (`running`,
`gone`); Helix's `completed` and `failed` are accepted as names of groups of them, and an unknown
name is an error that lists the known ones, never an empty list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MhError
from ..home import Home
from ..training.registry import active_record
from ..training.registry import list_adapters as registry_adapters
from ..training.runs import RunDir

RUN_STATES = {
    "ok": "trained to the end (exit 0)",
    "config": "refused before training: config, dataset or base (exit 1)",
    "training_failed": "training raised an error (exit 10)",
    "nan": "the loss became NaN (exit 11)",
    "inf": "the loss became infinite (exit 12)",
    "interrupted": "stopped with a checkpoint (exit 30); `mh resume RUN` continues",
    "running": "a process is training it now",
    "gone": "its process died mid-attempt; `mh resume RUN` continues",
    "unreadable": "report.json is damaged",
}
# Helix's names (`helix list --status completed|failed`), as groups of mh's states. A stopped or
# killed run is neither: it can be resumed.
STATUS_GROUPS = {"completed": ("ok",), "failed": ("config", "training_failed", "nan", "inf")}


class UnknownRunStatus(MhError):
    """`--status` named no state a run can be in."""

    exit_code = 2  # a usage error, as for any bad option value


def run_states(status: str) -> tuple[str, ...]:
    """The states `status` names: itself, or the members of a Helix group. Unknown: UnknownRunStatus."""
    if status in RUN_STATES:
        return (status,)
    if status in STATUS_GROUPS:
        return STATUS_GROUPS[status]
    known = ", ".join([*RUN_STATES, *(f"{name} ({' | '.join(states)})" for name, states in STATUS_GROUPS.items())])
    raise UnknownRunStatus(f"no run status {status!r}", fix=f"use one of: {known}")


class RunRow(BaseModel):
    run_id: str
    status: str | None = Field(description="None: the run has no report yet (just created)")
    exit_code: int | None
    steps: int | None
    final_loss: float | None
    gates_passed: bool | None = Field(description="None: not evaluated yet")
    started_at: datetime | None = Field(description="when its first attempt began")
    duration_s: float | None = Field(description="wall time of its attempts (a running one counts to now)")


class RunView(BaseModel):
    """What `mh runs show` prints. Serialized by alias: the keys name the run's files."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    report: dict[str, Any] = Field(alias="report.json")
    gates: dict[str, Any] | None = Field(alias="eval/gates.json")
    evaluation: Any = Field(alias="eval/results.json")  # losses, fact recall, identity (answers per row: in the file)
    summary: Any = Field(alias="metrics/summary.json")  # a dict, None, or {"unreadable": why}
    resolved_config: Any = Field(alias="resolved_config.json")
    files: list[str]
    checkpoints: list[str]


class AdapterItem(BaseModel):
    name: str
    version: int
    run_id: str
    dataset_id: str
    tags: list[str]
    adapter_sha256: str
    created_at: str
    active: bool


class AdapterList(BaseModel):
    items: list[AdapterItem]
    active: dict[str, Any] | None  # persona/overrides/active-adapter.json, None while the base is in use
    skipped: list[str]  # receipts that cannot be read, and why


def list_runs(home: Home, status: str | None = None) -> list[RunRow]:
    """Every run, oldest first; only those in `status` when given (a state, or `completed`/`failed`)."""
    wanted = run_states(status) if status else None
    rows = []
    for path in sorted(home.runs_dir.glob("run-*")):
        run = RunDir(path)
        report = run.report()
        if wanted and report.get("status") not in wanted:
            continue
        rows.append(_row(run, report))
    return rows


def _row(run: RunDir, report: dict[str, Any]) -> RunRow:
    gates = run.gates() or {}
    try:
        attempts = report.get("attempts") or []
        return RunRow(run_id=run.id, status=report.get("status"), exit_code=report.get("exit_code"), steps=report.get("steps"),
                      final_loss=report.get("final_loss"), gates_passed=gates.get("passed"),
                      started_at=attempts[0].get("started_at") if attempts else None,
                      duration_s=_duration(attempts, report.get("status") == "running"))
    except (AttributeError, TypeError, ValueError):  # valid JSON with values of the wrong type (edited by hand); ValidationError is a ValueError
        return RunRow(run_id=run.id, status="unreadable", exit_code=None, steps=None, final_loss=None, gates_passed=None,
                      started_at=None, duration_s=None)


def _duration(attempts: list[dict[str, Any]], running: bool) -> float | None:
    """The attempts' wall time together: the attempt training now counts to now; one whose process
    died has no known end and is left out."""
    total = None
    for attempt in attempts:
        if not attempt.get("started_at") or not (attempt.get("ended_at") or running):
            continue
        started = datetime.fromisoformat(attempt["started_at"])
        ended = datetime.fromisoformat(attempt["ended_at"]) if attempt.get("ended_at") else datetime.now(UTC)
        total = (total or 0.0) + max((ended - started).total_seconds(), 0.0)
    return total


def checkpoint_step(home: Home, run_id: str, named: str) -> int:
    """The step of one of the run's checkpoints, named by step or by path (`mh resume --checkpoint`);
    a path outside the run's own checkpoints is refused."""
    return RunDir.find(home.runs_dir, run_id).checkpoint_step(named)


def show_run(home: Home, run_id: str) -> RunView:
    run = RunDir.find(home.runs_dir, run_id)
    return RunView.model_validate({
        "report.json": run.report(), "eval/gates.json": run.gates(),
        "metrics/summary.json": _readable(run, "metrics/summary.json"),
        "eval/results.json": _evaluation(run),
        "resolved_config.json": _readable(run, "resolved_config.json"),
        "files": sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file() and "checkpoint-" not in str(p)),
        "checkpoints": sorted(p.name for p in run.file("checkpoints").glob("checkpoint-*")),
    })


def _evaluation(run: RunDir) -> Any:
    """eval/results.json without its answer rows (they stay in the file)."""
    results = _readable(run, "eval/results.json")
    if not isinstance(results, dict):
        return results
    facts = results.get("facts")
    shown = {k: v for k, v in results.items() if k != "probes"}
    if isinstance(facts, dict):
        shown["facts"] = {k: v for k, v in facts.items() if k != "rows"}
    return shown


def _readable(run: RunDir, name: str) -> Any:
    try:
        return run.read_json(name)
    except ValueError as exc:
        return {"unreadable": str(exc)}


def list_adapters(home: Home) -> AdapterList:
    """Promoted adapters, oldest first, and which one the chat uses."""
    active = active_record(home)
    chosen = (active.get("name"), active.get("version")) if active else None
    items, skipped = [], []
    for found in registry_adapters(home):
        if isinstance(found, str):
            skipped.append(found)
            continue
        items.append(AdapterItem(name=found.name, version=found.version, run_id=found.run_id, dataset_id=found.dataset_id,
                                 tags=found.tags, adapter_sha256=found.adapter_sha256, created_at=found.created_at,
                                 active=chosen == (found.name, found.version)))
    return AdapterList(items=items, active=active, skipped=skipped)
