"""The approval queue: one JSON file per request in state/approvals/.

States: pending -> approved -> executed | failed, or pending -> rejected | expired.
Every transition happens under an exclusive flock on state/approvals/.lock after re-reading the file,
so two processes resolving the same request cannot both move it on: the one that finds it pending
wins, the other sees the outcome.

The file is not trusted: the audit log is. Each request's `approval.created` entry carries the
sha256 of its canonical form, and every later transition has its entry, all written under the same
lock as the file. `LoggedRequest` is the log's account of one request; a file that differs from it
(other args, another skill, a status set back, an expiry pushed out, or no entry at all) is tampered.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import mmap
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .audit import AuditEntry
from .audit.log import log_files
from .errors import ApprovalNotFound, ApprovalTampered, MhError
from .jsonio import atomic_write, canonical, pretty, read_json_file
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
# How far along each status is: a file behind the log's status was set back, which mh never does.
STAGE = {ApprovalStatus.pending: 0, ApprovalStatus.approved: 1, **dict.fromkeys(
    (ApprovalStatus.executed, ApprovalStatus.failed, ApprovalStatus.rejected, ApprovalStatus.expired), 2)}
# A request's arguments are kept whole in its file, so a file may be much larger than a config file;
# above this the request is refused when it is queued (never stored unreadable).
MAX_APPROVAL_BYTES = 16 << 20
# What defines a request: what the person approves. Its hash is in the `approval.created` entry.
REQUEST_FIELDS = ("id", "skill", "args", "risk", "reason", "requested_by", "session", "created_at", "expires_at")
# The audit events that move a request to a status (`refused` and `tampered` leave it where it was).
STATUS_EVENTS = {"created": ApprovalStatus.pending, **{s.value: s for s in ApprovalStatus if s is not ApprovalStatus.pending}}


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

    def request(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include=set(REQUEST_FIELDS))

    def audited(self) -> dict[str, Any]:
        """What the `approval.created` entry records of the request, beside its (summarised) args:
        enough to name what a later edit of the file changed, and the hash that binds all of it."""
        plain = self.request()
        return {
            "request_sha256": sha256_of(plain),
            "arg_hashes": {key: sha256_of(value) for key, value in plain["args"].items()},
            **{name: plain[name] for name in ("risk", "created_at", "expires_at")},
        }

    def encoded(self) -> str:
        return pretty(self.model_dump(mode="json"))


def sha256_of(value: Any) -> str:
    # surrogatepass: a lone surrogate in an argument still has one spelling, and so one hash.
    return hashlib.sha256(canonical(value).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class LoggedRequest:
    """The audit log's account of one request: its `created` entry and the status its entries give."""

    id: str
    created: AuditEntry | None = None
    created_count: int = 0
    status: ApprovalStatus | None = None
    events: list[str] = field(default_factory=list)

    def take(self, entry: AuditEntry) -> None:
        """Apply one `approval` entry about this request, in log order."""
        status = STATUS_EVENTS.get(entry.event)
        if status is None:
            return
        if entry.event == "created":
            self.created_count += 1
            if self.created is None:
                self.created = entry
        self.status = status
        self.events.append(entry.event)

    def tampering(self, approval: Approval | None) -> list[str]:
        """What in the file (None: no file) differs from the log's account of the request, besides its
        status; empty when the file is the request that was audited."""
        if self.created is None:
            return ["the audit log has no approval.created entry for it: mh never queued it"] if approval else []
        found = [f"the audit log has {self.created_count} approval.created entries for it"] if self.created_count > 1 else []
        if approval is None:
            return found
        logged = self.created.details if isinstance(self.created.details, dict) else {}
        if "request_sha256" not in logged:
            # Queued by an mh older than the hash: a closed one is history, an open one cannot be trusted.
            unchecked = "its approval.created entry carries no request hash (queued by an older mh): it cannot be checked"
            return [*found, unchecked] if approval.status in OPEN else found
        plain = approval.request()
        if sha256_of(plain) == logged["request_sha256"]:
            return found
        named = [f"{name}: the log says {logged.get(name)}, the file says {plain[name]}"
                 for name in ("id", "skill", "session", "reason", "risk", "created_at", "expires_at")
                 if plain[name] != logged.get(name)]
        if plain["requested_by"] != self.created.actor:
            named.append(f"requested_by: the log says {self.created.actor}, the file says {plain['requested_by']}")
        hashes = logged.get("arg_hashes") if isinstance(logged.get("arg_hashes"), dict) else {}
        changed = sorted(key for key in set(hashes) | set(plain["args"])
                         if key not in plain["args"] or hashes.get(key) != sha256_of(plain["args"][key]))
        if changed:
            named.append(f"args differ from the audited request: {', '.join(changed)}")
        return [*found, *(named or ["the request differs from the audited one (its sha256 does not match)"])]

    def set_back(self, approval: Approval) -> bool:
        """The file's status is behind the log's (rejected or expired made pending again, ...)."""
        return self.status is not None and STAGE[approval.status] < STAGE[self.status]

    def differences(self, approval: Approval) -> list[str]:
        """Everything that makes the file not the log's request, its status included."""
        found = self.tampering(approval)
        if self.created is not None and self.status is not approval.status:
            found.append(f"status: the log says {self.status}, the file says {approval.status}")
        return found


