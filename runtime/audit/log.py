"""Appending to and reading the audit log.

Appends from many processes keep one chain: each append takes an exclusive `flock` on
logs/audit/.lock, finds the head (cached per process and re-read only when a file changed size under
us), writes one line with O_APPEND and releases. fsyncs are batched (group commit): after
`fsync_every` entries or `fsync_interval_ms`, on `sync=True`, on seal and on close. A line torn by a
crash is cut off at the next append, kept under logs/audit/torn/, and the repair is itself audited.

Sealing: a signed checkpoint every `checkpoint_every` entries, `seal_interval_s` after an entry was
written (a timer, so an idle process seals too), on close, at interpreter exit and on SIGTERM. A
writer holds a shared lock on logs/audit/.writers from its first append to its close; the kernel
drops it however the process ends. A process that finds itself the only writer and entries after
the last checkpoint knows their writer did not close (or that they were added by hand): it writes an
`audit.unsealed_tail` entry naming them before it seals them.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import re
import signal
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import AuditError
from ..keys import Signer
from ..redact import redact
from .format import GENESIS, checkpoint_message, encode_entry, rotation_message
from .witness import Witness

CHECKPOINTS = "checkpoints.ndjson"
WRITERS = ".writers"
HEX64 = re.compile(r"[0-9a-f]{64}")
SEQ_FIELD = re.compile(rb'"seq":(\d+),"ts":"[^"]*"\}$')
TAIL_EVENTS = 20  # an unsealed_tail entry names at most this many of the entries it flags


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
        seal_interval_s: float = 30.0,
        witness: Witness | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.signer = signer
        self.witness = witness
        self.checkpoint_every = checkpoint_every
        self.seal_interval = seal_interval_s
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
        self._unsealed_since = 0.0
        self._timer: threading.Timer | None = None
        self._writers_fd: int | None = None
        self._home_id: str | None = None
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
                mine = self._head
                repaired = self._refresh_head(day)
                if self._writers_fd is None:
                    self._join_writers(ts, day)
                elif self._head != mine:
                    self._flag_foreign_tail(mine[0], ts, day)
                if repaired is not None:
                    self._write_entry("audit", "torn_line_repaired", repaired, "system", "warning", ts, day)
                entry = self._write_entry(category, event, clean, actor, level, ts, day)
                if self._unsealed and self.signer is not None and time.monotonic() - self._unsealed_since >= self.seal_interval:
                    self._checkpoint_locked()
                if sync:
                    self._sync()
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
        return entry

    def seal(self) -> Checkpoint | None:
        """Sign a checkpoint at the current head (None on an empty log or without a key)."""
        with self._locked():
            ts, day = self._now()
            mine = self._head
            self._refresh_head(day)
            if self._head[0] == 0 or self.signer is None:
                return None
            if self._writers_fd is None:
                self._join_writers(ts, day)
            elif self._head != mine:
                self._flag_foreign_tail(mine[0], ts, day)
            return self._checkpoint_locked()

    def close(self) -> None:
        """Seal what this process appended since its last checkpoint, sync and let go of files."""
        if self._timer is not None:
            self._timer.cancel()
        if self._unsealed and self.signer is not None:
            self.seal()
        with self._thread_lock:
            self._sync()
            # The writers lock goes last: until the seal above is on disk, this process is a writer.
            for fd in (self._fd, self._lock_fd, self._writers_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._lock_fd = self._writers_fd = None
            self._fd_path = None
        _open_logs.discard(self)

    def _join_writers(self, ts: str, day: str) -> None:
        """Become a writer (under the append lock). Alone, seal and flag any tail a dead writer left."""
        fd = os.open(self.directory / WRITERS, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            alone = False
        if alone and self.signer is not None:
            last = last_checkpoint_seq(self.directory)
            if self._head[0] > last:
                self._write_entry("audit", "unsealed_tail", self._tail_details(last), "system", "security", ts, day)
                self._checkpoint_locked()
        # Nobody else takes it exclusively except for a probe like ours, so this never waits long.
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._writers_fd = fd
        _watch(self)

    def _flag_foreign_tail(self, since: int, ts: str, day: str) -> None:
        """The head moved past what this (long-lived) writer last wrote. Entries another writer still
        alive wrote are its to seal; entries nobody alive wrote and nobody sealed came from a killed
        process or by hand: flag them before this process's next checkpoint covers them."""
        if self.signer is None or not self._alone():  # two flock calls: cheaper than reading checkpoints
            return
        last = max(last_checkpoint_seq(self.directory), since)
        if self._head[0] <= last:
            return
        self._write_entry("audit", "unsealed_tail", self._tail_details(last), "system", "security", ts, day)

    def _alone(self) -> bool:
        """Whether no other process holds the writers lock. Only ever asked under the append lock,
        which every such probe takes, so dropping our shared lock for the probe is never seen."""
        fd = self._writers_fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            alone = False
        fcntl.flock(fd, fcntl.LOCK_SH)
        return alone

    def _tail_details(self, last: int) -> dict[str, Any]:
        head = self._head[0]
        events = []
        for raw in lines_backward(log_files(self.directory), min(head - last, TAIL_EVENTS)):
            entry = _parse(raw)
            events.append(f"{entry.seq} {entry.category}.{entry.event} {entry.actor}" if entry else "unreadable")
        return {"from": last + 1, "to": head, "count": head - last, "entries": events[::-1],
                "why": "written by a process that did not close, or added by hand"}

    def _timed_seal(self) -> None:
        with self._thread_lock:
            self._timer = None
            if not self._unsealed or self._lock_fd is None or self.signer is None:
                return
            lock_fd = self._lock()
            try:
                ts, day = self._now()
                mine = self._head
                self._refresh_head(day)
                if self._head != mine:
                    self._flag_foreign_tail(mine[0], ts, day)
                self._checkpoint_locked()
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)

    def seal_nowait(self) -> None:
        """Seal from a signal handler: only if no thread of this process is inside the log."""
        if not self._unsealed or self.signer is None or not self._thread_lock.acquire(blocking=False):
            return
        self._thread_lock.release()
        self.close()

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
        if not self._unsealed:
            self._unsealed = True
            self._unsealed_since = time.monotonic()
            if self.signer is not None and self._timer is None:
                self._timer = threading.Timer(self.seal_interval, self._timed_seal)
                self._timer.daemon = True
                self._timer.start()
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
        if self.witness is not None:
            # A witness that disagrees stays as it is: it is the evidence `mh audit verify` reports.
            self.witness.advance(seq=seq, entry_hash=digest, key_id=key_id, ts=ts, sig=sig,
                                 home_id=self._genesis_home_id(), since=self._since)
        return checkpoint

    def rotate_key(self, new: Signer) -> Checkpoint:
        """Hand the log over to a new key: an `audit.key_rotated` entry signed by the old key, sealed
        with the old key; later checkpoints are signed with the new one. The caller stores the new key."""
        if self.signer is None:
            raise AuditError("this log has no signing key to rotate", fix="run `mh init` first")
        old = self.signer
        public = bytes(new.signing_key.verify_key).hex()
        with self._locked():
            ts, day = self._now()
            self._refresh_head(day)
            details = {"from": old.key_id, "to": new.key_id, "public_key": public,
                       "sig": old.sign(rotation_message(self._head[1], old.key_id, public))}
            self._write_entry("audit", "key_rotated", details, "system", "security", ts, day)
            checkpoint = self._checkpoint_locked()
            self.signer = new
        return checkpoint

    def _since(self, seq: int) -> tuple[str | None, list[tuple[str, str]]]:
        """(hash of entry `seq` as the files hold it now, key rotations after it, oldest first).
        Read from the end: `seq` is the last witnessed head, so it is recent."""
        files = log_files(self.directory)
        rotations: list[tuple[str, str]] = []
        lines = first_lines(files) if seq == 1 else lines_backward(files, None)
        for raw in lines:
            found = SEQ_FIELD.search(raw)
            if found is None:
                return None, rotations
            at = int(found.group(1))
            if at < seq:
                break
            entry = _parse(raw) if at == seq or b'"event":"key_rotated"' in raw else None
            if at == seq:
                return (entry.hash if entry else None), rotations[::-1]
            if entry is not None and entry.category == "audit" and isinstance(entry.details, dict):
                rotations.append((str(entry.details.get("from")), str(entry.details.get("to"))))
        return None, rotations

    def _genesis_home_id(self) -> str | None:
        if self._home_id is None:
            first = next(first_lines(log_files(self.directory)), b"")
            entry = _parse(first)
            if entry is not None and isinstance(entry.details, dict):
                self._home_id = entry.details.get("home_id")
        return self._home_id

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


