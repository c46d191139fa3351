"""Background agents ("services"): what each one is, its run counters and its log.

State lives in state/services/<name>.json (runs, successes, failures, last run, last error) and a
human log in logs/services/<name>.log; both are updated under a lock so several runs may record.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from .errors import MhError
from .home import Home
from .jsonio import atomic_write, pretty, read_json_file
from .liveness import RunningMarker


class ServiceState(BaseModel):
    name: str
    runs: int = 0
    successes: int = 0
    failures: int = 0
    last_run_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    description: str
    build: Callable  # (runtime) -> an object with run_once() and watch(stop)


class ServiceBook:
    """Counters and log of one service."""

    def __init__(self, home: Home, name: str) -> None:
        self.name = name
        self.state_file = home.services_dir / f"{name}.json"
        self.running = RunningMarker(home.services_dir / f"{name}.pid", what=name,
                                     fix="stop that one first (Ctrl-C in its terminal, or kill its pid)")
        self.log_file = home.service_logs / f"{name}.log"

    def state(self) -> ServiceState:
        try:
            return ServiceState.model_validate(read_json_file(self.state_file))
        except FileNotFoundError:
            return ServiceState(name=self.name)
        except (OSError, ValueError):
            return ServiceState(name=self.name, last_error=f"{self.state_file.name} is unreadable; counting anew")

    def record(self, *, ok: bool, error: str | None = None) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state_file.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.state()
            state.runs += 1
            state.successes += ok
            state.failures += not ok
            state.last_run_at = datetime.now(UTC)
            state.last_error = error if not ok else state.last_error
            atomic_write(self.state_file, pretty(state.model_dump(mode="json")))

    def log(self, line: str) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fd = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{stamp} {line}\n".encode())
        finally:
            os.close(fd)

    def last_lines(self, count: int) -> list[str]:
        if not self.log_file.exists():
            return []
        return self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-count:]


def _ingestor(runtime):
    from .ingest import Ingestor

    return Ingestor(runtime)


def _organizer(runtime):
    from .organize import Organizer

    return Organizer(runtime)


SERVICES = {
    spec.name: spec
    for spec in (
        ServiceSpec("ingestor", "turns files dropped in memory/inbox/ into memories", _ingestor),
        ServiceSpec("organizer", "adds tags and entities to new memories with the model", _organizer),
    )
}


def service(name: str) -> ServiceSpec:
    try:
        return SERVICES[name]
    except KeyError:
        raise MhError(f"no agent named {name!r}", fix=f"agents: {', '.join(SERVICES)}") from None


def watch(worker, stop, announce: Callable[[], None]) -> None:
    """Run a service's watch loop until `stop` is set, marked running for exactly that long. A second
    watcher of the same home is refused (AlreadyRunning) before `announce` is called."""
    with worker.book.running.hold():
        announce()
        worker.watch(stop)


def inbox_depth(home: Home) -> int:
    inbox: Path = home.inbox
    return sum(1 for p in inbox.iterdir() if not p.name.startswith((".", "_"))) if inbox.exists() else 0


def failed_inbox_files(home: Home) -> list[str]:
    """Names in memory/inbox/_failed/ (each has a .reason beside it)."""
    failed = home.inbox_failed
    return sorted(p.name for p in failed.iterdir() if not p.name.endswith(".reason")) if failed.exists() else []


def memory_overview(runtime) -> dict[str, int | list[str]]:
    """What `mh agent monitor` and the console's memory panel show."""
    numbers = runtime.memory.stats()
    return {"memories": numbers["total"], "processed": numbers["processed"], "unprocessed": numbers["unprocessed"],
            "inbox": inbox_depth(runtime.home), "failed": failed_inbox_files(runtime.home)}
