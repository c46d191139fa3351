"""The read side of training: runs (list, one run in full) and promoted adapters. Read-only: nothing
here writes, and a damaged file reads as a status or a note, never as a crash."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..home import Home
from ..training.registry import active_record
from ..training.registry import list_adapters as registry_adapters
from ..training.runs import RunDir


class RunRow(BaseModel):
    run_id: str
    status: str | None
    exit_code: int | None
    final_loss: float | None
    gates_passed: bool | None


class RunView(BaseModel):
    """What `mh runs show` prints. Serialized by alias: the keys name the run's files."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    report: dict[str, Any] = Field(alias="report.json")
    gates: dict[str, Any] | None = Field(alias="eval/gates.json")
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
    """Every run, oldest first; only those with `status` when given."""
    rows = []
    for path in sorted(home.runs_dir.glob("run-*")):
        run = RunDir(path)
        report = run.report()
        if status and report.get("status") != status:
            continue
        rows.append(_row(run, report))
    return rows


def _row(run: RunDir, report: dict[str, Any]) -> RunRow:
    gates = run.gates() or {}
    try:
        return RunRow(run_id=run.id, status=report.get("status"), exit_code=report.get("exit_code"),
                      final_loss=report.get("final_loss"), gates_passed=gates.get("passed"))
    except ValidationError:  # valid JSON with values of the wrong type: edited by hand
        return RunRow(run_id=run.id, status="unreadable", exit_code=None, final_loss=None, gates_passed=None)


def show_run(home: Home, run_id: str) -> RunView:
    run = RunDir.find(home.runs_dir, run_id)
    return RunView.model_validate({
        "report.json": run.report(), "eval/gates.json": run.gates(),
        "metrics/summary.json": _readable(run, "metrics/summary.json"),
        "resolved_config.json": _readable(run, "resolved_config.json"),
        "files": sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file() and "checkpoint-" not in str(p)),
        "checkpoints": sorted(p.name for p in run.file("checkpoints").glob("checkpoint-*")),
    })


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
