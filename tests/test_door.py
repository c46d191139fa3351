"""The one door, proven over every command and route.

At `observe` every writing command is refused with exit 3 (HTTP 403 for a route) and changes
nothing on disk but the audit log; at `bounded_auto` each leaves audit entries that name the real
actor. The tables below are checked against the CLI's command tree and the API's route table, so a
new command or route cannot escape them: it fails here until it is classified.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import typer

from runtime import Runtime, Session
from runtime.cli import app as cli_app
from runtime.cli import main as mh_main

# A command that changes state, with arguments that reach its skill call. "{task}", "{approval}",
# "{outside}" are filled in from the home prepared below. At bounded_auto many of these fail for
# want of a real run or dataset: what matters is that the attempt went through the door.
WRITES: dict[str, list[str]] = {
    "run": ["run", "fs_write", "--arg", "path=out/door.txt", "--arg", "content=x"],
    "capture": ["capture", "the door test was here"],
    "ingest": ["ingest", "{outside}"],
    "memory reindex": ["memory", "reindex"],
    "memory mark-good": ["memory", "mark-good", "evt-nope"],
    "memory forget": ["memory", "forget", "evt-nope"],
    "task add": ["task", "add", "a task from the door test"],
    "task start": ["task", "start", "{task}"],
    "task done": ["task", "done", "{task}"],
    "dataset build": ["dataset", "build"],
    "dataset clean": ["dataset", "clean", "ds-20260101T000000-0000"],
    "dataset verify": ["dataset", "verify", "ds-20260101T000000-0000"],
    "train": ["train", "--dataset", "ds-20260101T000000-0000"],
    "resume": ["resume", "run-nope"],
    "eval": ["eval", "run-nope"],
    "export": ["export", "run-nope"],
    "promote": ["promote", "run-nope", "--name", "door"],
    "nightly": ["nightly", "--steps", "1"],
    "runs stop": ["runs", "stop", "run-nope"],
    "adapter activate": ["adapter", "activate", "door"],
    "adapter rollback": ["adapter", "rollback"],
    "approvals approve": ["approvals", "approve", "{approval}"],
    "agent run": ["agent", "run", "ingestor", "--once"],
    "api token": ["api", "token"],
    "jobs start": ["jobs", "start", "nightly"],
    "jobs stop": ["jobs", "stop", "job-nope"],
}

# Allowed at every level, by design: releasing the brake (trust), saying no (reject), sealing the
# log, creating what a home lacks (init), and the surfaces themselves, whose actions go through
# the door on their own (chat, console, serve; start and stop run and end the services, each of
# which asks the gate before it acts and pauses at observe: tests/test_supervisor.py).
RELEASE_OR_SURFACE = {"trust", "approvals reject", "audit seal", "init", "chat", "console", "serve", "start", "stop"}

# Runs where there is no home (the rented machine): the remote worker reads its bundle and writes
# only its --out folder, checked by its own manifest and receipt (tests/test_remote_training.py).
NO_HOME = {"worker train"}

# Commands that only read.
READS: dict[str, list[str]] = {
    "skills": ["skills"],
    "approvals": ["approvals"],
    "audit verify": ["audit", "verify"],
    "audit tail": ["audit", "tail", "-n", "5"],
    "audit replay": ["audit", "replay"],
    "remember": ["remember", "door"],
    "memory show": ["memory", "show", "evt-nope"],
    "memory stats": ["memory", "stats"],
    "task list": ["task", "list"],
    "task show": ["task", "show", "{task}"],
    "dataset list": ["dataset", "list"],
    "dataset show": ["dataset", "show", "ds-20260101T000000-0000"],
    "dataset receipt verify": ["dataset", "receipt", "verify", "ds-20260101T000000-0000"],
    "runs": ["runs"],
    "runs list": ["runs", "list"],
    "runs show": ["runs", "show", "run-nope"],
    "adapter list": ["adapter", "list"],
    "agent list": ["agent", "list"],
    "agent status": ["agent", "status", "ingestor"],
    "agent monitor": ["agent", "monitor"],
    "agent ps": ["agent", "ps"],
    "agent logs": ["agent", "logs", "ingestor"],
    "jobs": ["jobs"],
    "plan": ["plan", "--json", "Delete out/keep.txt"],
}

# Not state: derived caches a refused command may still (re)build, and the services' own log,
# where a paused service says once that it is paused.
DERIVED = ("state/models/router-", "memory/index.db", "logs/services/")
# Who the entries name besides the person: a service acts as itself, and an approved request runs
# as the agent that asked for it (the approval entry names the person who said yes).
ACTOR = {"agent run": {"service:ingestor"}, "approvals approve": {"person@cli", "agent"}}


def command_tree(group, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every command a person can type, as 'group sub'. A group that runs by itself counts too."""
    found = {" ".join(prefix)} if prefix and group.invoke_without_command else set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            found |= command_tree(command, (*prefix, name))
        else:
            found.add(" ".join((*prefix, name)))
    return found


