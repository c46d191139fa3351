"""The boredom service: once the person has been idle for the interval of etc/boredom.json's level
(low 900 s, medium 300 s, high 60 s, custom: `intervals.custom`), one reflection memory, saved by
`memory_compose` as `service:boredom-service`.

A reflection quotes the sentences most central to the person's recent memories (runtime/dreams.py)
and links the ids it drew from; it claims nothing they do not say. One reflection per idle
stretch: its id is derived from the moment the person last acted, so a restart, or a second tick,
finds it saved and waits for the person to act again. `level: off` means off: nothing is read.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .config import BoredomConfig, load_config
from .dreams import COMPOSED_TYPES, reflection
from .errors import ConfigError, MhError
from .idle import last_person_activity
from .service_book import ServiceBook, ServiceDoor

if TYPE_CHECKING:
    from .runtime import Runtime

NAME = "boredom-service"
RETRY_S = 60.0


def reflection_id(last_activity: datetime) -> str:
    """Named by the idle stretch alone (not by when the interval ends): a level changed within the
    stretch finds the reflection already made."""
    digest = hashlib.sha256(f"reflection:{last_activity.isoformat()}".encode()).hexdigest()[:16]
    return f"evt-{last_activity:%Y%m%dT%H%M%S%f}-reflection-{digest}"


class BoredomService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.home = runtime.home
        self.book = ServiceBook(runtime.home, NAME)
        self.door = ServiceDoor(runtime, self.book)

    def run_once(self) -> dict[str, Any]:
        wanted = self.tick()
        return {"state": self.book.state().note, "next run": f"{wanted:%Y-%m-%d %H:%M:%S} UTC" if wanted else "none"}

    def tick(self) -> datetime | None:
        now = datetime.now(UTC)
        try:
            cfg: BoredomConfig = load_config(self.home, "boredom.json")  # type: ignore[assignment]
        except ConfigError as exc:
            text = f"{exc.message} (fix: {exc.fix})"
            self.book.fail_once(text)
            return self._plan(None, f"error: {text}", now + timedelta(seconds=RETRY_S))
        self.book.clear_failure()
        interval = cfg.interval_s
        if interval is None:
            return self._plan(None, "off (etc/boredom.json: level is off)", now + timedelta(seconds=RETRY_S))
        last = last_person_activity(self.home.audit_dir)
        if last is None:
            return self._plan(None, "waiting for the person's first action", now + timedelta(seconds=RETRY_S))
        due = last + timedelta(seconds=interval)
        if now < due:
            return self._plan(due, f"reflects after {interval:g} s idle ({cfg.level})", due)
        event_id = reflection_id(last)
        if self.runtime.memory.exists(event_id):
            return self._plan(None, "reflected on this idle stretch; waits for the person to act again", now + timedelta(seconds=RETRY_S))
        if not self.door.ready("memory_compose", {}):
            return self._plan(None, f"paused: {self.door.paused}", now + timedelta(seconds=RETRY_S))
        composed = reflection(self.runtime.memory.newest(not_types=COMPOSED_TYPES, limit=cfg.recent))
        if composed is None:
            return self._plan(None, "nothing to reflect on yet (no memory with a sentence to quote)", now + timedelta(seconds=RETRY_S))
        try:
            result = self.door.call("memory_compose", {"type": "reflection", "id": event_id, "timestamp": due.isoformat(),
                                                       "content": composed.content, "links": composed.links,
                                                       "metadata": {"idle_since": last.isoformat(), "level": cfg.level}})
        except MhError as exc:  # refused (a memory deleted meanwhile): counted once, tried again a minute later
            self.book.fail_once(exc.message, about="refused", say="reflection refused")
            return self._plan(None, f"reflection refused: {exc.message}", now + timedelta(seconds=RETRY_S))
        if result is None:
            return self._plan(None, f"paused: {self.door.paused}", now + timedelta(seconds=RETRY_S))
        self.book.record(ok=True)
        self.book.log(f"reflected {event_id} on {', '.join(composed.links)}")
        return self._plan(None, "reflected on this idle stretch; waits for the person to act again", now + timedelta(seconds=RETRY_S))

    def _plan(self, next_run: datetime | None, note: str, wake: datetime) -> datetime:
        self.book.plan(next_run, note)
        return wake

    def watch(self, stop) -> None:
        from .scheduling import run_ticks

        self.book.log("watching for idle time")
        try:
            run_ticks(self.tick, stop)
        finally:
            self.book.log("stopped")
