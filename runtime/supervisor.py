"""The supervisor: `mh start` runs every service of a home as its children, one process tree;
`mh stop` ends them all. A service off by its config (sleep `enabled: false`, boredom `level: off`)
runs all the same and waits, so raising it later takes effect without a restart.

The supervisor holds the running marker state/services/supervisor.pid (so a second `mh start` on
the same home is refused, and a dead one is never mistaken for a live one) and runs each
service as `python -m runtime.cli agent run NAME` (the same as a person running it in a terminal,
so each service also holds its own marker). A child's output goes, line by line, into the
service's own rotating log. A child that exits with RUNNING_ELSEWHERE found the service running
in another process (a person's `mh agent run NAME` in a terminal): said once in its log, looked at
again every ELSEWHERE_RETRY_S, not a crash. Any other exit without being asked to is a crash: it is audited
(`service crashed`, as `service:supervisor`, with its exit code), counted as a failure, and
restarted after a backoff that doubles from BACKOFF_FIRST_S to BACKOFF_MAX_S and starts over once a
child has run STABLE_S. Restarts are scheduled with APScheduler, not slept for. SIGTERM (or
SIGINT) stops everything: SIGTERM to each child, SIGKILL after STOP_GRACE_S, then the supervisor
ends. Children get a SIGTERM from the kernel if the supervisor itself is killed (PR_SET_PDEATHSIG),
so no service outlives it. What it is doing is written to state/services/supervisor-view.json, for
`mh agent ps`, `/api/status` and the console.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from apscheduler.schedulers.background import BackgroundScheduler
from pydantic import BaseModel

from .errors import MhError
from .home import CHECKOUT, Home
from .jobs import die_with_parent
from .jsonio import atomic_write, pretty, read_json_file
from .liveness import AlreadyRunning, RunningMarker
from .runtime import Runtime
from .service_book import DESCRIPTIONS, RUNNING_ELSEWHERE, ServiceBook, enabled

NAME = "supervisor"
ACTOR = "service:supervisor"
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 300.0
STABLE_S = 60.0  # a child that ran this long starts its backoff over
STOP_GRACE_S = 15.0  # a child has this long to stop after SIGTERM
START_TIMEOUT_S = 60.0
ELSEWHERE_RETRY_S = 60.0  # a service a person runs in a terminal is looked at again this often

ChildState = Literal["starting", "running", "restarting", "elsewhere", "stopped", "disabled"]


class ChildView(BaseModel):
    name: str
    state: ChildState
    pid: int | None = None
    restarts: int = 0
    last_exit: int | None = None
    next_start_at: datetime | None = None
    why: str | None = None  # why it is disabled by its config (it runs all the same, and says so: the config may change)


class SupervisorView(BaseModel):
    running: bool
    pid: int | None = None
    started_at: datetime | None = None
    started_by: str | None = None
    children: list[ChildView] = []


def marker(home: Home) -> RunningMarker:
    return RunningMarker(home.services_dir / f"{NAME}.pid", what="the supervisor",
                         fix="`mh stop` ends it (and every service it runs); `mh agent ps` shows them")


def view_file(home: Home):
    # not supervisor.json: that is the supervisor's ServiceBook (its log's counters), which would overwrite it
    return home.services_dir / f"{NAME}-view.json"


def supervisor_view(home: Home) -> SupervisorView:
    """What the supervisor says it runs, if it runs; not running otherwise."""
    pid = marker(home).holder()
    if pid is None:
        return SupervisorView(running=False)
    try:
        view = SupervisorView.model_validate(read_json_file(view_file(home)))
    except (OSError, ValueError):
        return SupervisorView(running=True, pid=pid)
    return view.model_copy(update={"running": True, "pid": pid})


@dataclass
class _Child:
    view: ChildView
    process: subprocess.Popen | None = None
    started: float = 0.0
    crashes_in_a_row: int = 0


class Supervisor:
    """In the supervisor process: run the children until told to stop."""

    def __init__(self, home: Home, *, started_by: str) -> None:
        self.home = home
        self.started_by = started_by
        self.stop = threading.Event()
        self.lock = threading.RLock()
        self.children: dict[str, _Child] = {}
        self.book = ServiceBook(home, NAME)
        self.started_at = datetime.now(UTC)
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"misfire_grace_time": None})

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        with marker(self.home).hold(), Runtime(self.home) as runtime:
            self.runtime = runtime
            for name in DESCRIPTIONS:  # every one: a service off by its config waits, and starts when the config says so
                self.children[name] = _Child(ChildView(name=name, state="starting", why=enabled(self.home, name)[1]))
            running = list(self.children)
            runtime.audit.append("service", "supervisor_started", details={"started_by": self.started_by, "services": running,
                                 "pid": os.getpid()}, actor=ACTOR)
            self.book.log(f"started by {self.started_by}: {', '.join(running) or 'no service is enabled'}")
            self._save()
            self.scheduler.start()
            for name in running:
                self._spawn(name)
            self.stop.wait()
            self._stop_all()
            self.scheduler.shutdown(wait=False)
            runtime.audit.append("service", "supervisor_stopped", details={"services": running}, actor=ACTOR)
            self.book.log("stopped")
        return 0

    # -- children --------------------------------------------------------------------------------

    def _spawn(self, name: str) -> None:
        with self.lock:
            if self.stop.is_set():
                return
            child = self.children[name]
            child.process = subprocess.Popen(
                [sys.executable, "-m", "runtime.cli", "agent", "run", name], cwd=CHECKOUT, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent(),
                env={**os.environ, "MH_HOME": str(self.home.root), "COLUMNS": "160"},
            )
            child.started = time.monotonic()
            child.view = child.view.model_copy(update={"state": "running", "pid": child.process.pid, "next_start_at": None})
            self._save()
            threading.Thread(target=self._follow, args=(name, child.process), name=f"follow-{name}", daemon=True).start()

    def _follow(self, name: str, process: subprocess.Popen) -> None:
        """Copy the child's output into its log; when it ends uninvited, audit it and restart it later."""
        book = ServiceBook(self.home, name)
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                book.log(f"| {line}")
        code = process.wait()
        with self.lock:
            child = self.children[name]
            if self.stop.is_set():
                child.view = child.view.model_copy(update={"state": "stopped", "pid": None, "last_exit": code})
                self._save()
                return
            ran = time.monotonic() - child.started
            if code == RUNNING_ELSEWHERE:  # a person runs it in a terminal: not a crash; looked at again later
                when = datetime.now(UTC) + timedelta(seconds=ELSEWHERE_RETRY_S)
                if child.view.last_exit != code:  # said once, not every minute
                    book.log(f"runs elsewhere (its marker is held by another process); looked at again every {ELSEWHERE_RETRY_S:g} s")
                child.view = child.view.model_copy(update={"state": "elsewhere", "pid": None, "last_exit": code, "next_start_at": when})
                self._save()
                self.scheduler.add_job(self._spawn, "date", run_date=when, args=[name])
                return
            child.crashes_in_a_row = 1 if ran >= STABLE_S else child.crashes_in_a_row + 1
            delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (child.crashes_in_a_row - 1))
            when = datetime.now(UTC) + timedelta(seconds=delay)
            child.view = child.view.model_copy(update={"state": "restarting", "pid": None, "last_exit": code,
                                                       "restarts": child.view.restarts + 1, "next_start_at": when})
            self._save()
            self.runtime.audit.append("service", "crashed", details={"service": name, "exit_code": code, "ran_s": round(ran, 1),
                                      "restart_in_s": delay}, actor=ACTOR, level="warning")
            book.record(ok=False, error=f"the process exited with code {code}; restarted in {delay:g} s")
            book.log(f"exited with code {code} after {ran:.1f} s; restarting in {delay:g} s")
            self.scheduler.add_job(self._spawn, "date", run_date=when, args=[name])

    def _stop_all(self) -> None:
        with self.lock:
            running = [child.process for child in self.children.values() if child.process is not None and child.process.poll() is None]
            for process in running:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for child in self.children.values():
            if child.view.state != "disabled":
                child.view = child.view.model_copy(update={"state": "stopped", "pid": None, "next_start_at": None})
        self._save()

    def _save(self) -> None:
        view = SupervisorView(running=True, pid=os.getpid(), started_at=self.started_at, started_by=self.started_by,
                              children=[child.view for child in self.children.values()])
        atomic_write(view_file(self.home), pretty(view.model_dump(mode="json")))


