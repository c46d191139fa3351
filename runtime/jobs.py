"""Jobs: long work a surface starts (the nightly pipeline) as a child process that outlives the
request, listed and stopped from any surface, one of a kind at a time per home.

A job is `state/jobs/<id>.json` (the record), `state/jobs/<id>.pid` (the running marker) and
`logs/services/<id>.log` (its output). `Jobs.start` spawns `python -m runtime.jobs run <id>`, the
job's runner: it holds the marker, runs the job's command line as its own child, passes a SIGTERM on
to it, and records how it ended. So a job reads `running` exactly while its runner lives, and one
whose runner died without recording an end (killed) reads `gone`.

The command of a nightly job is `python -m runtime.jobs call <id>`: the `nightly` skill called through
the Runtime as the session that started the job, so its audit entries name that person and surface
(`person@api`, `person@console`, ...). Starting and stopping are person-only skills (`job_start`,
`job_stop` in skills/jobs.py), so the gate and the audit see them like every other change.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from .errors import MhError
from .home import CHECKOUT, Home
from .jsonio import atomic_write, pretty, read_json_file
from .liveness import RunningMarker, file_lock

JobState = Literal["queued", "running", "done", "failed", "stopped", "gone"]
ACTIVE: tuple[JobState, ...] = ("queued", "running")
START_TIMEOUT_S = 60.0  # how long a runner may take to take its marker (a cold Python start on a busy machine)
JOB_ID = re.compile(r"^job-[0-9]{8}T[0-9]{6}-[0-9a-f]{4}$")
PR_SET_PDEATHSIG = 1


class Job(BaseModel):
    """One job, as its record says and its marker confirms."""

    id: str
    kind: str
    args: dict[str, Any] = Field(default_factory=dict)
    command: list[str] = Field(description="the command line the runner runs")
    started_by: str = Field(description="the actor whose job_start call started it")
    pid: int | None = Field(default=None, description="the runner's pid, while it lives")
    state: JobState = "queued"
    exit_code: int | None = None
    error: str | None = Field(default=None, description="why it failed, when it did")
    result: Any = Field(default=None, description="what the skill of a skill job returned (the nightly's report)")
    stop_requested: bool = False
    started_at: datetime
    ended_at: datetime | None = None
    log: str = Field(description="its output, relative to the home")


class JobNotFound(MhError):
    """No job with that id."""


class JobConflict(MhError):
    """A job of that kind is running already."""


def skill_command(job_id: str) -> list[str]:
    """A job whose work is the skill named like its kind, called with the job's arguments."""
    return [sys.executable, "-m", "runtime.jobs", "call", job_id]


# What each kind of job runs: its command line, from the job's id.
KINDS: dict[str, Callable[[str], list[str]]] = {"nightly": skill_command}


