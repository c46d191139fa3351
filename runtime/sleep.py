"""The sleep service: once a night, inside the window of etc/sleep.json and after the person has been
idle `min_idle_mins`, it dreams (runtime/dreams.py, saved by `memory_compose`) and then, when
`adapters.lora` is true and etc/auto-approval.json is enabled, starts the nightly pipeline as a job
(`job_start`), gated and audited like the person's own, as `service:sleep-service`.

**Once a night.** A night is named by the date its window opens (a window 23:00-06:30 opened on
Nov 22 is night 2026-11-22, also at 03:00 on Nov 23). Its record, state/services/sleep-nights/
<night>.json, is written before each step acts: the planned dreams (ids, sentences, links) before
the first is saved, `starting` before the job is started, the job's id once it runs, `done` at
the end. So a restart, a second wake-up in the same window, or the clock set back into a window
already slept finds the record and does nothing twice; a killed night resumes where it stopped
(a dream saved but not yet ticked off is recognised by its id; a job started but not yet recorded
is found among the jobs this service started since `starting`) - but only while enabled, inside its
window and once the person is idle: otherwise it ends as `expired` (a nightly already running is
followed to its end). A failure that is not the night's verdict (a full disk) fails the tick, so
the supervisor retries with backoff; `mh stop` stops the nightly this service started. Nights are named by wall-clock
dates, so a DST change shifts the window by the hour like any alarm clock, but never adds a night.

**Catch-up rule.** With `catch_up` false (the default) a window that passes without the person
ever being idle long enough (or with the machine off) is skipped: the next window runs as usual.
With `catch_up` true, the last missed night runs once at the first idle moment before the next
window opens; older missed nights are never run.

**`adapters.lora: false`** stops dataset building and training at once: no nightly is started,
and a nightly this service started and still running is stopped (`job_stop`) on the next tick
(within `JOB_POLL_S`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from .config import SleepConfig, SleepWindow, load_config
from .dreams import COMPOSED_TYPES, dreams, ungrounded_lines
from .errors import ConfigError, MhError
from .idle import idle_seconds
from .jobs import ACTIVE, Jobs
from .jsonio import atomic_write, pretty, read_json_file
from .liveness import file_lock
from .service_book import ServiceBook, ServiceDoor
from .words import counted

if TYPE_CHECKING:
    from .runtime import Runtime

NAME = "sleep-service"
JOB_POLL_S = 5.0  # how often a running nightly is looked at (and stopped, once adapters.lora is false)
RETRY_S = 60.0
DREAM_POOL = 2000  # the newest memories a night's dreams are drawn from (older ones weigh little: dreams.HALF_LIFE_DAYS)


@dataclass(frozen=True)
class Night:
    key: str  # the date the window opened
    start: datetime  # local wall-clock times, naive
    end: datetime


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _night(day: date, window: SleepWindow) -> Night:
    start, end = _clock(window.start), _clock(window.end)
    closes = day + timedelta(days=1) if end <= start else day
    return Night(day.isoformat(), datetime.combine(day, start), datetime.combine(closes, end))


def window_at(now: datetime, window: SleepWindow) -> Night | None:
    """The night whose window holds `now` (local, naive), if any."""
    for day in (now.date() - timedelta(days=1), now.date()):
        night = _night(day, window)
        if night.start <= now < night.end:
            return night
    return None


def next_window(now: datetime, window: SleepWindow) -> Night:
    """The first window that opens after `now`."""
    return next(night for day in range(0, 3) if (night := _night(now.date() + timedelta(days=day), window)).start > now)


def last_window(now: datetime, window: SleepWindow) -> Night:
    """The last window that closed at or before `now`."""
    return next(night for day in range(0, 3) if (night := _night(now.date() - timedelta(days=day), window)).end <= now)


class PlannedDream(BaseModel):
    id: str
    content: str
    links: list[str]


class NightRecord(BaseModel):
    night: str
    planned_at: datetime
    dreams: list[PlannedDream] = Field(default_factory=list)
    saved: list[str] = Field(default_factory=list, description="dreams saved so far")
    skipped: list[str] = Field(default_factory=list, description="dreams refused (a linked memory gone since the plan)")
    nightly: Literal["pending", "starting", "running", "done", "skipped"] = "pending"
    nightly_since: datetime | None = None
    job: str | None = None
    outcome: str | None = None
    done_at: datetime | None = None


class SleepService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.home = runtime.home
        self.book = ServiceBook(runtime.home, NAME)
        self.door = ServiceDoor(runtime, self.book)
        self.nights_dir = runtime.home.services_dir / "sleep-nights"

    # -- the record of each night ------------------------------------------------------------------

    def record(self, key: str) -> NightRecord | None:
        """The night's record; a record that cannot be read is set aside and the night ends as failed
        (planning it again could save its dreams twice), rather than a crash at every restart."""
        path = self._path(key)
        try:
            return NightRecord.model_validate(read_json_file(path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            aside = path.with_name(f"{path.name}.unreadable-{datetime.now(UTC):%Y%m%dT%H%M%S%f}")
            path.replace(aside)
            now = datetime.now(UTC)
            record = NightRecord(night=key, planned_at=now, nightly="done", done_at=now,
                                 outcome=f"failed: the night's record was unreadable ({type(exc).__name__}); set aside as {aside.name}")
            self._save(record)
            self.book.log(f"night {key}: {record.outcome}")
            self.book.record(ok=False, error=record.outcome)
            return record

    def _save(self, record: NightRecord) -> None:
        self.nights_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(record.night), pretty(record.model_dump(mode="json")))

    def _path(self, key: str) -> Path:
        return self.nights_dir / f"{key}.json"

    def _unfinished(self) -> NightRecord | None:
        """The newest night that began and has not ended: it is finished before anything else."""
        for path in sorted(self.nights_dir.glob("*.json"), reverse=True)[:3]:
            record = self.record(path.stem)
            if record is not None and record.done_at is None:
                return record
        return None

    # -- one pass ----------------------------------------------------------------------------------

    def run_once(self) -> dict[str, Any]:
        """One tick, for `mh agent run sleep-service --once`."""
        wanted = self.tick()
        state = self.book.state()
        return {"state": state.note, "next run": f"{wanted:%Y-%m-%d %H:%M:%S} UTC" if wanted else "none"}

    def tick(self) -> datetime | None:
        """Do what is due now; answer when to look again (UTC). A config file it cannot read is said
        (naming the file and the key) and looked at again a minute later: the service stays up."""
        now = datetime.now(UTC)
        try:
            return self._tick(now)
        except ConfigError as exc:
            return self._broken(exc, now)

    def _tick(self, now: datetime) -> datetime | None:
        local = datetime.now()
        cfg: SleepConfig = load_config(self.home, "sleep.json")  # type: ignore[assignment]
        self.book.clear_failure()
        night = self._due_night(local, cfg) if cfg.enabled else None
        unfinished = self._unfinished()
        if unfinished is not None:
            if unfinished.nightly == "running":  # already started: followed to its end (and stopped if lora turns false)
                return self._work(unfinished.night, cfg, now)
            if night is None or night.key != unfinished.night:  # disabled, or its window closed: not resumed while the person works
                self._expire(unfinished.night, "disabled (etc/sleep.json: enabled is false)" if not cfg.enabled else "its window closed")
        if not cfg.enabled:
            return self._plan(None, "disabled (etc/sleep.json: enabled is false)", now + timedelta(seconds=RETRY_S))
        upcoming = next_window(local, cfg.window)
        opens = upcoming.start.astimezone(UTC)
        if night is None:
            return self._plan(opens, f"waiting for the window {cfg.window.start}-{cfg.window.end}", opens)
        done = self.record(night.key)
        if done is not None and done.done_at is not None:
            return self._plan(opens, f"night {night.key} done: {done.outcome}", opens)
        idle = idle_seconds(self.home.audit_dir, now)
        needed = cfg.min_idle_mins * 60
        if idle is not None and idle < needed:
            due = now + timedelta(seconds=needed - idle)
            return self._plan(due, f"night {night.key}: waiting until the person has been idle {cfg.min_idle_mins:g} min", due)
        return self._work(night.key, cfg, now)

    def _due_night(self, local: datetime, cfg: SleepConfig) -> Night | None:
        """The night that may run now: the open window's, or (catch_up) the last missed one not done."""
        night = window_at(local, cfg.window)
        if night is None and cfg.catch_up:
            missed = last_window(local, cfg.window)
            record = self.record(missed.key)
            night = missed if record is None or record.done_at is None else None
        return night

    @contextmanager
    def _night_lock(self) -> Iterator[bool]:
        """One pass at a night at a time (`mh agent run sleep-service --once` beside the supervised
        one): True when this process holds the lock."""
        with file_lock(self.nights_dir / ".lock", wait=False) as mine:
            yield mine

    def _expire(self, key: str, why: str) -> None:
        """End a night that began but may not go on now; its window will not come back."""
        with self._night_lock() as mine:
            record = self.record(key)
            if not mine or record is None or record.done_at is not None:
                return
            if record.nightly == "starting" and (job := self._started_since(Jobs(self.home), record.nightly_since)) is not None:
                record.nightly, record.job = "running", job  # it did start: followed to its end, not forgotten
                self._save(record)
                return
            record.outcome = f"expired: {why} before the night was done"
            self._end(record)

    def _work(self, key: str, cfg: SleepConfig, now: datetime) -> datetime | None:
        if not self.door.ready("memory_compose", {}):
            return self._plan(None, f"paused: {self.door.paused}", now + timedelta(seconds=RETRY_S))
        with self._night_lock() as mine:
            if not mine:
                return now + timedelta(seconds=JOB_POLL_S)
            wake = self._work_locked(key, cfg, now)
        return wake if wake is not None else self._tick(datetime.now(UTC))  # the night is done: what comes next

    def _work_locked(self, key: str, cfg: SleepConfig, now: datetime) -> datetime | None:
        """Move the night on; when to look again, or None once it is done."""
        record = self.record(key)
        if record is not None and record.done_at is not None:  # another process ended it after our unlocked look
            return None
        record = record or self._begin(key, cfg, now)
        if not self._dream(record):
            return self._plan(None, f"paused while dreaming: {self.door.paused}", now + timedelta(seconds=RETRY_S))
        if record.nightly in ("pending", "starting", "running"):
            waiting = self._nightly(record, cfg)
            if waiting is not None:
                poll = datetime.now(UTC) + timedelta(seconds=JOB_POLL_S)
                return self._plan(poll, waiting, poll)
        self._end(record)
        return None

    def _end(self, record: NightRecord) -> None:
        record.done_at = datetime.now(UTC)
        self._save(record)
        failed = record.outcome is not None and record.outcome.startswith(("failed", "expired"))
        self.book.record(ok=not failed, error=record.outcome if failed else None)
        self.book.log(f"night {record.night} done: {len(record.saved)} dreams; nightly: {record.outcome}")
        self.runtime.audit.append("sleep", "night", details={"night": record.night, "dreams": record.saved, "nightly": record.nightly,
                                  "job": record.job, "outcome": record.outcome}, actor=self.door.session.actor)

    def _begin(self, key: str, cfg: SleepConfig, now: datetime) -> NightRecord:
        """Plan the night's dreams and write the plan before the first is saved."""
        rows = self.runtime.memory.newest(not_types=COMPOSED_TYPES, limit=DREAM_POOL)
        home_id = hashlib.sha256(str(self.home.root).encode()).hexdigest()[:8]
        planned = dreams(rows, count=cfg.max_dreams_per_night, seed=f"{home_id}:{key}", now=now)
        items = [PlannedDream(id=f"evt-{now:%Y%m%dT%H%M%S%f}-dream{index}-{hashlib.sha256(f'{key}:{index}:{d.content}'.encode()).hexdigest()[:12]}",
                              content=d.content, links=d.links) for index, d in enumerate(planned)]
        record = NightRecord(night=key, planned_at=now, dreams=items)
        self._save(record)
        self.book.log(f"night {key} begins: {counted(len(items), 'dream')} planned from {counted(len(rows), 'memory')}")
        return record

    def _dream(self, record: NightRecord) -> bool:
        """Save the planned dreams not saved yet; False when the gate paused the service meanwhile."""
        for index, dream in enumerate(record.dreams):
            if dream.id in record.saved or dream.id in record.skipped:
                continue
            stamp = record.planned_at + timedelta(microseconds=index)
            try:
                result = self.door.call("memory_compose", {"type": "dream", "id": dream.id, "timestamp": stamp.isoformat(),
                                                           "content": dream.content, "links": dream.links, "metadata": {"night": record.night}})
            except MhError as exc:
                if not self._refused_for_good(dream):
                    raise  # a full disk, a locked index: the tick fails and the service is restarted with backoff, the dream kept
                record.skipped.append(dream.id)  # a memory it quotes was deleted or changed: the night goes on without it
                self._save(record)
                self.book.log(f"skipped dream {dream.id}: {exc.message}")
                continue
            if result is None:
                return False
            record.saved.append(dream.id)
            self._save(record)
            self.book.log(f"dreamt {dream.id} from {', '.join(dream.links)}" + ("" if result["created"] else " (saved before)"))
        return True

    def _refused_for_good(self, dream: PlannedDream) -> bool:
        """Whether memory_compose will never take this dream: a linked memory gone, unreadable, or no
        longer holding the sentence quoted from it."""
        try:
            sources = [self.runtime.memory.get(link).content for link in dream.links]
        except MhError:
            return True
        return bool(ungrounded_lines(dream.content, sources))

    def _nightly(self, record: NightRecord, cfg: SleepConfig) -> str | None:
        """Move the night's nightly on; the note to show while its job runs, None once it is settled."""
        jobs = Jobs(self.home)
        if record.nightly == "pending":
            why = self._why_not(cfg)
            if why is not None:
                record.nightly, record.outcome = "skipped", why
                self._save(record)
                return None
            record.nightly, record.nightly_since = "starting", datetime.now(UTC)
            self._save(record)
        if record.nightly == "starting":
            mine = self._started_since(jobs, record.nightly_since)
            if mine is None:
                why = self._why_not(cfg)
                if why is not None:
                    record.nightly, record.outcome = "skipped", why
                    self._save(record)
                    return None
                other = jobs.active("nightly")
                if other is not None:
                    return f"night {record.night}: waiting for {other.id} (a nightly started by {other.started_by})"
                try:
                    started = self.door.call("job_start", {"kind": "nightly"})
                except MhError as exc:
                    if "running already" in exc.message:  # another nightly won the race since the look above: waited for
                        return f"night {record.night}: waiting for the nightly started meanwhile ({exc.message})"
                    raise  # not this night's verdict (a full disk): the service is restarted with backoff and tries again
                if started is None:
                    return f"night {record.night}: paused before the nightly: {self.door.paused}"
                mine = started["id"]
            record.nightly, record.job = "running", mine
            self._save(record)
            self.book.log(f"night {record.night}: nightly started as {mine}")
        try:
            job = jobs.get(record.job)
        except MhError as exc:  # its file deleted or damaged: the night cannot learn how it ended
            record.nightly, record.outcome = "done", f"failed: {exc.message}"
            self._save(record)
            return None
        if job.state in ACTIVE:
            if not cfg.adapters.lora and not job.stop_requested:
                try:
                    self.door.call("job_stop", {"id": job.id})
                except MhError as exc:  # it ended between the look and the stop: the next tick reads how
                    self.book.log(f"night {record.night}: could not stop {job.id}: {exc.message}")
                else:
                    self.book.log(f"night {record.night}: adapters.lora is false: stopping {job.id}")
            return f"night {record.night}: nightly {job.id} {job.state}"
        report = job.result.get("report") if isinstance(job.result, dict) else None
        if job.state == "done" and report:
            record.outcome = report.get("outcome")
        elif job.state == "stopped" and not cfg.adapters.lora:
            record.outcome = f"stopped: adapters.lora was set to false while {job.id} ran"
        elif job.state == "stopped":
            record.outcome = f"stopped: {job.id} was stopped (`mh stop` or `mh jobs stop`) before it ended"
        else:
            state = "" if job.state == "failed" else f"{job.state}: "  # "failed: lost: ...", but never "failed: failed: ..."
            record.outcome = f"failed: {state}{job.error or 'see ' + job.log}"
        record.nightly = "done"
        self._save(record)
        return None

    def _why_not(self, cfg: SleepConfig) -> str | None:
        if not cfg.adapters.lora:
            return "skipped: adapters.lora is false (no dataset, no training)"
        if not load_config(self.home, "auto-approval.json").enabled:
            return "skipped: etc/auto-approval.json: enabled is false"
        return None

    def _started_since(self, jobs: Jobs, since: datetime | None) -> str | None:
        """The nightly job this service started at or after `since` (a start the record did not get to say)."""
        for job in jobs.list(limit=20):
            if job.kind == "nightly" and job.started_by == self.door.session.actor and since is not None and job.started_at >= since:
                return job.id
        return None

    # -- what it says ------------------------------------------------------------------------------

    def _plan(self, next_run: datetime | None, note: str, wake: datetime | None) -> datetime | None:
        self.book.plan(next_run, note)
        return wake

    def _broken(self, exc: MhError, now: datetime) -> datetime:
        """A config it cannot read: said once (log, failure count), then looked at again each minute."""
        text = f"{exc.message} (fix: {exc.fix})" if exc.fix else exc.message
        self.book.fail_once(text)
        return self._plan(None, f"error: {text}", now + timedelta(seconds=RETRY_S))

    def watch(self, stop) -> None:
        from .scheduling import run_ticks

        self.book.log("watching for the night")
        try:
            run_ticks(self.tick, stop)
        finally:
            self._stop_my_nightly()
            self.book.log("stopped")

    def _stop_my_nightly(self) -> None:
        """`mh stop` ends everything: the nightly this service started (its job runner lives in its
        own session, so it would outlive the service) is stopped through the door."""
        record = self._unfinished()
        if record is None or record.nightly != "running" or record.job is None:
            return
        try:
            if Jobs(self.home).get(record.job).state not in ACTIVE:
                return
            self.door.call("job_stop", {"id": record.job})
        except MhError as exc:
            self.book.log(f"night {record.night}: could not stop {record.job}: {exc.message}")
        else:
            self.book.log(f"night {record.night}: stopping {record.job} as the service stops")