# -- the person's side: mh start / mh stop -----------------------------------------------------------

def start(home: Home, *, started_by: str) -> SupervisorView:
    """Start the supervisor in the background (its own session: it outlives the shell) and return
    once it runs. A second one is refused (AlreadyRunning) before anything is spawned."""
    held = marker(home).holder()
    if held is not None:
        raise AlreadyRunning(f"the supervisor is running already (pid {held})", fix="`mh stop` first, or `mh agent ps` to see it")
    out = home.service_logs / f"{NAME}.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "ab") as output:
        process = subprocess.Popen([sys.executable, "-m", "runtime.supervisor", "run", started_by], cwd=CHECKOUT, stdin=subprocess.DEVNULL,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "MH_HOME": str(home.root)})
    deadline = time.monotonic() + START_TIMEOUT_S
    while marker(home).holder() != process.pid or _written_pid(home) != process.pid:
        code = process.poll()
        if code is not None or time.monotonic() > deadline:
            if code is None:
                process.kill()
            last = out.read_text(errors="replace").strip().splitlines()[-1:] if out.exists() else []
            raise MhError(f"the supervisor did not start ({last[0] if last else f'exit code {code}'})",
                          fix=f"see {home.relative(out)}")
        time.sleep(0.05)
    threading.Thread(target=process.wait, daemon=True).start()  # reaped if this process lives on (the console)
    return supervisor_view(home)


def _written_pid(home: Home) -> int | None:
    try:
        return SupervisorView.model_validate(read_json_file(view_file(home))).pid
    except (OSError, ValueError):
        return None


def stop(home: Home, *, timeout_s: float = STOP_GRACE_S + 30) -> int | None:
    """SIGTERM to the supervisor and wait until it and its services have ended; its pid, or None
    when none was running."""
    pid = marker(home).holder()
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return pid
    deadline = time.monotonic() + timeout_s
    while marker(home).is_held():
        if time.monotonic() > deadline:
            raise MhError(f"the supervisor (pid {pid}) did not stop within {timeout_s:g} s", fix=f"kill {pid}")
        time.sleep(0.05)
    return pid


if __name__ == "__main__":  # `python -m runtime.supervisor run ACTOR`: the supervisor process itself
    sys.exit(Supervisor(Home.default(), started_by=sys.argv[2]).run())
