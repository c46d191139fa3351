"""Running a service's `tick` on a schedule with APScheduler (3.x), instead of a sleep loop.

A tick does one pass and answers when it wants to run next (the sleep window opening, the moment
the person will have been idle long enough). The scheduler runs it then, but never later than
`max_wait_s` from now, so a changed config file or the person's return is seen within that time.
Date triggers are wall-clock times: after a suspend or a clock set forward the tick runs at once and
decides from the new time; a clock set back would hold the date trigger back as long, so a watchdog
on the monotonic clock runs a pass that is overdue by two `max_wait_s` at once (the services keep
their own record of what they did, so a jump in time never makes them do a thing twice).

A tick that raises ends the watch with that exception, so the process exits non-zero and its
supervisor restarts it (with backoff) and audits the crash.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler


def run_ticks(tick: Callable[[], datetime | None], stop: threading.Event, *, max_wait_s: float = 60.0) -> None:
    """Run `tick` now and then whenever it asks, until `stop` is set or a tick raises (re-raised here)."""
    failure: list[BaseException] = []
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
    lock = threading.Lock()
    state = {"running": False, "ended": time.monotonic()}

    def step() -> None:
        with lock:
            if state["running"]:
                return  # a second job for the same pass (the watchdog's): the pass under way schedules the next
            state["running"] = True
        wanted: datetime | None = None
        ticked = False
        try:
            wanted = tick()
            ticked = True
        finally:
            with lock:
                state["running"], state["ended"] = False, time.monotonic()
                if ticked and not stop.is_set():  # a tick that raised ends the watch (see `failed`)
                    latest = datetime.now(UTC) + timedelta(seconds=max_wait_s)
                    when = latest if wanted is None else min(max(wanted, datetime.now(UTC)), latest)
                    # One pending job, a new one each time (its own id): the scheduler removes the job that
                    # ran after handing it to a worker thread, which would race with re-adding the same id.
                    scheduler.remove_all_jobs()
                    scheduler.add_job(step, "date", run_date=when)

    def failed(event: JobExecutionEvent) -> None:
        failure.append(event.exception)
        stop.set()

    scheduler.add_listener(failed, EVENT_JOB_ERROR)
    scheduler.add_job(step, "date", run_date=datetime.now(UTC))
    scheduler.start()
    try:
        # The watchdog, on the monotonic clock: date triggers are wall-clock times, so a clock set back
        # by hours would hold the next pass back by as long. A pass overdue by two max waits runs now.
        while not stop.wait(max_wait_s):
            with lock:
                if not state["running"] and time.monotonic() - state["ended"] > 2 * max_wait_s:
                    scheduler.remove_all_jobs()
                    scheduler.add_job(step, "date", run_date=datetime.now(UTC))
                    state["ended"] = time.monotonic()
    finally:
        scheduler.shutdown(wait=True)  # a tick in progress finishes its pass
    if failure:
        raise failure[0]
