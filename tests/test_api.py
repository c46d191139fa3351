"""The localhost API, driven over HTTP against a real `mh serve` on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from runtime import Runtime, Session
from runtime.api.security import host_allowed

from .conftest import ROOT, run_mh


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(chat_rt, tmp_path):
    home = chat_rt.home.root
    chat_rt.close()
    token = run_mh(home, "api", "token", check=True).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "serve", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, "MH_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.get("/api/trust").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    yield {"url": url, "token": token, "client": client, "home": home, "port": port}
    client.close()
    proc.terminate()
    proc.wait(timeout=20)


def ops(server, **body):
    return server["client"].post("/api/file_operations", json=body)


def test_the_seed_contract(server):
    created = ops(server, action="create", filename="hello.txt", content="Hello, World!")
    out = os.path.realpath(server["home"] / "out")
    assert created.status_code == 200 and created.json()["success"] is True and created.json()["path"] == f"{out}/hello.txt"
    assert created.json()["relative_path"] == "out/hello.txt"
    again = ops(server, action="create", filename="hello.txt", content="x")
    assert again.json()["success"] is False and "exists" in again.json()["error"]
    assert ops(server, action="write", filename="hello.txt", content="Hi again").json()["success"]
    read = ops(server, action="read", filename="hello.txt").json()
    assert read["success"] and read["content"] == "Hi again"
    status = server["client"].get("/api/file_operations", params={"action": "status"}).json()
    assert set(status) == {"status", "trustLevel", "canWrite", "canRead", "basePath"} and status["canRead"] is True
    assert status["status"] == "online" and status["basePath"] == out


def test_beyond_the_seed_subfolders_list_stat_search_delete(server):
    assert ops(server, action="create", filename="notes/today.md", content="plums").json()["success"]
    listed = ops(server, action="list", filename="notes", pattern="*.md").json()
    assert [e["path"] for e in listed["entries"]] == ["out/notes/today.md"]
    stat = ops(server, action="stat", filename="notes/today.md").json()
    assert stat["entries"][0]["size"] == 5
    assert [e["path"] for e in ops(server, action="search", query="today").json()["entries"]] == ["out/notes/today.md"]
    assert ops(server, action="delete", filename="notes/today.md").json()["success"]
    assert ops(server, action="stat", filename="notes/today.md").json()["success"] is False


HOSTILE_NAMES = ["../secret.txt", "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/x", "/etc/passwd",
                 "notes/../../x", "a\x00b", "．．/．．/x", "..\\..\\x", "link/secret.txt", "x" * 300, "../state/keys/signing.key"]


def test_hostile_file_requests_never_leave_out(server, tmp_path):
    home = server["home"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside")
    os.symlink(outside, home / "out" / "link")
    for name in HOSTILE_NAMES:
        for action in ("create", "write", "read", "delete", "list", "stat"):
            response = ops(server, action=action, filename=name, content="pwned")
            assert response.status_code in (200, 400), (name, action, response.text)
            body = response.json()
            if action == "read" and body.get("success"):
                assert "outside" not in (body["content"] or "")
    assert (outside / "secret.txt").read_text() == "outside" and sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert not any("pwned" in p.read_text(errors="ignore") for p in home.rglob("*") if p.is_file()
                   and "out" not in p.relative_to(home).parts[:1] and p.suffix != ".ndjson" and p.stat().st_size < 1 << 20)
    assert server["client"].get("/api/trust").status_code == 200  # still serving


def test_files_of_the_home_outside_out_are_not_the_apis(server):
    """The sandbox lets the person read anywhere in the home; the API's world is out/ only."""
    for name in ("../etc/trust.json", "../etc/training.json", "notes/../../etc/agent.json"):
        for action in ("read", "stat", "list", "delete"):
            body = ops(server, action=action, filename=name).json()
            assert body["success"] is False, (name, action, body)
    assert all((server["home"] / "etc" / name).exists() for name in ("trust.json", "training.json", "agent.json"))


@pytest.mark.parametrize("host, ok", [("localhost", True), ("localhost:8000", True), ("127.0.0.1:8000", True),
                                       ("[::1]:8000", True), ("[::1]", True), ("localhost.evil.com", False),
                                       ("evil.com", False), ("127.0.0.1.nip.io", False), ("localhost:abc", False),
                                       ("evil.com:8000", False), ("", False)])
def test_host_header_check(server, host, ok):
    assert host_allowed(host) is ok
    response = httpx.get(f"{server['url']}/api/trust", headers={"Host": host, "Authorization": f"Bearer {server['token']}"})
    assert (response.status_code == 200) is ok, response.text


