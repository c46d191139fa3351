"""How long the person has been idle: the time since the newest audit entry whose actor is the person
(`person@cli`, `person@api`, `person@console`, `person@chat`, ...).

The audit log is the one record every surface writes, so it is the one place that knows when the
person last did something; the services' own entries (`service:NAME`) and the agent's do not count.
The log is read backwards from its end, so the answer costs the lines written since the person's
last action, not the whole log.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from .audit.log import lines_backward, log_files

PERSON_PREFIX = "person@"


def last_person_activity(audit_dir: Path) -> datetime | None:
    """When the person last acted (UTC), or None when the log holds no action of theirs."""
    for raw in lines_backward(log_files(audit_dir), None):
        if PERSON_PREFIX.encode() not in raw:  # most lines are skipped without parsing them
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and str(entry.get("actor", "")).startswith(PERSON_PREFIX):
            try:
                return datetime.fromisoformat(entry["ts"].replace("Z", "+00:00"))
            except (KeyError, TypeError, ValueError):
                continue
    return None


def idle_seconds(audit_dir: Path, now: datetime | None = None) -> float | None:
    """Seconds since the person last acted; None when they never did (a home nobody used is idle)."""
    last = last_person_activity(audit_dir)
    if last is None:
        return None
    return max(0.0, ((now or datetime.now(UTC)) - last).total_seconds())
