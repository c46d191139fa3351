"""The run being trained, live: what the console's Training tab draws (step, loss curve, stage, eta,
gates). Read while the trainer appends, so a half-written or damaged line is skipped and a damaged
report reads `unreadable`, never a crash."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from ..home import Home
from ..training.runs import RunDir


class RunProgress(BaseModel):
    run: str
    status: str | None
    pid: int | None = Field(description="the process training it now, if any")
    stage: str | None
    step: int
    steps: int
    losses: list[float]
    eta_s: float | None
    gates: dict[str, Any] | None


def run_progress(home: Home) -> RunProgress | None:
    """The newest run's progress; None before the first run."""
    runs = sorted(home.runs_dir.glob("run-*"))
    if not runs:
        return None
    run = RunDir(runs[-1])
    metrics = _records(run.file("metrics/metrics.jsonl"))
    events = _records(run.file("logs/events.jsonl"))
    try:
        config = run.read_json("resolved_config.json") or {}
    except ValueError:
        config = {}
    step = metrics[-1].get("step", 0) if metrics else 0
    total = config.get("steps") or 0 if isinstance(config, dict) else 0
    elapsed = metrics[-1].get("elapsed_s") if metrics else None
    eta = elapsed / step * (total - step) if step and total and isinstance(elapsed, (int, float)) else None
    return RunProgress(run=run.id, status=run.report().get("status"), pid=run.running.holder(),
                       stage=events[-1].get("stage") if events else None, step=step, steps=total,
                       losses=[m["loss"] for m in metrics if isinstance(m.get("loss"), (int, float))], eta_s=eta, gates=run.gates())


def _records(path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file the trainer is appending to: a half-written last line (or a
    damaged one) is skipped, not fatal."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
