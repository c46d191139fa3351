"""The approval queue: one JSON file per request in state/approvals/.

States: pending -> approved -> executed | failed, or pending -> rejected | expired.
Every transition happens under an exclusive flock on state/approvals/.lock after re-reading the file,
so two processes resolving the same request cannot both move it on: the one that finds it pending
wins, the other sees the outcome.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ApprovalNotFound, MhError
from .jsonio import atomic_write, pretty, read_json_file
from .liveness import RunningMarker
from .trust import Risk


class ApprovalStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    executed = "executed"
    failed = "failed"
    rejected = "rejected"
    expired = "expired"


OPEN = frozenset({ApprovalStatus.pending})
RESOLVED_BY_APPROVAL = frozenset({ApprovalStatus.approved, ApprovalStatus.executed, ApprovalStatus.failed})


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    skill: str
    args: dict[str, Any]
    risk: Risk
    reason: str
    requested_by: str
    session: str | None = None
    created_at: datetime
    expires_at: datetime
    status: ApprovalStatus = ApprovalStatus.pending
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    note: str | None = None
    result: Any = None
    error: str | None = None

    def moved(self, status: ApprovalStatus, **changes: Any) -> Approval:
        return self.model_copy(update={"status": status, **changes})


class ApprovalCorrupt(MhError):
    """An approval file cannot be read as an approval."""


@dataclass(frozen=True)
class QueueScan:
    items: list[Approval]
    broken: list[str]  # "file: why" for files that are not valid approvals


class ApprovalQueue:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, approval_id: str) -> Path:
        if not approval_id.startswith("apr-") or not approval_id[4:].isalnum():
            raise ApprovalNotFound(f"{approval_id!r} is not an approval id", fix="ids look like apr-1a2b3c4d; see `mh approvals`")
        return self.directory / f"{approval_id}.json"

    def create(
        self, *, skill: str, args: dict[str, Any], risk: Risk, reason: str, requested_by: str,
        session: str | None, ttl: timedelta,
    ) -> Approval:
        now = datetime.now(UTC)
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            approval = Approval(
                id=f"apr-{secrets.token_hex(4)}", skill=skill, args=args, risk=risk, reason=reason,
                requested_by=requested_by, session=session, created_at=now, expires_at=now + ttl,
            )
            try:
                # O_EXCL: an id is never reused, even by a racing process.
                fd = os.open(self.path(approval.id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(pretty(approval.model_dump(mode="json")))
            return approval

    def get(self, approval_id: str) -> Approval:
        path = self.path(approval_id)
        try:
            return Approval.model_validate(read_json_file(path))
        except FileNotFoundError:
            raise ApprovalNotFound(f"no approval {approval_id}", fix="see `mh approvals` for the pending ones") from None
        except (OSError, ValueError, ValidationError) as exc:
            raise ApprovalCorrupt(
                f"state/approvals/{path.name} is not a valid approval: {_first_line(exc)}",
                fix="move the file aside and ask for the action again",
            ) from None

    def runner(self, approval_id: str) -> RunningMarker:
        """Held by the process that runs an approved request, for as long as it runs it."""
        return RunningMarker(self.directory / f"{approval_id}.running", what=approval_id, fix="it is being run now")

    def stalled(self, approval: Approval) -> bool:
        """Approved, but the process running it ended before it recorded an outcome. It is never
        re-run by itself: the skill may have acted in part (the audit log's skill.start says)."""
        return approval.status is ApprovalStatus.approved and not self.runner(approval.id).is_held()

    def stalled_notes(self, scan: QueueScan) -> list[str]:
        """One line per approved request whose run was cut off, for the surfaces that list the queue."""
        return [f"{a.id} ({a.skill}) was approved by {a.resolved_by} but the process running it ended before it finished; "
                f"`mh audit tail --category skill` shows whether it started. It is not re-run by itself: ask again if needed."
                for a in scan.items if self.stalled(a)]

    def save(self, approval: Approval) -> None:
        atomic_write(self.path(approval.id), pretty(approval.model_dump(mode="json")))

    def scan(self) -> QueueScan:
        items, broken = [], []
        for path in sorted(self.directory.glob("apr-*.json")):
            try:
                items.append(self.get(path.stem))
            except (ApprovalCorrupt, ApprovalNotFound) as exc:
                broken.append(exc.message)
        items.sort(key=lambda a: a.created_at)
        return QueueScan(items, broken)

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def short_age(delta: timedelta) -> str:
    """12s, 5m, 3h, 2d: how long ago, in a table cell."""
    seconds = max(int(delta.total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0]
