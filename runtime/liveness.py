"""A "running" marker that cannot outlive its process: an exclusive flock on a small file holding
the pid. The kernel drops the lock when the process ends, however it ends (SIGKILL included), so a
reader never mistakes a crashed service or training run for a live one."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import MhError


class AlreadyRunning(MhError):
    """Another process holds the marker."""


@contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive flock on `path` (made if missing) for the block: True when held; with `wait`
    false, False at once when another process holds it. The kernel drops it if the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


class RunningMarker:
    def __init__(self, path: Path, *, what: str, fix: str) -> None:
        self.path = path
        self.what = what
        self.fix = fix

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = os.read(fd, 32).decode(errors="replace") or "?"
                raise AlreadyRunning(f"{self.what} is running already (pid {pid})", fix=self.fix) from None
            os.ftruncate(fd, 0)  # a SIGKILLed holder left its pid, maybe a longer one
            os.write(fd, str(os.getpid()).encode())
            try:
                yield
            finally:
                os.ftruncate(fd, 0)  # a change event, so watchers (the console) see it end
        finally:
            os.close(fd)

    def is_held(self) -> bool:
        return self._probe()[0]

    def holder(self) -> int | None:
        """The pid of the live holder; None when nobody holds it (or it is between lock and write)."""
        held, text = self._probe()
        return int(text) if held and text.isdigit() else None

    def _probe(self) -> tuple[bool, str]:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False, ""
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False, ""
        except BlockingIOError:
            return True, os.read(fd, 32).decode(errors="replace").strip()
        finally:
            os.close(fd)