def last_checkpoint_seq(directory: Path) -> int:
    """The seq of the last checkpoint; 0 when there is none (or the last one cannot be read)."""
    path = directory / CHECKPOINTS
    if not path.exists():
        return 0
    line, _, _ = read_last_line(path)
    try:
        seq = json.loads(line)["seq"]
    except (ValueError, KeyError, TypeError):
        return 0
    return seq if type(seq) is int else 0


def other_writers(directory: Path) -> bool:
    """Whether a process (this one included) holds logs/audit/.writers: a writer that is still running."""
    try:
        fd = os.open(directory / WRITERS, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def first_lines(files: list[Path]) -> Iterator[bytes]:
    """The first line of the first file that has one (an iterator, like lines_backward)."""
    for path in files:
        with open(path, "rb") as handle:
            line = handle.readline()
        if line.endswith(b"\n"):
            yield line.rstrip(b"\n")
            return


def lines_backward(files: list[Path], count: int | None) -> Iterator[bytes]:
    """Complete lines from the end of the last file back, across files; at most `count`."""
    left = count
    for path in reversed(files):
        for line in _file_backward(path):
            if left is not None:
                if left <= 0:
                    return
                left -= 1
            yield line


def _file_backward(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        pos = handle.seek(0, os.SEEK_END)
        rest = b""
        torn = True  # whatever follows the file's last newline is a torn write, not an entry
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            handle.seek(pos)
            parts = (handle.read(step) + rest).split(b"\n")
            if torn:
                if len(parts) == 1:
                    rest = b""
                    continue
                parts.pop()
                torn = False
            rest = parts[0]
            yield from reversed(parts[1:])
        if rest and not torn:
            yield rest


# Logs that may hold unsealed entries, sealed at interpreter exit and on SIGTERM.
_open_logs: weakref.WeakSet[AuditLog] = weakref.WeakSet()
_term_hooked = False


def _watch(log: AuditLog) -> None:
    global _term_hooked
    _open_logs.add(log)
    if not _term_hooked and threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _seal_then_die)
        _term_hooked = True


def _seal_then_die(signum: int, frame: object) -> None:
    """SIGTERM with the default action, after sealing what this process wrote (when it safely can)."""
    for log in list(_open_logs):
        log.seal_nowait()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


@atexit.register
def _close_all() -> None:
    for log in list(_open_logs):
        log.close()


def _parse(raw: bytes) -> AuditEntry | None:
    try:
        return AuditEntry.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        return None


def line_number_at(path: Path, offset: int) -> int:
    with open(path, "rb") as handle:
        return handle.read(offset).count(b"\n") + 1