def logged_request(audit_dir: Path, approval_id: str) -> LoggedRequest:
    """The log's account of one request, read from the newest day file back and stopping at the one
    that holds its `created` entry (a request lives hours, so that is the newest file or two). Only
    lines holding the id's bytes are parsed: a scan of a 100k-entry log is a `find` over its bytes."""
    needle = canonical({"id": approval_id})[1:-1].encode("utf-8")  # "id":"apr-...", as entries spell it
    newest_first: list[list[AuditEntry]] = []
    for path in reversed(log_files(audit_dir)):
        found = _entries_with(path, needle, approval_id)
        newest_first.append(found)
        if any(entry.event == "created" for entry in found):
            break
    account = LoggedRequest(approval_id)
    for found in reversed(newest_first):
        for entry in found:
            account.take(entry)
    return account


def _entries_with(path: Path, needle: bytes, approval_id: str) -> list[AuditEntry]:
    """The `approval` entries of one day file whose details name `approval_id`, in file order."""
    found: list[AuditEntry] = []
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return found
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            at = data.find(needle)
            while at >= 0:
                start = data.rfind(b"\n", 0, at) + 1
                end = data.find(b"\n", at)
                end = len(data) if end < 0 else end
                entry = _approval_entry(data[start:end], approval_id)
                if entry is not None:
                    found.append(entry)
                at = data.find(needle, end)
    return found


def _approval_entry(line: bytes, approval_id: str) -> AuditEntry | None:
    try:
        entry = AuditEntry.from_dict(json.loads(line))
    except (ValueError, KeyError, TypeError):
        return None  # a torn or broken line: `mh audit verify` reports it
    details = entry.details if isinstance(entry.details, dict) else {}
    return entry if entry.category == "approval" and details.get("id") == approval_id else None


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

    def resolve(self, given: str) -> str:
        """The one id `given` names: a whole id, or a unique start of one, with or without `apr-`
        (what a person copies from a narrow table, or types from memory). Never a guess: a start that
        several ids share is refused with their names."""
        wanted = given if given.startswith("apr-") else f"apr-{given}"
        if self.path(wanted).exists():  # path() also refuses anything but letters and digits: safe to glob
            return wanted
        matches = sorted(found.stem for found in self.directory.glob(f"{wanted}*.json"))
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ApprovalNotFound(f"no approval {given}", fix="see `mh approvals` for the pending ones (`--all` for every one)")
        shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
        raise ApprovalNotFound(f"{given!r} is the start of {len(matches)} approvals: {shown}", fix="give more of the id")

    def new(
        self, *, skill: str, args: dict[str, Any], risk: Risk, reason: str, requested_by: str,
        session: str | None, ttl: timedelta,
    ) -> Approval:
        """A request with an id no file has, not stored yet. Call under `locked()`, then `add` it."""
        now = datetime.now(UTC)
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            approval = Approval(
                id=f"apr-{secrets.token_hex(4)}", skill=skill, args=args, risk=risk, reason=reason,
                requested_by=requested_by, session=session, created_at=now, expires_at=now + ttl,
            )
            if not self.path(approval.id).exists():
                return approval

    def add(self, approval: Approval, text: str) -> None:
        """Store a new request (`text` is its `encoded()` form), whole or not at all: written aside,
        then linked into place. A link never replaces: a file that appeared under that id meanwhile was
        not put there by mh, and is left for replay to name."""
        path = self.path(approval.id)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, path)
        except FileExistsError:
            raise ApprovalTampered(f"state/approvals/{path.name} appeared before mh wrote it",
                                   fix="move the file aside (`mh audit replay` lists it) and ask again") from None
        finally:
            os.unlink(tmp)

    def get(self, approval_id: str) -> Approval:
        path = self.path(approval_id)
        try:
            approval = Approval.model_validate(read_json_file(path, max_bytes=MAX_APPROVAL_BYTES))
            if approval.id != approval_id:
                # A request copied under another name: approving one id must never run another's request.
                raise ValueError(f"it holds {approval.id}")
            return approval
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
        atomic_write(self.path(approval.id), approval.encoded())

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
