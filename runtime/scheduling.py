"""Running a service's `tick` on a schedule with APScheduler (3.x), instead of a sleep loop.

A tick does one pass and answers when it wants to run next (the sleep window opening, the moment
the person will have been idle long enough). The scheduler runs it then, but never later than
`max_wait_s` from now, so a changed config file or the person's return is seen within that time.
Date triggers are wall-clock times: after a suspend or a clock change the tick runs at once and
decides from the new time (the services keep their own record of what they did, so a jump in
time never makes them do a thing twice).

A tick that raises ends the watch with that exception, so the process exits non-zero and its
supervisor restarts it (with backoff) and audits the crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler


def run_ticks(tick: Callable[[], datetime | None], stop: threading.Event, *, max_wait_s: float = 60.0) -> None:
    """Run `tick` now and then whenever it asks, until `stop` is set or a tick raises (re-raised here)."""
    failure: list[BaseException] = []
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})

    def step() -> None:
        wanted = tick()
        latest = datetime.now(UTC) + timedelta(seconds=max_wait_s)
        when = latest if wanted is None else min(max(wanted, datetime.now(UTC)), latest)
        if not stop.is_set():
            # A new job each time (its own id): the scheduler removes the job that ran after handing it
            # to a worker thread, which would otherwise race with re-adding the same id.
            scheduler.add_job(step, "date", run_date=when)

    def failed(event: JobExecutionEvent) -> None:
        failure.append(event.exception)
        stop.set()

    scheduler.add_listener(failed, EVENT_JOB_ERROR)
    scheduler.add_job(step, "date", run_date=datetime.now(UTC))
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)  # a tick in progress finishes its pass
    if failure:
        raise failure[0]
