"""What the console shows, computed from Runtime: pure functions, so each is testable alone and
a broken part (a corrupt approval file, a broken audit chain) becomes a message, not a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ..errors import MhError
from ..queries import ChatExchange, HomeStatus, list_approvals, short_age


def status_text(status: HomeStatus) -> str:
    """The Status tab: runtime.queries.home_status, in words."""
    model = f"{status.model.provider}: {status.model.model}" if status.model else "unknown"
    record = status.active_adapter
    adapter = ("base model" if record is None else "unreadable active-adapter.json" if "unreadable" in record
               else f"{record.get('name')}@{record.get('version')}")
    lines = [f"trust level   {status.trust or 'unknown'}   (t changes it)", f"model         {model}", f"adapter       {adapter}",
             f"approvals     {status.queue_depth} pending", f"audit chain   {status.chain}",
             f"jobs          {', '.join(_job(job) for job in status.jobs[:3]) or 'none'}",
             "services      " + (f"supervisor pid {status.supervisor.pid} (mh stop ends it)" if status.supervisor.running else "no supervisor (mh start)")]
    for service in status.services:
        last = f"{service.last_run_at:%Y-%m-%d %H:%M}" if service.last_run_at else "never"
        upcoming = f", next {service.next_run_at.astimezone():%m-%d %H:%M}" if service.next_run_at else ""
        lines.append(f"  {service.name}: {service.state}, {service.runs} runs, {service.failures} failed, last {last}{upcoming}")
    return "\n".join(lines + [f"problem: {p}" for p in [*status.problems, *status.stalled]])


def _job(job) -> str:
    return f"{job.id} {job.kind} {job.state}" + (f" (pid {job.pid})" if job.pid else "")


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
    queue = list_approvals(runtime, "pending")
    now = datetime.now(UTC)
    rows = [(a.id, a.skill, json.dumps(a.args, ensure_ascii=False)[:60], str(a.risk), a.requested_by, short_age(now - a.created_at))
            for a in queue.items]
    return rows, [*queue.broken, *queue.stalled]


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


def gate_summary(gates: dict[str, Any] | None) -> str:
    if not gates:
        return "not evaluated yet"
    parts = [f"{g['gate']} {g['value']:.4f}" if isinstance(g["value"], float) else f"{g['gate']} {g['value']}" for g in gates.get("gates", [])]
    parts = [f"{part} vs {g['limit']} {'ok' if g['passed'] else 'FAILED'}" for part, g in zip(parts, gates.get("gates", []), strict=True)]
    return ("passed" if gates["passed"] else "failed") + (f": {'; '.join(parts)}" if parts else f": {gates.get('reason', '')}")


def exchange_row(exchange: ChatExchange) -> tuple[str, ...]:
    """A row of the Memory tab's chat replies: whether the reply is trained on is the third column."""
    def short(text: str) -> str:
        line = " ".join(text.split())
        return line if len(line) <= 40 else line[:39] + "…"

    return (exchange.id, exchange.timestamp[5:16].replace("T", " "), "good" if exchange.marked_good else "unmarked",
            short(exchange.said), short(exchange.reply))
