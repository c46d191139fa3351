"""Jobs: long work started from a surface, as real child processes. A cheap `sleep` kind stands in
for the nightly where a job must stay running; the real nightly runs where it ends quickly (a home
this small fails verification)."""

import os
import signal
import sys
import time

import pytest

from runtime import Session
from runtime.jobs import JobConflict, Jobs

from .conftest import run_mh

# Says its pid, then sleeps; a SIGTERM ends it with 30, as the trainer's checkpoint-and-stop does.
SLEEPER = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(30))
print("sleeper", os.getpid(), flush=True)
time.sleep(120)
"""


def sleeper(job_id: str) -> list[str]:
    return [sys.executable, "-c", SLEEPER]


def until(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet has ended too)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def sleeper_pid(rt, job) -> int:
    log = rt.home.root / job.log
    return int(until(lambda: log.exists() and "sleeper" in log.read_text() and log.read_text().split()[1]))


@pytest.fixture
def jobs(rt):
    jobs = Jobs(rt.home, kinds={"nightly": sleeper})
    yield jobs
    for job in jobs.list():  # nothing outlives the test
        if job.state == "running":
            os.kill(job.pid, signal.SIGKILL)


def test_a_job_runs_is_listed_and_stops(rt, jobs):
    job = jobs.start("nightly", Session.person_at("console"))
    assert job.state == "running" and job.pid and job.started_by == "person@console"
    assert job.log == f"logs/services/{job.id}.log" and (rt.home.jobs_dir / f"{job.id}.json").exists()
    assert [j.id for j in jobs.list()] == [job.id]
    child = sleeper_pid(rt, job)
    stopping = jobs.stop(job.id)
    assert stopping.stop_requested
    ended = until(lambda: (j := jobs.get(job.id)).state != "running" and j)
    assert (ended.state, ended.exit_code, ended.pid) == ("stopped", 30, None) and ended.ended_at is not None
    assert not alive(child)


def test_a_second_job_of_a_kind_is_refused_and_names_the_running_one(rt, jobs):
    job = jobs.start("nightly", Session.person_at("api"))
    with pytest.raises(JobConflict) as refused:
        jobs.start("nightly", Session.person_at("cli"))
    assert job.id in refused.value.message and "person@api" in refused.value.message
    by_cli = run_mh(rt.home.root, "jobs", "start", "nightly")  # through the skill: a failure naming the job
    assert by_cli.returncode == 1 and job.id in by_cli.stderr
    assert len(jobs.list()) == 1


def test_a_killed_runner_reads_gone_and_takes_its_command_with_it(rt, jobs):
    job = jobs.start("nightly", Session.person_at("cli"))
    child = sleeper_pid(rt, job)
    os.kill(job.pid, signal.SIGKILL)
    gone = until(lambda: (j := jobs.get(job.id)).state == "gone" and j)
    assert gone.pid is None and gone.exit_code is None
    until(lambda: not alive(child))  # no orphan keeps training
    assert jobs.start("nightly", Session.person_at("cli")).state == "running"  # the bound is free again


def test_mh_jobs_lists_and_stops_through_the_door(rt, jobs):
    job = jobs.start("nightly", Session.person_at("cli"))
    listed = run_mh(rt.home.root, "jobs", check=True).stdout
    assert job.id in listed and "running" in listed
    assert job.id in run_mh(rt.home.root, "jobs", "stop", job.id, check=True).stdout
    until(lambda: jobs.get(job.id).state == "stopped")
    stops = [e for e in rt.audit.entries() if e.details.get("skill") == "job_stop"]
    assert {e.actor for e in stops} == {"person@cli"} and stops[-1].event == "result"
    again = run_mh(rt.home.root, "jobs", "stop", job.id)
    assert again.returncode == 1 and "not running" in again.stderr


def test_the_nightly_as_a_job_acts_as_the_person_who_started_it(rt):
    started = run_mh(rt.home.root, "jobs", "start", "nightly", "--steps", "1", check=True)
    job_id = started.stdout.split(":")[0].strip()
    jobs = Jobs(rt.home)
    ended = until(lambda: (j := jobs.get(job_id)).state not in ("queued", "running") and j, timeout=120)
    assert (ended.state, ended.exit_code) == ("failed", 1) and "fewer than min_pairs" in ended.error
    assert ended.args == {"steps": 1} and ended.result["report"]["steps"][0]["step"] == "build"
    assert "fewer than min_pairs" in (rt.home.root / ended.log).read_text()
    entries = [e for e in rt.audit.entries() if e.details.get("session") == job_id]
    assert entries and {e.actor for e in entries} == {"person@cli"}
    assert any(e.details.get("skill") == "nightly" for e in entries)
    assert f"{job_id}  nightly  failed" in run_mh(rt.home.root, "jobs", check=True).stdout


def test_at_observe_no_job_starts_or_stops_and_nothing_is_written(rt, jobs):
    job = jobs.start("nightly", Session.person_at("cli"))
    rt.set_trust("observe")
    before = sorted(p.name for p in rt.home.jobs_dir.iterdir())
    assert run_mh(rt.home.root, "jobs", "start", "nightly").returncode == 3
    assert run_mh(rt.home.root, "jobs", "stop", job.id).returncode == 3
    assert sorted(p.name for p in rt.home.jobs_dir.iterdir()) == before and jobs.get(job.id).state == "running"
    assert run_mh(rt.home.root, "jobs").returncode == 0  # reading still works
    denied = [e for e in rt.audit.entries() if e.event == "denied"]
    assert [e.details["skill"] for e in denied] == ["job_start", "job_stop"] and {e.actor for e in denied} == {"person@cli"}


def test_at_observe_the_state_of_jobs_stays_empty(home):
    run_mh(home, "trust", "observe", check=True)
    assert run_mh(home, "jobs", "start", "nightly").returncode == 3
    assert list((home / "state" / "jobs").iterdir()) == []


def test_api_token_rotation_is_a_person_only_skill(home):
    from runtime import Runtime

    run_mh(home, "trust", "observe", check=True)
    refused = run_mh(home, "api", "token")
    assert refused.returncode == 3 and refused.stdout == "" and not (home / "state" / "api" / "token.json").exists()
    run_mh(home, "trust", "suggest", check=True)
    token = run_mh(home, "api", "token", check=True).stdout.strip()
    assert token.startswith("mh_") and token not in (home / "state" / "api" / "token.json").read_text()
    with Runtime(home) as rt:
        assert rt.call("api_token_rotate", {}, session=Session(actor="agent")).status == "denied"
        log = "".join(p.read_text() for p in rt.home.audit_dir.glob("*.ndjson"))
        rotated = rt.audit.tail(1, category="api")[0]
    assert token not in log and (rotated.event, rotated.actor, rotated.level) == ("token_rotated", "person@cli", "security")