def test_token_is_required_and_only_its_hash_is_stored(server):
    assert httpx.get(f"{server['url']}/api/trust").status_code == 401
    assert httpx.get(f"{server['url']}/api/trust", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{server['url']}/schema/openapi.json").status_code == 401
    stored = (server["home"] / "state" / "api" / "token.json").read_text()
    assert server["token"] not in stored and len(json.loads(stored)["sha256"]) == 64
    log = "".join(p.read_text() for p in (server["home"] / "logs" / "audit").glob("*.ndjson"))
    assert server["token"] not in log


def test_bad_bodies_get_clear_errors_and_the_server_keeps_serving(server):
    client = server["client"]
    big = client.post("/api/file_operations", content=b"{" + b" " * (2 << 20) + b"}", headers={"Content-Type": "application/json"})
    assert big.status_code == 413
    malformed = client.post("/api/file_operations", content=b'{"action": "read", "filename": ', headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["success"] is False
    wrong = ops(server, action="explode", filename=5)
    assert wrong.status_code == 400 and "schema" in wrong.json()["error"]
    assert client.post("/api/approvals/apr-00000000", json={"decision": "approve"}).status_code == 404
    assert client.post("/api/approvals/..%2f..%2fetc", json={"decision": "approve"}).status_code in (400, 404)
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/api/trust").status_code == 200


def test_control_surface_and_the_audit_names_the_person_at_the_api(server):
    client = server["client"]
    assert client.post("/api/trust", json={"level": "supervised_auto"}).json() == {"level": "supervised_auto"}
    assert client.post("/api/trust", json={"level": "god"}).status_code == 400
    with Runtime(server["home"]) as rt:
        queued = rt.call("fs_delete", {"path": "out/x.txt"}, session=Session(actor="agent"))
    (server["home"] / "out" / "x.txt").write_text("x")
    pending = client.get("/api/approvals", params={"status": "pending"}).json()
    assert [a["id"] for a in pending] == [queued.approval_id]
    decided = client.post(f"/api/approvals/{queued.approval_id}", json={"decision": "approve"}).json()
    assert decided["ran"] is True and decided["approval"]["status"] == "executed"
    status = client.get("/api/status").json()
    assert status["trust"] == "supervised_auto" and status["queue_depth"] == 0 and status["audit_head"]["seq"] > 0
    services = {s["name"]: s for s in status["services"]}  # each service with its state and next run (issue 16)
    assert list(services) == ["ingestor", "organizer", "sleep-service", "boredom-service"] and status["supervisor"]["running"] is False
    assert services["boredom-service"]["state"] == "disabled" and {"state", "next_run_at", "pid", "success_rate"} <= set(services["ingestor"])
    page = client.get("/api/audit", params={"category": "skill", "per_page": 5}).json()
    assert page["total"] >= 1 and len(page["entries"]) <= 5
    assert client.get("/api/audit/verify").json()["ok"] is True
    ops(server, action="create", filename="audited.txt", content="x")
    entries = client.get("/api/audit", params={"category": "skill", "per_page": 2}).json()["entries"]
    assert entries[0]["actor"] == "person@api" and entries[0]["details"]["source"] == "api"
    trust_entry = client.get("/api/audit", params={"category": "trust"}).json()["entries"][0]
    assert trust_entry["actor"] == "person@api"


def test_memories_tasks_chat_and_train_now(server):
    client = server["client"]
    captured = client.post("/api/memories", json={"content": "The API remembers plums", "tags": ["fruit"]})
    assert captured.status_code == 201
    found = client.get("/api/memories", params={"q": "plums"}).json()
    assert found["hits"][0]["id"] == captured.json()["id"]
    task = client.post("/api/tasks", json={"title": "prune the plum tree", "priority": "P1"}).json()
    assert client.patch(f"/api/tasks/{task['id']}", json={"status": "done"}).json()["status"] == "done"
    assert client.get("/api/tasks", params={"include_closed": True}).json()["tasks"][0]["id"] == task["id"]
    with client.stream("POST", "/api/chat", json={"message": "hi"}) as stream:
        text = "".join(stream.iter_text())
    assert "event: delta" in text and "event: done" in text
    job = client.post("/actions/train-now").json()  # a home this small fails verification, quickly
    deadline = time.monotonic() + 120
    while client.get(f"/api/runs/{job['id']}").json()["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    followed = client.get(f"/api/runs/{job['id']}").json()
    assert followed["status"] == "failed" and "fewer than min_pairs" in followed["error"]


def test_train_now_is_a_job_of_the_person_at_the_api_and_observe_refuses_it(server):
    client, home = server["client"], server["home"]
    assert client.post("/api/trust", json={"level": "observe"}).status_code == 200
    refused = client.post("/actions/train-now")
    assert refused.status_code == 403 and refused.json()["success"] is False
    assert client.post("/api/file_operations", json={"action": "create", "filename": "x.txt", "content": "x"}).status_code == 403
    assert list((home / "state" / "jobs").iterdir()) == [] and not (home / "out" / "x.txt").exists()
    assert client.get("/api/jobs").json() == [] and client.get("/api/status").status_code == 200  # reads still work
    client.post("/api/trust", json={"level": "suggest"})
    job = client.post("/actions/train-now")
    assert job.status_code == 202 and job.json()["started_by"] == "person@api"
    job_id = job.json()["id"]
    assert [j["id"] for j in client.get("/api/jobs").json()] == [job_id]
    deadline = time.monotonic() + 120
    while client.get(f"/api/jobs/{job_id}").json()["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    ended = client.get(f"/api/jobs/{job_id}").json()
    assert ended["state"] == "failed" and ended["exit_code"] == 1 and (home / ended["log"]).exists()
    assert client.get("/api/status").json()["jobs"][0]["id"] == job_id
    assert client.get("/api/jobs/job-nope").status_code == 404
    assert client.post("/api/jobs/job-nope/stop").status_code == 400  # no such job: the skill failed
    with Runtime(home) as rt:
        nightly = [e for e in rt.audit.entries() if e.details.get("skill") == "nightly"]
        started = [e for e in rt.audit.entries() if e.details.get("skill") == "job_start" and e.event == "result"]
    assert {e.actor for e in nightly} == {"person@api"} and {e.details["session"] for e in nightly} == {job_id}
    assert [e.actor for e in started] == ["person@api"]


def test_audit_pages_are_read_from_the_end(server):
    client = server["client"]
    for i in range(5):
        ops(server, action="create", filename=f"page{i}.txt", content="x")
    first = client.get("/api/audit", params={"category": "skill", "per_page": 3}).json()
    second = client.get("/api/audit", params={"category": "skill", "per_page": 3, "page": 2}).json()
    assert first["more"] is True and len(first["entries"]) == 3 and first["entries"][0]["seq"] > second["entries"][0]["seq"]
    today = first["entries"][0]["ts"][:10]
    assert client.get("/api/audit", params={"date": today, "per_page": 1}).json()["entries"][0]["seq"] == \
        client.get("/api/audit", params={"per_page": 1}).json()["entries"][0]["seq"]
    assert client.get("/api/audit", params={"date": "1999-01-01"}).json() == {"total": 0, "more": False, "page": 1,
                                                                                 "per_page": 50, "entries": []}


def test_named_chat_sessions_are_bounded_and_expire():
    from runtime.api.sessions import ChatSessions

    now = [0.0]
    made = []
    chats = ChatSessions(lambda name: made.append(name) or object(), limit=2, idle_s=60, clock=lambda: now[0])
    first = chats.agent("a")
    assert chats.agent("a") is first and made == ["a"]
    chats.agent("b")
    chats.agent("a")
    chats.agent("c")  # b is the least recently used: it goes
    assert "b" not in chats and "a" in chats and "c" in chats and len(chats) == 2
    now[0] = 61.0
    chats.agent("d")  # a and c were idle too long
    assert len(chats) == 1 and "d" in chats
    chats.agent(None)  # a one-off chat is not kept
    assert len(chats) == 1 and made == ["a", "b", "c", "d", made[-1]] and made[-1].startswith("api-")


def test_schemathesis_finds_no_server_error(server, tmp_path):
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "st"), "run", f"{server['url']}/schema/openapi.json",
         "-H", f"Authorization: Bearer {server['token']}", "--checks", "not_a_server_error", "-n", "15",
         "--exclude-path", "/api/chat", "--exclude-path", "/actions/train-now", "--generation-deterministic"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)  # its cache lands in cwd, not the checkout
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_serve_refuses_a_remote_address_without_allow_remote(home):
    proc = run_mh(home, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert proc.returncode == 1 and "--allow-remote" in proc.stderr


def test_issue13_links_fifos_and_odd_inputs_get_clear_answers(server):
    from concurrent.futures import ThreadPoolExecutor

    home, client = server["home"], server["client"]
    key = next((home / "state" / "keys").iterdir())
    os.link(key, home / "out" / "k.txt")  # a hard link to the signing key, planted in out/
    read = ops(server, action="read", filename="k.txt").json()
    assert read["success"] is False and "hard links" in read["error"] and not read.get("content")
    os.mkfifo(home / "out" / "pipe")
    with ThreadPoolExecutor(50) as pool:  # more reads of a FIFO than the server has workers
        answers = list(pool.map(lambda _: client.post("/api/file_operations", json={"action": "read", "filename": "pipe"},
                                                      timeout=20), range(50)))
    assert all(a.status_code == 200 and "FIFO" in a.json()["error"] for a in answers)
    for name in (".", ""):
        stat = ops(server, action="stat", filename=name).json()
        assert stat["success"] is True and [(e["path"], e["type"]) for e in stat["entries"]] == [("out", "dir")], stat
    for pattern in (".", ""):
        listed = ops(server, action="list", filename="", pattern=pattern)
        assert listed.status_code == 200 and listed.json()["success"] is False and "names no entry" in listed.json()["error"]
    deep = b'{"action": "read", "filename": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    nested = client.post("/api/file_operations", content=deep, headers={"Content-Type": "application/json"})
    assert nested.status_code == 400 and set(nested.json()) == {"success", "error", "detail"} and nested.json()["success"] is False
    assert client.get("/api/trust").status_code == 200  # still serving