def test_every_command_is_classified():
    tree = command_tree(typer.main.get_command(cli_app))
    tables = set(WRITES) | set(READS) | RELEASE_OR_SURFACE | NO_HOME
    assert tree - tables == set(), "new commands: put each in WRITES, READS or RELEASE_OR_SURFACE"
    assert tables - tree == set(), "the tables name commands that no longer exist"


def snapshot(home: Path) -> dict[str, str]:
    """Every file under the home but the audit log (denials are audited, as they must be)."""
    state = {}
    for path in sorted(home.rglob("*")):
        name = str(path.relative_to(home))
        if not path.is_file() or name.startswith("logs/audit/") or name.startswith(DERIVED) or name.endswith(".lock"):
            continue  # a lock file is where processes meet, not state
        state[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


@pytest.fixture
def prepared(tmp_path):
    """A home with a task, two pending approvals from the agent, and a file outside to ingest."""
    rt = Runtime(tmp_path / "home")
    rt.init()
    (rt.home.out / "keep.txt").write_text("keep me")
    (rt.home.out / "keep2.txt").write_text("keep me too")
    task = rt.call("task_create", {"title": "fix the bike"}).result["id"]
    approval = rt.call("fs_delete", {"path": "out/keep.txt"}, session=Session(actor="agent")).approval_id
    second = rt.call("fs_delete", {"path": "out/keep2.txt"}, session=Session(actor="agent")).approval_id
    outside = tmp_path / "note.md"
    outside.write_text("a note to ingest")
    rt.close()
    return {"home": rt.home.root, "task": task, "approval": approval, "second_approval": second, "outside": str(outside)}


def mh(prepared, args: list[str]) -> int:
    filled = [a.format(**prepared) for a in args]
    return mh_main(["--home", str(prepared["home"]), *filled])


def set_level(prepared, level: str) -> None:
    with Runtime(prepared["home"]) as rt:
        rt.set_trust(level)


def test_at_observe_every_writing_command_is_refused_and_changes_nothing(prepared, capsys):
    set_level(prepared, "observe")
    before = snapshot(prepared["home"])
    refused = {}
    for name, args in WRITES.items():
        refused[name] = mh(prepared, args)
        capsys.readouterr()
        assert snapshot(prepared["home"]) == before, f"mh {name} changed the home at observe"
    assert {name: code for name, code in refused.items() if code != 3} == {}


def test_at_observe_reads_still_work_and_change_nothing(prepared, capsys):
    set_level(prepared, "observe")
    before = snapshot(prepared["home"])
    for name, args in READS.items():
        code = mh(prepared, args)
        capsys.readouterr()
        assert code in (0, 1), f"mh {name} exited {code} at observe"  # 1: the thing asked for is not there
        assert snapshot(prepared["home"]) == before, f"mh {name} changed the home"


def test_at_observe_the_brake_can_be_released(prepared, capsys):
    set_level(prepared, "observe")
    assert mh(prepared, ["approvals", "reject", "{approval}", "--reason", "no"]) == 0
    assert mh(prepared, ["audit", "seal"]) == 0
    assert mh(prepared, ["trust", "bounded_auto"]) == 0
    with Runtime(prepared["home"]) as rt:
        assert rt.trust_level() == "bounded_auto"
        assert [e.actor for e in rt.audit.tail(2)] == ["person@cli", "person@cli"]


def test_at_bounded_auto_each_writing_command_is_audited_as_the_person(prepared, capsys):
    set_level(prepared, "bounded_auto")
    for name, args in WRITES.items():
        with Runtime(prepared["home"]) as rt:
            seen = rt.audit.tail(1)[0].seq
        mh(prepared, args)
        capsys.readouterr()
        with Runtime(prepared["home"]) as rt:
            entries = [e for e in rt.audit.entries() if e.seq > seen]
        actors = {e.actor for e in entries if e.category not in ("audit",)}
        assert entries, f"mh {name} left no audit entry"
        assert actors <= ACTOR.get(name, {"person@cli"}), f"mh {name} was audited as {actors}"


# -- the API --------------------------------------------------------------------------------------

# A route that changes state, with a request that reaches its skill call (method, path, JSON body).
WRITE_ROUTES: dict[tuple[str, str], tuple[str, dict | None]] = {
    ("POST", "/api/file_operations"): ("/api/file_operations", {"action": "create", "filename": "door.txt", "content": "x"}),
    ("POST", "/actions/train-now"): ("/actions/train-now", None),
    ("POST", "/api/jobs/{job_id:str}/stop"): ("/api/jobs/job-nope/stop", None),
    ("POST", "/api/memories"): ("/api/memories", {"content": "the door test was here"}),
    ("POST", "/api/tasks"): ("/api/tasks", {"title": "a task from the door test"}),
    ("PATCH", "/api/tasks/{task_id:str}"): ("/api/tasks/{task}", {"status": "done"}),
    ("POST", "/api/approvals/{approval_id:str}"): ("/api/approvals/{approval}", {"decision": "approve"}),
    # MetaHuman's shapes, the id in the body (tests/test_api_habits.py)
    ("PATCH", "/api/tasks"): ("/api/tasks", {"id": "{task}", "status": "done"}),
    ("POST", "/api/approvals"): ("/api/approvals", {"id": "{second_approval}", "action": "approve"}),
}
# Releasing the brake and the chat surface (its own calls are gated; at observe it saves nothing).
ROUTES_RELEASE_OR_SURFACE = {("POST", "/api/trust"), ("POST", "/api/chat")}


def route_table(app) -> set[tuple[str, str]]:
    return {(method, route.path) for route in app.routes for handler in getattr(route, "route_handlers", [])
            for method in getattr(handler, "http_methods", ()) if method not in ("GET", "HEAD", "OPTIONS")}


@pytest.fixture
def api(prepared):
    from litestar.testing import TestClient

    from runtime.api.app import create_app

    runtime = Runtime(prepared["home"])
    token = runtime.call("api_token_rotate", {}).result["token"]
    client = TestClient(create_app(runtime), base_url="http://127.0.0.1:8765")
    client.headers["Authorization"] = f"Bearer {token}"
    with client:
        yield client, runtime
    runtime.close()


def test_every_writing_route_is_classified(api):
    client, _ = api
    routes = route_table(client.app)
    tables = set(WRITE_ROUTES) | ROUTES_RELEASE_OR_SURFACE
    assert routes - tables == set(), "new routes: put each in WRITE_ROUTES or ROUTES_RELEASE_OR_SURFACE"
    assert tables - routes == set()


def request(client, prepared, key):
    path, body = WRITE_ROUTES[key]
    filled = {name: value.format(**prepared) if isinstance(value, str) else value for name, value in (body or {}).items()}
    return client.request(key[0], path.format(**prepared), json=filled if body is not None else None)


def test_at_observe_every_writing_route_is_refused_and_changes_nothing(api, prepared):
    client, runtime = api
    runtime.set_trust("observe")
    before = snapshot(prepared["home"])
    answers = {}
    for key in WRITE_ROUTES:
        answers[key] = request(client, prepared, key).status_code
        assert snapshot(prepared["home"]) == before, f"{key} changed the home at observe"
    assert {key: code for key, code in answers.items() if code != 403} == {}
    assert client.post("/api/trust", json={"level": "bounded_auto"}).status_code == 200  # the brake releases


def test_at_bounded_auto_each_writing_route_is_audited_as_the_person(api, prepared):
    client, runtime = api
    runtime.set_trust("bounded_auto")
    for key in WRITE_ROUTES:
        seen = runtime.audit.tail(1)[0].seq
        request(client, prepared, key)
        entries = [e for e in runtime.audit.entries() if e.seq > seen]
        expected = {"person@api", "agent"} if key[1].startswith("/api/approvals") else {"person@api"}
        assert entries, f"{key} left no audit entry"
        assert {e.actor for e in entries} <= expected, f"{key} was audited as {({e.actor for e in entries})}"
    wait_for_jobs(runtime.home)


def wait_for_jobs(home) -> None:
    """Train-now started a real nightly job (it fails fast on an empty home): let it end here."""
    import time

    from runtime.queries import list_jobs

    deadline = time.monotonic() + 180
    while any(job.state in ("queued", "running") for job in list_jobs(home)):
        assert time.monotonic() < deadline, "the nightly job did not end"
        time.sleep(0.5)


# -- the agent ------------------------------------------------------------------------------------


def test_the_agent_can_never_run_a_persons_operation(tmp_path):
    with Runtime(tmp_path / "home") as rt:
        rt.init()
        rt.set_trust("bounded_auto")
        agent = Session(actor="agent")
        rt.set_yolo(agent, True)  # the loosest an agent session gets
        own = [item.id for item in rt.skills if not item.agent]
        assert {"nightly", "run_export", "adapter_promote", "job_start", "api_token_rotate", "inbox_add"} <= set(own)
        outcomes = {skill: rt.call(skill, {}, session=agent) for skill in own}
        assert {skill: str(o.status) for skill, o in outcomes.items() if o.status != "denied"} == {}
        assert not set(own) & {item.id for item in rt.skills.for_agent()}  # and they are never its tools
        assert list(rt.home.jobs_dir.iterdir()) == [] and list(rt.home.runs_dir.iterdir()) == []