class Jobs:
    """The jobs of one home. `kinds` is KINDS unless a caller (a test) brings its own."""

    def __init__(self, home: Home, kinds: dict[str, Callable[[str], list[str]]] | None = None) -> None:
        self.home = home
        self.kinds = KINDS if kinds is None else kinds
        self.dir = home.jobs_dir

    # -- reading ----------------------------------------------------------------------------------

    def list(self, limit: int | None = None) -> list[Job]:
        """Every job (or the `limit` newest), newest first."""
        if not self.dir.is_dir():
            return []
        ids = sorted((path.stem for path in self.dir.glob("job-*.json") if JOB_ID.match(path.stem)), reverse=True)
        return [self.get(job_id) for job_id in ids[:limit]]

    def get(self, job_id: str) -> Job:
        """The job's record, with `running` checked against its marker: a runner that died without
        recording an end makes the job `gone`."""
        job = self._read(job_id)
        if job.state not in ACTIVE:
            return job
        pid = self._marker(job.id).holder()
        if pid is not None:
            return job.model_copy(update={"state": "running", "pid": pid})
        starting = job.state == "queued" and datetime.now(UTC) - job.started_at < timedelta(seconds=START_TIMEOUT_S)
        return job if starting else job.model_copy(update={"state": "gone", "pid": None})

    def active(self, kind: str) -> Job | None:
        """The job of this kind that is queued or running now, if any."""
        return next((job for job in self.list() if job.kind == kind and job.state in ACTIVE), None)

    # -- changing (called by the job skills) -------------------------------------------------------

    def start(self, kind: str, session: Any, args: dict[str, Any] | None = None) -> Job:
        """Spawn a job's runner and return once it runs (or has already failed). One job of a kind
        at a time: a second start names the running one (JobConflict)."""
        if kind not in self.kinds:
            raise MhError(f"no job kind {kind!r}", fix=f"kinds: {', '.join(self.kinds)}")
        args = args or {}
        with self._locked(".start.lock"):  # check and spawn as one step: two starts never both spawn
            running = self.active(kind)
            if running is not None:
                raise JobConflict(f"a {kind} job is running already: {running.id} (pid {running.pid}), started by {running.started_by}",
                                  fix=f"wait for it, or stop it: `mh jobs stop {running.id}`")
            now = datetime.now(UTC)
            job_id = f"job-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
            log = self.home.service_logs / f"{job_id}.log"
            job = Job(id=job_id, kind=kind, args=args, command=self.kinds[kind](job_id), started_by=session.actor,
                      started_at=now, log=self.home.relative(log))
            self._write(job)
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as output:
                # A session of its own: the job outlives the surface that started it (a closed
                # console, a stopped server) and a Ctrl-C meant for that surface.
                runner = subprocess.Popen([sys.executable, "-m", "runtime.jobs", "run", job_id], cwd=CHECKOUT, stdin=subprocess.DEVNULL,
                                          stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                                          env={**os.environ, "MH_HOME": str(self.home.root)})
            self._await_runner(job_id, runner)
        return self.get(job_id)

    def stop(self, job_id: str) -> Job:
        """SIGTERM to the job's runner, which passes it on: a nightly that is training saves a
        checkpoint first. The job then reads `stopped`."""
        job = self.get(job_id)
        if job.state != "running" or job.pid is None:
            raise MhError(f"{job_id} is {job.state}, not running", fix="see `mh jobs`")
        self._update(job_id, stop_requested=True)
        try:
            os.kill(job.pid, signal.SIGTERM)
        except ProcessLookupError:  # it ended between the check and the signal: its record says how
            pass
        return self.get(job_id)

    # -- the runner's side -------------------------------------------------------------------------

    def run(self, job_id: str) -> int:
        """In the runner process: hold the marker, run the command, record the end."""
        child: subprocess.Popen | None = None
        stopping = False

        def on_term(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True
            if child is not None:
                child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_term)
        with self._marker(job_id).hold():
            job = self._update(job_id, state="running", pid=os.getpid())
            if not stopping:
                child = subprocess.Popen(job.command, cwd=CHECKOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(),
                                         env={**os.environ, "MH_HOME": str(self.home.root)})
                if stopping:  # the request came while the command was being spawned
                    child.send_signal(signal.SIGTERM)
                code = child.wait()
            else:
                code = -signal.SIGTERM
            ended = self._read(job_id)
            state: JobState = "stopped" if ended.stop_requested or stopping else "done" if code == 0 else "failed"
            self._update(job_id, state=state, exit_code=code, ended_at=datetime.now(UTC), pid=None,
                         error=ended.error or (_last_line(self.home.root / job.log) if code else None))
        return code

    def call(self, job_id: str) -> int:
        """The command of a skill job: its skill through the gate and the audit, as the session that
        started the job. Exit 0 done, 1 failed, 3 refused by the gate."""
        from .runtime import CallStatus, Runtime, Session

        job = self._read(job_id)
        surface = job.started_by.partition("@")[2]
        session = Session(actor=job.started_by, id=job.id, source=surface or "job")
        with Runtime(self.home) as runtime:
            outcome = runtime.call(job.kind, job.args, session=session)
            if outcome.status is not CallStatus.ok:
                error = outcome.error or outcome.reason
            else:  # a skill may answer with its own failure (the nightly's report says where it stopped)
                error = outcome.result.get("error") if isinstance(outcome.result, dict) else None
            self._update(job_id, result=outcome.result, error=error)
            print(f"error: {error}" if error else runtime.skills.get(job.kind).say(outcome.result), flush=True)
        return 0 if error is None else 3 if outcome.status is CallStatus.denied else 1

    # -- storage ----------------------------------------------------------------------------------

    def _path(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):
            raise JobNotFound(f"{job_id!r} is not a job id", fix="see `mh jobs`")
        return self.dir / f"{job_id}.json"

    def _marker(self, job_id: str) -> RunningMarker:
        return RunningMarker(self.dir / f"{job_id}.pid", what=f"job {job_id}", fix="a job has one runner")

    def _read(self, job_id: str) -> Job:
        path = self._path(job_id)
        try:
            return Job.model_validate(read_json_file(path))
        except FileNotFoundError:
            raise JobNotFound(f"no job {job_id}", fix="see `mh jobs`") from None
        except (OSError, ValueError) as exc:
            raise MhError(f"state/jobs/{path.name} is unreadable: {exc}", fix="delete the file; the job's log is in logs/services/") from None

    def _write(self, job: Job) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(job.id), pretty(job.model_dump(mode="json")))

    def _update(self, job_id: str, **changes: Any) -> Job:
        with self._locked(".lock"):  # the runner's end and a stop request must not undo each other
            job = self._read(job_id).model_copy(update=changes)
            self._write(job)
        return job

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        with file_lock(self.dir / name):
            yield

    def _await_runner(self, job_id: str, runner: subprocess.Popen) -> None:
        """Until the runner holds its marker, so that a job `start` returned is running or ended."""
        marker = self._marker(job_id)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not marker.is_held() and self._read(job_id).state == "queued":
            code = runner.poll()
            if code is not None or time.monotonic() > deadline:
                if code is None:
                    runner.kill()
                    code = runner.wait()
                self._update(job_id, state="failed", exit_code=code, ended_at=datetime.now(UTC),
                             error=_last_line(self.home.root / self._read(job_id).log) or "the job's runner did not start")
                return
            time.sleep(0.02)
        # Reaped when it ends, so a long-lived surface collects no zombies.
        threading.Thread(target=runner.wait, name=f"reap-{job_id}", daemon=True).start()


def die_with_parent() -> Callable[[], None]:
    """For the command's fork: a SIGTERM when the runner dies, even by SIGKILL, so a killed job
    leaves no orphan training on (Linux; elsewhere the command outlives a killed runner)."""
    if not sys.platform.startswith("linux"):
        return lambda: None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not in it
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _last_line(log: Path, window: int = 16 << 10) -> str | None:
    """The last line a command wrote: why it failed, when it had no better way to say so."""
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, log.stat().st_size - window))
            lines = [line.strip() for line in handle.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return None
    return lines[-1] if lines else None


if __name__ == "__main__":  # `run ID` (the runner) or `call ID` (a skill job's command)
    jobs = Jobs(Home.default())
    sys.exit({"run": jobs.run, "call": jobs.call}[sys.argv[1]](sys.argv[2]))
