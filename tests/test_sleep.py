"""The sleep service: its window (across midnight), the idle time, once a night (a restart or the
clock set back inside a window already slept does nothing), the catch-up rule for a missed night,
extractive dreams, `adapters.lora: false`, a broken etc/sleep.json, and kills mid-dreaming and
mid-nightly (real processes, killed at the exact call). Time is moved with time-machine; naive
datetimes are local time, as the window is."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from runtime import Runtime
from runtime.config import SleepWindow
from runtime.dreams import ungrounded_lines
from runtime.jobs import Jobs
from runtime.sleep import SleepService, last_window, next_window, window_at

from .conftest import run_mh
from .test_crash_points import killed

NIGHT = SleepWindow(start="23:00", end="06:30")


def write_sleep(home, **settings) -> None:
    """etc/sleep.json in MetaHuman's spelling (the keys mh accepts alike)."""
    base = {"enabled": True, "window": {"start": "23:00", "end": "06:30"}, "minIdleMins": 30, "maxDreamsPerNight": 2,
            "adapters": {"prompt": True, "rag": True, "lora": False}}
    (home / "etc" / "sleep.json").write_text(json.dumps({**base, **settings}))


def capture(rt, text: str) -> None:
    """The person acting (an audit entry of person@python): the idle clock starts again."""
    rt.call("memory_capture", {"content": text})


def memories(rt, count: int = 6) -> None:
    for i in range(count):
        capture(rt, f"Orchard note {i}: the plum tree {i} flowered early. The bees came by in the afternoon of day {i}.")


def of_type(rt, kind: str) -> list:
    return [event for _, event in rt.memory.events() if event.type == kind]


def test_a_window_across_midnight_belongs_to_the_evening_it_opened():
    assert window_at(datetime(2027, 1, 9, 23, 30), NIGHT).key == "2027-01-09"
    assert window_at(datetime(2027, 1, 10, 3, 0), NIGHT).key == "2027-01-09"
    assert window_at(datetime(2027, 1, 10, 6, 30), NIGHT) is None  # the end is outside
    assert window_at(datetime(2027, 1, 10, 12, 0), NIGHT) is None
    assert next_window(datetime(2027, 1, 10, 3, 0), NIGHT).start == datetime(2027, 1, 10, 23, 0)
    assert last_window(datetime(2027, 1, 10, 12, 0), NIGHT).key == "2027-01-09"
    day = SleepWindow(start="13:00", end="15:00")  # a window that does not cross midnight
    assert window_at(datetime(2027, 1, 10, 14, 0), day).key == "2027-01-10" and window_at(datetime(2027, 1, 10, 16, 0), day) is None


def test_a_night_runs_once_after_the_idle_time_and_never_again_that_night(rt):
    write_sleep(rt.home.root)
    with time_machine.travel(datetime(2027, 1, 9, 22, 0), tick=False) as clock:
        memories(rt)
        service = SleepService(rt)
        service.tick()
        assert service.book.state().note == "waiting for the window 23:00-06:30" and not of_type(rt, "dream")
        clock.move_to(datetime(2027, 1, 9, 23, 0))
        capture(rt, "Late note: the greenhouse door was left open overnight.")  # the person is still up
        clock.move_to(datetime(2027, 1, 9, 23, 10))
        wake = service.tick()
        assert "idle 30 min" in service.book.state().note and not of_type(rt, "dream")
        assert wake == datetime(2027, 1, 9, 23, 30).astimezone(UTC)  # asks to be woken when idle enough
        clock.move_to(datetime(2027, 1, 9, 23, 31))
        service.tick()
        dreams = of_type(rt, "dream")
        assert len(dreams) == 2 and service.record("2027-01-09").done_at is not None
        for dream in dreams:  # extractive: every line is a sentence of a linked memory
            assert len(dream.links) >= 2 and not ungrounded_lines(dream.content, [rt.memory.get(i).content for i in dream.links])
            assert dream.metadata.training_consent is False
        for moment in (datetime(2027, 1, 10, 0, 30), datetime(2027, 1, 10, 4, 0)):
            clock.move_to(moment)
            SleepService(rt).tick()  # a restart in the same window
        clock.move_to(datetime(2027, 1, 9, 23, 40))  # the clock set back (suspend, a manual change)
        SleepService(rt).tick()
        assert len(of_type(rt, "dream")) == 2
        clock.move_to(datetime(2027, 1, 10, 23, 45))  # the next night is a night of its own
        SleepService(rt).tick()
        assert len(of_type(rt, "dream")) == 4 and service.record("2027-01-10").done_at is not None
    nights = [e.details["night"] for e in rt.audit.entries() if (e.category, e.event) == ("sleep", "night")]
    assert nights == ["2027-01-09", "2027-01-10"]
    assert {e.actor for e in rt.audit.entries() if e.category == "skill" and e.details.get("skill") == "memory_compose"} == {
        "service:sleep-service"}


