"""What the console shows, computed from Runtime: pure functions, so each is testable alone and
a broken part (a corrupt approval file, a broken audit chain) becomes a message, not a crash."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..approvals import short_age
from ..errors import MhError
from ..services import SERVICES, ServiceBook
from ..training.registry import active_record
from ..training.runs import RunDir


@dataclass
class StatusView:
    trust: str
    model: str
    adapter: str
    services: list[str]
    queue_depth: int
    chain: str
    problems: list[str] = field(default_factory=list)


def status_view(runtime, chain: str) -> StatusView:
    problems = []
    try:
        trust = str(runtime.trust_level())
    except MhError as exc:
        trust, problems = "unknown", [*problems, exc.message]
    try:
        cfg = runtime.agent_config()
        model = f"{cfg.provider}: {cfg.model or 'SmolLM2-135M (shipped)'}"
    except MhError as exc:
        model, problems = "unknown", [*problems, exc.message]
    try:
        record = active_record(runtime.home)
        adapter = f"{record.get('name')}@{record.get('version')}" if record else "base model"
    except MhError as exc:
        adapter, problems = "unreadable active-adapter.json", [*problems, exc.message]
    scan = runtime.approvals.scan()
    problems += [*scan.broken, *runtime.approvals.stalled_notes(scan)]
    services = []
    for name in SERVICES:
        book = ServiceBook(runtime.home, name)
        state = book.state()
        last = f"{state.last_run_at:%Y-%m-%d %H:%M}" if state.last_run_at else "never"
        services.append(f"{name}: {'running' if book.running.is_held() else 'stopped'}, {state.runs} runs, "
                        f"{state.failures} with failures, last {last}")
    return StatusView(trust, model, adapter, services, sum(1 for a in scan.items if a.status == "pending"), chain, problems)


def chain_state(runtime) -> str:
    try:
        report = runtime.verify_audit()
    except (MhError, OSError) as exc:
        return f"cannot check: {exc.message if isinstance(exc, MhError) else exc}"
    if report.ok:
        return f"verified: {report.entries} entries, {report.checkpoints} checkpoints"
    p = report.problem
    return f"BROKEN at {p.file}:{p.line} ({p.reason}: {p.detail})"


def approval_rows(runtime) -> tuple[list[tuple[str, ...]], list[str]]:
    scan = runtime.list_approvals()
    now = datetime.now(UTC)
    rows = [(a.id, a.skill, json.dumps(a.args, ensure_ascii=False)[:60], str(a.risk), a.requested_by, short_age(now - a.created_at))
            for a in scan.items if a.status == "pending"]
    return rows, [*scan.broken, *runtime.approvals.stalled_notes(scan)]


SEARCH_DEPTH = 1000  # a search looks this far back: it runs on every keystroke, on the screen's loop


def audit_rows(runtime, *, category: str = "", level: str = "", search: str = "", limit: int = 200) -> list[tuple[str, ...]]:
    entries = runtime.audit.tail(SEARCH_DEPTH if search else limit, category=category or None, level=level or None)
    rows = []
    for entry in entries:
        details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
        if search and search.lower() not in f"{entry.category}.{entry.event} {entry.actor} {details}".lower():
            continue
        rows.append((str(entry.seq), entry.ts[11:19], entry.level, f"{entry.category}.{entry.event}", entry.actor, details[:120]))
    return rows[-limit:]


def training_view(runtime) -> dict[str, Any]:
    runs = sorted((runtime.home.runs_dir).glob("run-*"))
    if not runs:
        return {"run": None}
    run = runs[-1]
    run_dir = RunDir(run)
    report = run_dir.report()
    pid = run_dir.running.holder()
    metrics = _records(run / "metrics" / "metrics.jsonl")
    events = _records(run / "logs" / "events.jsonl")
    config = _json(run / "resolved_config.json") or {}
    losses = [m["loss"] for m in metrics if isinstance(m.get("loss"), (int, float))]
    step = metrics[-1].get("step", 0) if metrics else 0
    total = config.get("steps") or 0
    eta = None
    if metrics and step and total and isinstance(metrics[-1].get("elapsed_s"), (int, float)):
        eta = metrics[-1]["elapsed_s"] / step * (total - step)
    return {"run": run.name, "status": report.get("status"), "pid": pid, "stage": events[-1].get("stage") if events else None,
            "step": step, "steps": total, "losses": losses, "eta_s": eta,
            "gates": run_dir.gates()}


def gate_summary(gates: dict[str, Any] | None) -> str:
    if not gates:
        return "not evaluated yet"
    parts = [f"{g['gate']} {g['value']:.4f} vs {g['limit']} {'ok' if g['passed'] else 'FAILED'}" for g in gates.get("gates", [])]
    return ("passed" if gates["passed"] else "failed") + (f": {'; '.join(parts)}" if parts else f": {gates.get('reason', '')}")


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


def _json(path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
