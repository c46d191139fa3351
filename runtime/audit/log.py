"""Appending to and reading the audit log.

Appends from many processes keep one chain: each append takes an exclusive `flock` on
logs/audit/.lock, finds the head (cached per process and re-read only when a file changed size under
us), writes one line with O_APPEND and releases. fsyncs are batched (group commit): after
`fsync_every` entries or `fsync_interval_ms`, on `sync=True`, on seal and on close. A line torn by a
crash is cut off at the next append, kept under logs/audit/torn/, and the repair is itself audited.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import AuditError
from ..keys import Signer
from ..redact import redact
from .format import GENESIS, checkpoint_message, encode_entry

CHECKPOINTS = "checkpoints.ndjson"
HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: str
    level: str
    category: str
    event: str
    actor: str
    details: Any
    prev: str
    hash: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEntry:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    ts: str
    key_id: str
    sig: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def log_files(directory: Path) -> list[Path]:
    """The day files, oldest first (their names sort by date)."""
    return sorted(p for p in directory.glob("????-??-??.ndjson") if p.is_file())


def read_last_line(path: Path) -> tuple[bytes, int, bytes]:
    """(last complete line, its start offset, torn tail after it). Empty bytes when absent."""
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        block = b""
        pos = end
        while pos > 0:
            step = min(4096, pos)
            pos -= step
            handle.seek(pos)
            block = handle.read(step) + block
            # We need the newline that ends the last complete line and the one before it.
            cut = block.rfind(b"\n")
            if cut >= 0 and block.rfind(b"\n", 0, cut) >= 0:
                break
        cut = block.rfind(b"\n")
        torn = block[cut + 1 :]
        if cut < 0:
            return b"", 0, torn
        start = block.rfind(b"\n", 0, cut) + 1
        return block[start:cut], pos + start, torn


class AuditLog:
    def __init__(
        self,
        directory: Path,
        *,
        signer: Signer | None = None,
        checkpoint_every: int = 1000,
        fsync_every: int = 1000,
        fsync_interval_ms: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.fsync_every = fsync_every
        self.fsync_interval = fsync_interval_ms / 1000
        self._clock = clock
        self._thread_lock = threading.Lock()
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._fd_path: str | None = None
        # The head as this process last saw it, and the file and size that prove it is current.
        # Paths are kept as str: pathlib's comparisons cost more than the rest of an append.
        self._dir = str(self.directory)
        self._head: tuple[int, str] = (0, GENESIS)
        self._head_file: str | None = None
        self._head_size = -1
        self._unsynced = 0
        self._last_sync = time.monotonic()
        self._unsealed = False
        # Formatting a timestamp is costly next to an append: the part up to the second is cached.
        self._second = -1
        self._second_text = ""

    # -- writing ----------------------------------------------------------------------------------

    def append(
        self,
        category: str,
        event: str,
        *,
        details: dict[str, Any] | None = None,
        actor: str = "system",
        level: str = "info",
        sync: bool = False,
    ) -> AuditEntry:
        """Add one entry to the chain. `sync=True` makes it durable before returning."""
        clean = redact(details) if details else {}
        with self._thread_lock:
            lock_fd = self._lock()
            try:
                ts, day = self._now()
                repaired = self._refresh_head(day)
                if repaired is not None:
                    self._write_entry("audit", "torn_line_repaired", repaired, "system", "warning", ts, day)
                entry = self._write_entry(category, event, clean, actor, level, ts, day)
                if sync:
                    self._sync()
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
        return entry

    def seal(self) -> Checkpoint | None:
        """Sign a checkpoint at the current head (None on an empty log or without a key)."""
        with self._locked():
            self._refresh_head(self._now()[1])
            if self._head[0] == 0 or self.signer is None:
                return None
            return self._checkpoint_locked()

    def close(self) -> None:
        """Seal what this process appended since its last checkpoint, sync and let go of files."""
        if self._unsealed and self.signer is not None:
            self.seal()
        with self._thread_lock:
            self._sync()
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._lock_fd = None
            self._fd_path = None

    def _lock(self) -> int:
        """Take the cross-process lock (the caller holds the thread lock and must unlock)."""
        if self._lock_fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self._lock_fd

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            lock_fd = self._lock()
            try:
                yield
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)

    def _now(self) -> tuple[str, str]:
        """(timestamp with microseconds, name of the day file) in UTC."""
        now = self._clock()
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((now - second) * 1e6):06d}Z", f"{self._second_text[:10]}.ndjson"

    def _write_entry(
        self, category: str, event: str, details: Any, actor: str, level: str, ts: str, day: str
    ) -> AuditEntry:
        seq, prev = self._head[0] + 1, self._head[1]
        head_file = self._head_file
        # A clock that went back must not put entries in an older file than the chain's head.
        target = head_file if head_file is not None and os.path.basename(head_file) >= day else f"{self._dir}/{day}"
        digest, line = encode_entry(
            seq=seq, ts=ts, level=level, category=category, event=event, actor=actor, details=details, prev=prev
        )
        self._write(target, (line + "\n").encode("utf-8"))
        self._head = (seq, digest)
        self._unsealed = True
        if self.signer is not None and seq % self.checkpoint_every == 0:
            self._checkpoint_locked()
        return AuditEntry(seq, ts, level, category, event, actor, details, prev, digest)

    def _write(self, path: str, data: bytes) -> None:
        if self._fd_path != path:
            self._sync()
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._fd_path = path
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        if path == self._head_file:
            self._head_size += len(data)  # we hold the lock: nobody else wrote in between
        else:
            self._head_file, self._head_size = path, os.fstat(self._fd).st_size
        self._unsynced += 1
        if self._unsynced >= self.fsync_every or time.monotonic() - self._last_sync >= self.fsync_interval:
            self._sync()

    def _sync(self) -> None:
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def _head_still_current(self, day: str) -> bool:
        head_file = self._head_file
        if head_file is None:
            return False
        if day > os.path.basename(head_file) and os.path.exists(f"{self._dir}/{day}"):
            return False  # another process started today's file
        try:
            size = os.fstat(self._fd).st_size if self._fd_path == head_file else os.stat(head_file).st_size  # type: ignore[arg-type]
        except FileNotFoundError:
            return False
        return size == self._head_size

    def _refresh_head(self, day: str) -> dict[str, Any] | None:
        """Make self._head current. Returns the details of a torn-line repair, if one was needed."""
        if self._head_still_current(day):
            return None
        repaired = None
        for path in reversed(log_files(self.directory)):
            line, start, torn = read_last_line(path)
            if torn:
                repaired = self._repair(path, start + len(line) + (1 if line else 0), torn)
            if not line:
                continue
            try:
                last = json.loads(line)
                seq, digest = last["seq"], last["hash"]
                if type(seq) is not int or not HEX64.fullmatch(digest):
                    raise ValueError("not an entry head")
                self._head = (seq, digest)
            except (ValueError, KeyError, TypeError):
                lineno = line_number_at(path, start)
                raise AuditError(
                    f"the last audit entry ({path.name}:{lineno}) is not a valid entry; refusing to "
                    "extend a chain whose head cannot be read",
                    fix="run `mh audit verify` to see what happened to the log",
                ) from None
            self._head_file, self._head_size = str(path), path.stat().st_size
            return repaired
        self._head, self._head_file, self._head_size = (0, GENESIS), None, -1
        return repaired

    def _repair(self, path: Path, keep: int, torn: bytes) -> dict[str, Any]:
        """Cut a torn last line off, keeping its bytes under torn/ so nothing is lost."""
        kept_dir = self.directory / "torn"
        kept_dir.mkdir(exist_ok=True)
        kept = kept_dir / f"{path.name}.{keep}.frag"
        kept.write_bytes(torn)
        with open(path, "r+b") as handle:
            handle.truncate(keep)
            os.fsync(handle.fileno())
        return {"file": path.name, "offset": keep, "bytes": len(torn), "kept_as": f"torn/{kept.name}"}

    def _checkpoint_locked(self) -> Checkpoint:
        assert self.signer is not None
        seq, digest = self._head
        ts = self._now()[0]
        key_id = self.signer.key_id
        sig = self.signer.sign(checkpoint_message(seq, digest, ts, key_id))
        checkpoint = Checkpoint(seq, digest, ts, key_id, sig)
        self._sync()
        fd = os.open(self.directory / CHECKPOINTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(checkpoint.to_dict(), sort_keys=True, separators=(",", ":")) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._unsealed = False
        return checkpoint

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last entry; (0, GENESIS) for an empty log."""
        with self._locked():
            self._refresh_head(self._now()[1])
            return self._head

    # -- reading ----------------------------------------------------------------------------------

    def entries(self) -> Iterator[AuditEntry]:
        """Every entry, oldest first. Lines that do not parse are skipped: `verify` reports them."""
        for path in log_files(self.directory):
            with open(path, "rb") as handle:
                for raw in handle:
                    entry = _parse(raw)
                    if entry is not None:
                        yield entry

    def tail(self, count: int, *, category: str | None = None, level: str | None = None,
             date: str | None = None) -> list[AuditEntry]:
        """The last `count` entries that match, oldest first. `date` is a prefix of the timestamp
        (2026-11, 2026-11-22, 2026-11-22T10); only the day files it can match are read."""
        found: deque[AuditEntry] = deque()
        for path in reversed(log_files(self.directory)):
            if date and not (path.stem.startswith(date) or date.startswith(path.stem)):
                continue
            with open(path, "rb") as handle:
                lines = handle.read().splitlines()
            for raw in reversed(lines):
                entry = _parse(raw)
                if entry is None or (category and entry.category != category) or (level and entry.level != level) \
                        or (date and not entry.ts.startswith(date)):
                    continue
                found.appendleft(entry)
                if len(found) >= count:
                    return list(found)
        return list(found)

    def checkpoints(self) -> list[Checkpoint]:
        path = self.directory / CHECKPOINTS
        if not path.exists():
            return []
        result = []
        for raw in path.read_bytes().splitlines():
            try:
                result.append(Checkpoint(**json.loads(raw)))
            except (ValueError, TypeError):
                continue
        return result


def _parse(raw: bytes) -> AuditEntry | None:
    try:
        return AuditEntry.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        return None


def line_number_at(path: Path, offset: int) -> int:
    with open(path, "rb") as handle:
        return handle.read(offset).count(b"\n") + 1