BERLIN = ZoneInfo("Europe/Berlin")  # time-machine makes a ZoneInfo destination's zone the local one


@pytest.mark.parametrize("first, again", [
    (datetime(2027, 3, 28, 1, 45, tzinfo=BERLIN), datetime(2027, 3, 28, 3, 15, tzinfo=BERLIN)),  # 02:00 jumped to 03:00
    (datetime(2027, 10, 31, 2, 15, tzinfo=BERLIN), datetime(2027, 10, 31, 2, 15, fold=1, tzinfo=BERLIN)),  # 02:15 twice
])
def test_a_daylight_saving_change_inside_the_window_is_still_one_night(rt, first, again):
    write_sleep(rt.home.root, window={"start": "01:30", "end": "03:30"}, minIdleMins=0)
    memories(rt)
    with time_machine.travel(first, tick=False) as clock:
        SleepService(rt).tick()
        assert len(of_type(rt, "dream")) == 2
        clock.move_to(again)
        assert (datetime.now(UTC) - first).total_seconds() == 3600 - (1800 if first.month == 3 else 0)
        SleepService(rt).tick()
    assert len(of_type(rt, "dream")) == 2
    assert len([e for e in rt.audit.entries() if (e.category, e.event) == ("sleep", "night")]) == 1


@pytest.mark.parametrize("catch_up", [False, True])
def test_a_missed_night_follows_the_catch_up_rule(rt, catch_up):
    write_sleep(rt.home.root, minIdleMins=120, catchUp=catch_up)
    with time_machine.travel(datetime(2027, 1, 9, 22, 0), tick=False) as clock:
        memories(rt)
        clock.move_to(datetime(2027, 1, 10, 5, 0))
        capture(rt, "Up at five: fed the cat and watered the seedlings.")  # never idle 2 h inside the window
        SleepService(rt).tick()
        clock.move_to(datetime(2027, 1, 10, 9, 0))  # the window has closed; the person has been idle 4 h
        service = SleepService(rt)
        service.tick()
        assert (service.record("2027-01-09") is not None) is catch_up
        assert len(of_type(rt, "dream")) == (2 if catch_up else 0)
        clock.move_to(datetime(2027, 1, 10, 12, 0))
        SleepService(rt).tick()  # caught up once at most
        assert len(of_type(rt, "dream")) == (2 if catch_up else 0)
        clock.move_to(datetime(2027, 1, 10, 23, 30))
        SleepService(rt).tick()  # the next night runs as usual
        assert len(of_type(rt, "dream")) == (4 if catch_up else 2) and service.record("2027-01-10").done_at is not None


def test_lora_false_or_auto_approval_off_skip_the_nightly(rt):
    memories(rt)
    write_sleep(rt.home.root, window={"start": "00:00", "end": "23:59"}, minIdleMins=0)
    with time_machine.travel(datetime(2027, 1, 9, 12, 0), tick=False) as clock:
        service = SleepService(rt)
        service.tick()
        assert service.record("2027-01-09").outcome == "skipped: adapters.lora is false (no dataset, no training)"
        write_sleep(rt.home.root, window={"start": "00:00", "end": "23:59"}, minIdleMins=0, adapters={"lora": True})
        (rt.home.etc / "auto-approval.json").write_text(json.dumps({"enabled": False}))
        clock.move_to(datetime(2027, 1, 10, 12, 0))
        service.tick()
        assert service.record("2027-01-10").outcome == "skipped: etc/auto-approval.json: enabled is false"
    assert Jobs(rt.home).list() == [] and not list(rt.home.datasets_raw.iterdir())


