import json

import pytest

from runtime import CallStatus
from runtime.errors import MhError
from runtime.tasks import TaskNotFound, TaskStatus

from .conftest import run_mh


def test_lifecycle_moves_between_folders(rt):
    task = rt.tasks.create(title="Call the plumber", priority="P1", tags=["home"])
    active = rt.home.root / "memory" / "tasks" / "active" / f"{task.id}.json"
    assert active.exists()
    started = rt.tasks.set_status(task.id, "in_progress")
    assert started.started_at is not None
    prefix = task.id[:-3]  # a unique prefix is enough, as on the command line
    done = rt.tasks.set_status(prefix, TaskStatus.done)
    assert done.completed_at is not None and not active.exists()
    assert (rt.home.root / "memory" / "tasks" / "completed" / f"{task.id}.json").exists()
    reopened = rt.tasks.set_status(task.id, "todo")
    assert reopened.completed_at is None and active.exists()


def test_dependencies_must_exist_and_be_closed_before_starting(rt):
    with pytest.raises(TaskNotFound):
        rt.tasks.create(title="x", dependencies=["task-20990101-ffffff"])
    first = rt.tasks.create(title="buy paint")
    second = rt.tasks.create(title="paint the fence", dependencies=[first.id])
    with pytest.raises(MhError, match="waits for"):
        rt.tasks.set_status(second.id, "in_progress")
    rt.tasks.set_status(first.id, "done")
    assert rt.tasks.set_status(second.id, "in_progress").status is TaskStatus.in_progress


def test_order_find_and_prefixes(rt):
    low = rt.tasks.create(title="water plants", priority="P3")
    high = rt.tasks.create(title="file taxes", priority="P0", description="before the deadline")
    tasks, problems = rt.tasks.all()
    assert [t.id for t in tasks] == [high.id, low.id] and problems == []
    assert [t.id for t in rt.tasks.find("deadline")] == [high.id]
    with pytest.raises(TaskNotFound, match="matches 2 tasks"):
        rt.tasks.get("task-")


def test_a_corrupt_task_file_is_reported_not_fatal(rt):
    good = rt.tasks.create(title="fine")
    (rt.home.root / "memory" / "tasks" / "active" / "task-20260101-bad.json").write_text("{nope")
    tasks, problems = rt.tasks.all()
    assert [t.id for t in tasks] == [good.id] and "task-20260101-bad.json" in problems[0]


def test_task_skills_queue_for_the_agent_at_suggest(rt, agent):
    assert rt.call("task_create", {"title": "x"}, session=agent).status is CallStatus.queued
    assert rt.call("task_list", {}, session=agent).status is CallStatus.ok
    bad = rt.call("task_update_status", {"id": "task-none", "status": "done"})
    assert bad.status is CallStatus.failed and "no task task-none" in bad.error


def test_cli(rt):
    home = rt.home.root
    added = run_mh(home, "task", "add", "Renew passport", "-p", "P1", "--due", "2027-01-31", "-t", "admin", check=True).stdout
    task_id = added.split()[1]
    assert "[todo] P1 Renew passport due 2027-01-31" in run_mh(home, "task", "list", check=True).stdout
    assert "[in_progress]" in run_mh(home, "task", "start", task_id, check=True).stdout
    assert "[done]" in run_mh(home, "task", "done", task_id, check=True).stdout
    assert run_mh(home, "task", "list", check=True).stdout.strip() == "no tasks"
    assert json.loads(run_mh(home, "task", "list", "--all", "--json", check=True).stdout)[0]["status"] == "done"
    assert "admin" in run_mh(home, "task", "show", task_id, check=True).stdout
    missing = run_mh(home, "task", "done", "task-nothing")
    assert missing.returncode == 1 and "no task task-nothing" in missing.stderr
    bad_date = run_mh(home, "task", "add", "x", "--due", "tomorrow")
    assert bad_date.returncode == 1 and "YYYY-MM-DD" in bad_date.stderr and "Traceback" not in bad_date.stderr
