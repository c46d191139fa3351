"""What every background service keeps: its run counters, its running marker, its log, and its door.
Also the names of the services, without their code.

State lives in state/services/<name>.json (runs, successes, failures, last run, last error, next run
and what it waits for) and a human log in logs/services/<name>.log, rotated at LOG_BYTES (LOG_BACKUPS
old files kept); both are updated under a lock so several processes may record.
This module knows no particular service: the registry of services (runtime/services.py) imports the
services, and the services import this.
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from .config import load_config
from .errors import MhError
from .home import Home
from .jsonio import atomic_write, pretty, read_json_file
from .liveness import RunningMarker, file_lock
from .runtime import CallStatus, Runtime, Session
from .trust import Verdict

# Which services there are and what each does. Their code is registered in runtime/services.py;
# the names live here so that readers (runtime/queries) need not import the services themselves.
DESCRIPTIONS = {
    "ingestor": "turns files dropped in memory/inbox/ into memories",
    "organizer": "adds tags and entities to new memories once the person is idle",
    "sleep-service": "at night, when the person is idle: dreams, then the nightly training (etc/sleep.json)",
    "boredom-service": "after idle time, one reflection from recent memories (etc/boredom.json)",
}
LOG_BYTES = 1 << 20
RUNNING_ELSEWHERE = 75  # `mh agent run NAME` exits so when another process runs NAME (EX_TEMPFAIL): the supervisor waits, no crash
LOG_BACKUPS = 3


def enabled(home: Home, name: str) -> tuple[bool, str | None]:
    """Whether the supervisor runs this service, and why not. A service whose config cannot be read
    is run all the same: it says what is wrong, and takes the file again once it is fixed."""
    try:
        if name == "sleep-service" and not load_config(home, "sleep.json").enabled:
            return False, "etc/sleep.json: enabled is false"
        if name == "boredom-service" and load_config(home, "boredom.json").level == "off":
            return False, "etc/boredom.json: level is off"
    except MhError:
        return True, None
    return True, None


def known_service(name: str) -> str:
    """The name, if there is a service of that name."""
    if name not in DESCRIPTIONS:
        raise MhError(f"no agent named {name!r}", fix=f"agents: {', '.join(DESCRIPTIONS)}")
    return name


class ServiceState(BaseModel):
    name: str
    runs: int = 0
    successes: int = 0
    failures: int = 0
    last_run_at: datetime | None = None
    last_error: str | None = None
    next_run_at: datetime | None = None
    note: str | None = None  # what it is doing or waiting for, in words


class ServiceBook:
    """Counters and log of one service."""

    def __init__(self, home: Home, name: str) -> None:
        self.name = name
        self.state_file = home.services_dir / f"{name}.json"
        self.running = RunningMarker(home.services_dir / f"{name}.pid", what=name,
                                     fix="stop that one first (Ctrl-C in its terminal, or kill its pid)")
        self.log_file = home.service_logs / f"{name}.log"
        self._said: dict[str, str] = {}  # the failure said last, by what it is about

    def fail_once(self, text: str, *, about: str = "config", say: str = "cannot run") -> None:
        """A failure said once (a log line, one failure counted) until it changes or is cleared: a
        service that looks again each minute does not count it each minute."""
        if self._said.get(about) != text:
            self._said[about] = text
            self.log(f"{say}: {text}")
            self.record(ok=False, error=text)

    def clear_failure(self, about: str = "config") -> None:
        self._said.pop(about, None)

    def state(self) -> ServiceState:
        try:
            return ServiceState.model_validate(read_json_file(self.state_file))
        except FileNotFoundError:
            return ServiceState(name=self.name)
        except (OSError, ValueError):
            return ServiceState(name=self.name, last_error=f"{self.state_file.name} is unreadable; counting anew")

    def record(self, *, ok: bool, error: str | None = None) -> None:
        with self._locked(".lock") as state:
            state.runs += 1
            state.successes += ok
            state.failures += not ok
            state.last_run_at = datetime.now(UTC)
            state.last_error = error if not ok else state.last_error

    def plan(self, next_run_at: datetime | None, note: str | None) -> None:
        """When it runs next and what it waits for; written only when that changed."""
        if (self.state().next_run_at, self.state().note) == (next_run_at, note):
            return
        with self._locked(".lock") as state:
            state.next_run_at, state.note = next_run_at, note

    @contextmanager
    def _locked(self, suffix: str) -> Iterator[ServiceState]:
        with file_lock(self.state_file.with_suffix(suffix)):
            state = self.state()
            yield state
            atomic_write(self.state_file, pretty(state.model_dump(mode="json")))

    def log(self, line: str) -> None:
        """One line, stamped. Rotation renames the file, so the handler is opened per line under the
        log's lock: a line of another process never lands in a file that was rotated away."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with file_lock(self.log_file.with_name(f".{self.log_file.name}.lock")):
            handler = logging.handlers.RotatingFileHandler(self.log_file, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
            try:
                handler.setFormatter(logging.Formatter("%(message)s"))
                handler.emit(logging.LogRecord(self.name, logging.INFO, __file__, 0, f"{stamp} {line}", None, None))
            finally:
                handler.close()

    def last_lines(self, count: int) -> list[str]:
        if not self.log_file.exists() or count <= 0:
            return []
        return self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-count:]


class ServiceDoor:
    """A service's only way to change anything: skill calls through `Runtime.call` as
    `service:NAME`, gated and audited like the person's own.

    While the gate refuses the service's skill (trust level `observe`, a deny rule) the service is
    paused: it changes nothing, says so once in its log and in the audit log, and asks again on each
    pass without acting, so a watching service neither fills the audit log with a denial every few
    seconds nor loads a model whose answer it could not save. It resumes by itself once the gate
    lets it through."""

    def __init__(self, runtime: Runtime, book: ServiceBook) -> None:
        self.runtime = runtime
        self.book = book
        self.session = Session.service(book.name)
        self.paused: str | None = None  # the gate's reason while paused

    def ready(self, skill_id: str, args: dict[str, Any]) -> bool:
        """Would the gate let this call run now? Asks without acting (nothing is written unless the
        answer changes from the last pass's)."""
        decision = self.runtime.decide(self.runtime.skills.get(skill_id), args, self.session)
        if decision.verdict is Verdict.deny:
            self._pause(skill_id, decision.reason)
            return False
        if self.paused is not None:
            self.paused = None
            self.book.log(f"resumed: {skill_id} runs again")
            self.runtime.audit.append("service", "resumed", details={"service": self.book.name, "skill": skill_id},
                                      actor=self.session.actor)
        return True

    def call(self, skill_id: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """The skill's result (its model as JSON); None when the gate refuses it (the service is then paused)."""
        if not self.ready(skill_id, args):
            return None
        outcome = self.runtime.call(skill_id, args, session=self.session)
        if outcome.status is CallStatus.denied:  # the level changed since `ready`: the runtime audited it
            self._pause(skill_id, outcome.reason)
            return None
        if outcome.status is not CallStatus.ok:
            raise MhError(f"{skill_id}: {outcome.error or outcome.reason}", fix=outcome.fix)
        return outcome.result

    def _pause(self, skill_id: str, reason: str) -> None:
        if self.paused is None:
            self.book.log(f"paused: {skill_id} is refused ({reason}); nothing changes until the gate allows it")
            self.runtime.audit.append("service", "paused", details={"service": self.book.name, "skill": skill_id,
                                      "reason": reason}, actor=self.session.actor, level="warning")
        self.paused = reason