def stop_jobs(home) -> None:
    """A failed test leaves no job running behind it."""
    for job in Jobs(home).list():
        if job.state == "running":
            Jobs(home).stop(job.id)


def test_lora_false_stops_a_running_nightly_at_once(rt, monkeypatch, request):
    """The nightly the service started is stopped on the next tick after adapters.lora turns false.
    Its command is swapped for a long sleep here, so the test does not wait for a training run."""
    from runtime import jobs

    monkeypatch.setitem(jobs.KINDS, "nightly", lambda job_id: [sys.executable, "-c", "import time; time.sleep(120)"])
    memories(rt)
    open_window(rt.home.root, adapters={"lora": True})
    request.addfinalizer(lambda: stop_jobs(rt.home))
    service = SleepService(rt)
    service.tick()
    key = window_at(datetime.now(), fresh_window(rt.home.root)).key
    record = service.record(key)
    assert record.nightly == "running" and Jobs(rt.home).get(record.job).state == "running"
    write_sleep(rt.home.root, window=json.loads((rt.home.etc / "sleep.json").read_text())["window"], minIdleMins=0, adapters={"lora": False})
    service.tick()
    deadline = time.monotonic() + 60
    while Jobs(rt.home).get(record.job).state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Jobs(rt.home).get(record.job).state == "stopped"
    service.tick()
    assert service.record(key).outcome.startswith("stopped: adapters.lora was set to false")
    assert [e.details["skill"] for e in rt.audit.entries() if e.event == "result" and e.actor == "service:sleep-service"
            and e.details["skill"].startswith("job_")] == ["job_start", "job_stop"]


def test_at_observe_it_pauses_and_resumes_when_the_level_is_raised(rt):
    memories(rt)
    open_window(rt.home.root)
    rt.set_trust("observe")
    service = SleepService(rt)
    service.tick()
    assert service.book.state().note.startswith("paused") and of_type(rt, "dream") == []
    rt.set_trust("suggest")
    service.tick()
    assert len(of_type(rt, "dream")) == 2
    assert [e.event for e in rt.audit.entries() if e.category == "service"] == ["paused", "resumed"]


def test_a_dream_whose_memory_was_deleted_after_the_plan_is_skipped_and_the_night_goes_on(rt):
    memories(rt)
    open_window(rt.home.root)
    service = SleepService(rt)
    key = window_at(datetime.now(), fresh_window(rt.home.root)).key
    from runtime.config import load_config

    plan = service._begin(key, load_config(rt.home, "sleep.json"), datetime.now(UTC))
    rt.memory.files.find(plan.dreams[0].links[0]).unlink()  # deleted by hand between the plan and the dream
    service.tick()
    record = service.record(key)
    assert record.done_at is not None and plan.dreams[0].id in record.skipped
    assert len(of_type(rt, "dream")) == len(record.saved) == len([d for d in plan.dreams if plan.dreams[0].links[0] not in d.links])


def test_a_broken_sleep_json_names_the_key_and_the_service_stays_up(rt):
    (rt.home.etc / "sleep.json").write_text(json.dumps({"minIdleMins": "soon"}))
    service = SleepService(rt)
    wake = service.tick()
    state = service.book.state()
    assert state.note.startswith("error: etc/sleep.json: minIdleMins:") and state.failures == 1 and wake is not None
    service.tick()
    assert service.book.state().failures == 1  # said once, not once a minute
    (rt.home.etc / "sleep.json").write_text(json.dumps({"window": {"start": "23:00", "end": "6:30"}}))
    service.tick()
    assert service.book.state().note.startswith("error: etc/sleep.json: window.end:")


# -- kills at the exact call (real processes) -------------------------------------------------------

def open_window(home, **settings) -> None:
    """A window open now (two hours either side) and no idle time needed."""
    now = datetime.now()
    start, end = now - timedelta(hours=2), now + timedelta(hours=2)
    write_sleep(home, window={"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}, minIdleMins=0, **settings)


def test_killed_while_dreaming_it_resumes_without_a_dream_lost_or_doubled(rt):
    memories(rt)
    open_window(rt.home.root, maxDreamsPerNight=3)
    home = rt.home.root
    # SIGKILL right after the first dream was saved, before the night's record says so.
    killed(home, "runtime.service_book:ServiceDoor.call", "args[1] == 'memory_compose'", "agent", "run", "sleep-service", "--once")
    with Runtime(home) as fresh:
        assert len(of_type(fresh, "dream")) == 1
    assert run_mh(home, "agent", "run", "sleep-service", "--once", check=True).returncode == 0
    with Runtime(home) as fresh:
        dreams = of_type(fresh, "dream")
        record = SleepService(fresh).record(window_at(datetime.now(), fresh_window(home)).key)
        assert len(dreams) == 3 and sorted(d.id for d in dreams) == sorted(d.id for d in record.dreams) == sorted(record.saved)
        assert record.done_at is not None
        assert len([e for e in fresh.audit.entries() if (e.category, e.event) == ("sleep", "night")]) == 1


def fresh_window(home) -> SleepWindow:
    return SleepWindow(**json.loads((home / "etc" / "sleep.json").read_text())["window"])


def test_killed_after_starting_the_nightly_it_adopts_that_job_instead_of_starting_another(rt, request):
    """The kill lands after job_start returned and before the night's record names the job. The
    dataset gate is set out of reach, so the nightly job fails right after the build (fewer pairs
    than min_pairs): quick, and enough to show that it ran once."""
    memories(rt)
    open_window(rt.home.root, adapters={"lora": True})
    home = rt.home.root
    (home / "etc" / "auto-approval.json").write_text(json.dumps({"dataset": {"min_pairs": 100000}}))
    request.addfinalizer(lambda: stop_jobs(rt.home))
    killed(home, "runtime.service_book:ServiceDoor.call", "args[1] == 'job_start'", "agent", "run", "sleep-service", "--once")
    key = window_at(datetime.now(), fresh_window(home)).key
    deadline = time.monotonic() + 120
    with Runtime(home) as fresh:  # after the kill, the restarted service ticks in this process until the job has ended
        service = SleepService(fresh)
        while True:
            service.tick()
            record = service.record(key)
            if record.done_at is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    jobs = Jobs(rt.home).list()
    assert len(jobs) == 1 and jobs[0].started_by == "service:sleep-service" and record.job == jobs[0].id
    assert record.nightly == "done" and record.outcome.startswith("failed: ") and "fewer than min_pairs 100000" in record.outcome
    assert "failed: failed" not in record.outcome
    with Runtime(home) as fresh:
        entries = list(fresh.audit.entries())
    assert [e.actor for e in entries if (e.category, e.event) == ("nightly", "started")] == ["service:sleep-service"]
    assert len([e for e in entries if (e.category, e.event) == ("sleep", "night")]) == 1


# -- a night begun but not finished; the lock; records and jobs that went missing ------------------

def begun_night(rt, when: datetime) -> str:
    """A night planned (as a pass killed before its first dream leaves it) at `when`."""
    from runtime.config import load_config

    key = window_at(when, NIGHT).key
    SleepService(rt)._begin(key, load_config(rt.home, "sleep.json"), datetime.now(UTC))
    return key


@pytest.mark.parametrize("change", ["disabled", "window closed"])
def test_an_unfinished_night_is_not_resumed_when_disabled_or_after_its_window(rt, change):
    write_sleep(rt.home.root)
    with time_machine.travel(datetime(2027, 1, 9, 22, 0), tick=False) as clock:
        memories(rt)
        clock.move_to(datetime(2027, 1, 9, 23, 45))
        key = begun_night(rt, datetime(2027, 1, 9, 23, 45))
        if change == "disabled":
            write_sleep(rt.home.root, enabled=False)
        else:
            clock.move_to(datetime(2027, 1, 10, 10, 0))  # the morning: the person works
        service = SleepService(rt)
        service.tick()
        record = service.record(key)
        assert record.done_at is not None and record.outcome.startswith("expired") and record.saved == []
        assert of_type(rt, "dream") == [] and Jobs(rt.home).list() == []
        if change == "disabled":
            write_sleep(rt.home.root)  # enabled again the same night: that night is over, nothing runs twice
            service.tick()
            assert of_type(rt, "dream") == []


def test_an_unfinished_night_inside_its_window_resumes_once_the_person_is_idle(rt):
    write_sleep(rt.home.root)
    with time_machine.travel(datetime(2027, 1, 9, 22, 0), tick=False) as clock:
        memories(rt)
        clock.move_to(datetime(2027, 1, 9, 23, 45))
        key = begun_night(rt, datetime(2027, 1, 9, 23, 45))
        capture(rt, "Still up: reading about pruning.")  # the person came back before the first dream
        clock.move_to(datetime(2027, 1, 9, 23, 50))
        service = SleepService(rt)
        service.tick()
        assert of_type(rt, "dream") == [] and service.record(key).done_at is None and "idle" in service.book.state().note
        clock.move_to(datetime(2027, 1, 10, 0, 30))
        service.tick()
        assert len(of_type(rt, "dream")) == 2 and service.record(key).done_at is not None


def test_the_night_lock_keeps_a_second_pass_out_and_a_done_night_is_not_ended_twice(rt):
    from runtime.config import load_config

    write_sleep(rt.home.root)
    with time_machine.travel(datetime(2027, 1, 9, 22, 0), tick=False) as clock:
        memories(rt)
        clock.move_to(datetime(2027, 1, 9, 23, 45))
        holder, second = SleepService(rt), SleepService(rt)
        with holder._night_lock() as mine:  # another process mid-pass
            assert mine
            second.tick()
            assert of_type(rt, "dream") == [] and not list(second.nights_dir.glob("*.json"))
        second.tick()
        assert len(of_type(rt, "dream")) == 2
        # A pass that passed the unlocked checks before the night ended must not end it again.
        assert second._work("2027-01-09", load_config(rt.home, "sleep.json"), datetime.now(UTC)) is not None
    assert len([e for e in rt.audit.entries() if (e.category, e.event) == ("sleep", "night")]) == 1
    assert len(of_type(rt, "dream")) == 2


def test_an_unreadable_night_record_or_a_missing_job_ends_the_night_as_failed_not_a_crash_loop(rt):
    write_sleep(rt.home.root, adapters={"lora": True})
    service = SleepService(rt)
    service.nights_dir.mkdir(parents=True, exist_ok=True)
    with time_machine.travel(datetime(2027, 1, 9, 22, 0), tick=False) as clock:
        memories(rt)
        clock.move_to(datetime(2027, 1, 9, 23, 45))
        (service.nights_dir / "2027-01-09.json").write_text("{not json")
        service.tick()
        record = service.record("2027-01-09")
        assert record.done_at is not None and record.outcome.startswith("failed: the night's record was unreadable")
        assert len(list(service.nights_dir.glob("2027-01-09.json.unreadable-*"))) == 1 and of_type(rt, "dream") == []
        clock.move_to(datetime(2027, 1, 10, 23, 45))  # the next night: its nightly's job file is deleted while it runs
        (service.nights_dir / "2027-01-10.json").write_text(json.dumps({"night": "2027-01-10", "planned_at": "2027-01-10T22:45:00+00:00",
                                                                         "nightly": "running", "job": "job-20270110T224500-0bad"}))
        service.tick()
        record = service.record("2027-01-10")
        assert record.done_at is not None and record.outcome.startswith("failed: no job job-20270110T224500-0bad")
    assert service.book.state().failures == 2


def test_stopping_the_service_stops_the_nightly_it_started(rt, monkeypatch, request):
    """`mh stop` ends everything: the job runner lives in its own session, so the service stops its job."""
    import threading

    from runtime import jobs

    monkeypatch.setitem(jobs.KINDS, "nightly", lambda job_id: [sys.executable, "-c", "import time; time.sleep(120)"])
    memories(rt)
    open_window(rt.home.root, adapters={"lora": True})
    request.addfinalizer(lambda: stop_jobs(rt.home))
    service = SleepService(rt)
    key = window_at(datetime.now(), fresh_window(rt.home.root)).key
    stop = threading.Event()
    watcher = threading.Thread(target=service.watch, args=(stop,))
    watcher.start()
    deadline = time.monotonic() + 60
    while ((record := service.record(key)) is None or record.nightly != "running") and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    watcher.join(timeout=60)
    assert record.job and Jobs(rt.home).get(record.job).stop_requested
    while Jobs(rt.home).get(record.job).state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Jobs(rt.home).get(record.job).state == "stopped"
    service.tick()  # the next start reads how it ended
    assert service.record(key).outcome.startswith(f"stopped: {record.job} was stopped")


def test_metahumans_documented_sleep_json_is_read_with_its_ui_keys_ignored(rt):
    """The sample of MetaHuman OS's docs, as written there (showInUI, evaluate, loraSchedule included)."""
    from runtime.config import load_config

    (rt.home.etc / "sleep.json").write_text(json.dumps({
        "enabled": True, "window": {"start": "23:00", "end": "06:30"}, "minIdleMins": 15, "maxDreamsPerNight": 3,
        "showInUI": True, "evaluate": True, "adapters": {"prompt": True, "rag": True, "lora": False}, "loraSchedule": "sunday-3am"}))
    cfg = load_config(rt.home, "sleep.json")
    assert (cfg.min_idle_mins, cfg.max_dreams_per_night, cfg.adapters.lora) == (15, 3, False)
    SleepService(rt).tick()
    assert not SleepService(rt).book.state().note.startswith("error")


def test_a_night_draws_its_dreams_from_the_newest_memories_only(rt, monkeypatch):
    """A home of 100,000 memories is not read whole each night."""
    from runtime import sleep

    memories(rt)
    monkeypatch.setattr(sleep, "DREAM_POOL", 3)
    write_sleep(rt.home.root)
    newest = {row["id"] for row in rt.memory.newest(limit=3)}
    with time_machine.travel(datetime(2027, 1, 9, 23, 45), tick=False):
        SleepService(rt).tick()
    assert of_type(rt, "dream") and all(set(d.links) <= newest for d in of_type(rt, "dream"))


def test_a_transient_failure_while_dreaming_is_retried_not_a_dream_skipped_for_good(rt, monkeypatch):
    from runtime.errors import MhError
    from runtime.service_book import ServiceDoor

    memories(rt)
    write_sleep(rt.home.root)
    call = ServiceDoor.call

    def disk_full(door, skill_id, args):
        if skill_id == "memory_compose":
            raise MhError("memory_compose: [Errno 28] No space left on device")
        return call(door, skill_id, args)

    with time_machine.travel(datetime(2027, 1, 9, 23, 45), tick=False):
        monkeypatch.setattr(ServiceDoor, "call", disk_full)
        with pytest.raises(MhError, match="No space left"):
            SleepService(rt).tick()  # the service process exits: the supervisor restarts it with backoff
        monkeypatch.setattr(ServiceDoor, "call", call)
        service = SleepService(rt)
        service.tick()
    record = service.record("2027-01-09")
    assert record.skipped == [] and len(record.saved) == 2 and len(of_type(rt, "dream")) == 2


def test_a_nightly_started_elsewhere_in_the_same_moment_is_waited_for_not_a_failed_night(rt, monkeypatch, request):
    from runtime.errors import MhError
    from runtime.service_book import ServiceDoor

    memories(rt)
    write_sleep(rt.home.root, adapters={"lora": True})
    request.addfinalizer(lambda: stop_jobs(rt.home))
    call = ServiceDoor.call

    def lost_the_race(door, skill_id, args):
        if skill_id == "job_start":
            raise MhError("job_start: a nightly job is running already: job-20270109T234500-abcd (pid 1), started by person@cli")
        return call(door, skill_id, args)

    monkeypatch.setattr(ServiceDoor, "call", lost_the_race)
    with time_machine.travel(datetime(2027, 1, 9, 23, 45), tick=False):
        service = SleepService(rt)
        service.tick()
    record = service.record("2027-01-09")
    assert record.done_at is None and record.nightly == "starting" and "waiting for the nightly started meanwhile" in service.book.state().note
