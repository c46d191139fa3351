"""MetaHuman OS's API shapes (shared/reference, the guide's routes and curl examples) against mh's
app: each works through the same door as mh's own routes (gate, queue, audit, `person@api`), or
fails with a message that names mh's way. Driven through Litestar's test client over the real app,
a real home and a real token."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from litestar.testing import TestClient

from runtime import Runtime, Session
from runtime.api.app import create_app

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def api(rt):
    token = rt.call("api_token_rotate", {}).result["token"]
    client = TestClient(create_app(rt), base_url=BASE)
    client.headers["Authorization"] = f"Bearer {token}"
    with client:
        yield client, rt, token


def skill_entries_since(rt: Runtime, seq: int, skill: str) -> list:
    return [e for e in rt.audit.entries() if e.seq > seq and e.details.get("skill") == skill]


def head(rt: Runtime) -> int:
    return rt.audit.tail(1)[0].seq


def anonymous(client: TestClient) -> TestClient:
    return TestClient(client.app, base_url=BASE)


# -- the routes that already had the guide's shape ----------------------------------------------------


def test_get_and_post_api_tasks_answer_the_guides_shape(api):
    """The guide's GET answers `{"tasks": [...]}`; POST creates one, audited as the person."""
    client, rt, _ = api
    seen = head(rt)
    created = client.post("/api/tasks", json={"title": "call the plumber"})
    assert created.status_code == 201 and created.json()["status"] == "todo"
    assert [t["id"] for t in client.get("/api/tasks").json()["tasks"]] == [created.json()["id"]]
    assert {e.actor for e in skill_entries_since(rt, seen, "task_create")} == {"person@api"}


def test_get_api_status_and_approvals_answer_as_the_guide_lists_them(api):
    client, rt, _ = api
    approval = queue_delete(rt, "old.txt")
    status = client.get("/api/status").json()
    assert status["queue_depth"] == 1 and status["trust"] == str(rt.trust_level())
    pending = client.get("/api/approvals").json()
    assert [(a["id"], a["skill"], a["status"]) for a in pending] == [(approval, "fs_delete", "pending")]


# -- PATCH /api/tasks ---------------------------------------------------------------------------------


def test_patch_api_tasks_with_the_id_in_the_body_updates_the_task_as_the_person(api):
    client, rt, _ = api
    task = client.post("/api/tasks", json={"title": "oil the bike chain"}).json()
    seen = head(rt)
    patched = client.patch("/api/tasks", json={"id": task["id"], "status": "done"})
    assert patched.status_code == 200 and patched.json()["status"] == "done"
    assert client.get("/api/tasks", params={"include_closed": True}).json()["tasks"][0]["status"] == "done"
    entries = skill_entries_since(rt, seen, "task_update_status")
    assert entries and {e.actor for e in entries} == {"person@api"} and {e.details["source"] for e in entries} == {"api"}


def test_patch_api_tasks_refuses_a_key_it_cannot_apply_and_an_unknown_id(api):
    client, rt, _ = api
    task = client.post("/api/tasks", json={"title": "water the basil"}).json()
    renamed = client.patch("/api/tasks", json={"id": task["id"], "status": "done", "title": "something else"})
    assert renamed.status_code == 400 and "title" in str(renamed.json()["detail"])
    missing = client.patch("/api/tasks", json={"id": "task-nope", "status": "done"})
    assert missing.status_code == 400 and missing.json()["success"] is False
    assert client.patch("/api/tasks", json={"status": "done"}).status_code == 400  # no id
    assert client.get("/api/tasks").json()["tasks"][0]["status"] == "todo"


# -- POST /api/approvals ------------------------------------------------------------------------------


def queue_delete(rt: Runtime, name: str) -> str:
    (rt.home.out / name).write_text("x")
    queued = rt.call("fs_delete", {"path": f"out/{name}"}, session=Session(actor="agent"))
    assert queued.approval_id
    return queued.approval_id


def test_post_api_approvals_with_the_id_in_the_body_approves_as_the_person_and_runs_as_the_agent(api):
    client, rt, _ = api
    approval = queue_delete(rt, "old.txt")
    seen = head(rt)
    decided = client.post("/api/approvals", json={"id": approval, "action": "approve"})
    assert decided.status_code == 200 and decided.json()["ran"] is True and decided.json()["approval"]["status"] == "executed"
    assert not (rt.home.out / "old.txt").exists()
    entries = [e for e in rt.audit.entries() if e.seq > seen]
    assert [e.actor for e in entries if e.category == "approval" and e.event == "approved"] == ["person@api"]
    assert {e.actor for e in entries if e.details.get("skill") == "fs_delete" and e.category == "skill"} == {"agent"}
    again = client.post("/api/approvals", json={"id": approval, "action": "approve"})
    assert again.status_code == 200 and again.json()["ran"] is False  # approving twice runs once


def test_post_api_approvals_rejects_with_action_or_mhs_decision_key(api):
    client, rt, _ = api
    first, second = queue_delete(rt, "a.txt"), queue_delete(rt, "b.txt")
    assert client.post("/api/approvals", json={"id": first, "action": "reject", "reason": "keep it"}).json()["approval"]["status"] == "rejected"
    assert client.post("/api/approvals", json={"id": second, "decision": "reject"}).json()["approval"]["status"] == "rejected"
    assert (rt.home.out / "a.txt").exists() and (rt.home.out / "b.txt").exists()
    rejected = [e for e in rt.audit.entries() if e.category == "approval" and e.event == "rejected"]
    assert [e.actor for e in rejected] == ["person@api", "person@api"]


def test_post_api_approvals_with_a_hostile_or_unknown_id_changes_nothing(api):
    client, rt, _ = api
    trust = (rt.home.etc / "trust.json").read_bytes()
    for approval_id in ("apr-00000000", "../../etc/trust", "../etc/trust.json", "/etc/passwd", "apr-\x00", "x" * 200):
        answer = client.post("/api/approvals", json={"id": approval_id, "action": "approve"})
        assert answer.status_code in (400, 404) and answer.json()["success"] is False, (approval_id, answer.text)
    assert client.post("/api/approvals", json={"id": "x" * 201, "action": "approve"}).status_code == 400
    assert client.post("/api/approvals", json={"id": "apr-1", "action": "explode"}).status_code == 400
    assert (rt.home.etc / "trust.json").read_bytes() == trust


def test_the_body_shapes_are_refused_at_observe_and_without_the_token(api):
    client, rt, _ = api
    task = client.post("/api/tasks", json={"title": "prune the plum"}).json()
    approval = queue_delete(rt, "keep.txt")
    nobody = anonymous(client)
    with nobody:
        assert nobody.patch("/api/tasks", json={"id": task["id"], "status": "done"}).status_code == 401
        assert nobody.post("/api/approvals", json={"id": approval, "action": "approve"}).status_code == 401
    rt.set_trust("observe")
    assert client.patch("/api/tasks", json={"id": task["id"], "status": "done"}).status_code == 403
    assert client.post("/api/approvals", json={"id": approval, "action": "approve"}).status_code == 403
    assert client.get("/api/tasks").json()["tasks"][0]["status"] == "todo"
    assert [a["status"] for a in client.get("/api/approvals").json()] == ["pending"] and (rt.home.out / "keep.txt").exists()


# -- GET /api/audit -----------------------------------------------------------------------------------


def test_audit_security_gives_only_security_entries(api):
    client, rt, _ = api
    client.post("/api/trust", json={"level": "supervised_auto"})
    client.post("/api/file_operations", json={"action": "create", "filename": "x.txt", "content": "x"})
    everything = client.get("/api/audit").json()["entries"]
    assert {"info", "security"} <= {e["level"] for e in everything}
    for query in ("security", "security=true", "security=1", "category=security"):
        entries = client.get(f"/api/audit?{query}").json()["entries"]
        assert entries and {e["level"] for e in entries} == {"security"}, query
        assert any(e["category"] == "trust" and e["actor"] == "person@api" for e in entries), query
    assert client.get("/api/audit?security=false").json()["entries"] == everything
    assert {e["category"] for e in client.get("/api/audit?security&category=trust").json()["entries"]} == {"trust"}
    conflicting = client.get("/api/audit?security&level=info")
    assert conflicting.status_code == 400 and "level" in conflicting.json()["fix"]
    assert client.get("/api/audit?security=maybe").status_code == 400


@pytest.mark.parametrize("date", ["yesterday", "2026-13-01", "2026-02-30", "2026/11/23", "23-11-2026", "2026-1-5", "../../etc",
                                  "2026-11-23T25", "%", "2026-11-23 "])
def test_an_invalid_audit_date_is_a_400_that_says_the_format(api, date):
    client, _, _ = api
    answer = client.get("/api/audit", params={"date": date})
    assert answer.status_code == 400 and answer.json()["success"] is False
    assert "YYYY-MM-DD" in answer.json()["fix"]


def test_a_valid_audit_date_still_filters(api):
    client, _, _ = api
    newest = client.get("/api/audit", params={"per_page": 1}).json()["entries"][0]
    for date in (newest["ts"][:10], newest["ts"][:7], newest["ts"][:4], newest["ts"][:13]):
        assert client.get("/api/audit", params={"date": date, "per_page": 1}).json()["entries"][0]["seq"] == newest["seq"], date
    assert client.get("/api/audit", params={"date": "1999-01-01"}).json()["entries"] == []


# -- file_operations ----------------------------------------------------------------------------------


def test_file_status_says_online_as_the_contract_does(api):
    client, rt, _ = api
    status = client.get("/api/file_operations?action=status").json()
    assert status["status"] == "online" and status["basePath"] == os.path.realpath(rt.home.out)


def test_file_operations_answer_the_absolute_path_and_take_it_back(api):
    client, rt, _ = api
    base = client.get("/api/file_operations?action=status").json()["basePath"]
    created = client.post("/api/file_operations", json={"action": "create", "filename": "example.txt", "content": "hi"}).json()
    assert created["success"] and created["path"] == f"{base}/example.txt" and created["relative_path"] == "out/example.txt"
    assert Path(created["path"]).read_text() == "hi"
    read = client.post("/api/file_operations", json={"action": "read", "filename": created["path"]}).json()
    assert read["success"] and read["content"] == "hi" and read["path"] == created["path"]
    nested = client.post("/api/file_operations", json={"action": "create", "filename": f"{base}/notes/a.md", "content": "a"}).json()
    assert nested["path"] == f"{base}/notes/a.md" and (rt.home.out / "notes" / "a.md").read_text() == "a"


def test_an_absolute_path_never_names_a_file_outside_out(api, tmp_path):
    """The absolute form is taken back only under basePath; `..` after it, another folder of the
    home, or a symlink inside out/ lead nowhere, and no answer names a path outside out/."""
    client, rt, _ = api
    base = client.get("/api/file_operations?action=status").json()["basePath"]
    root = os.path.realpath(rt.home.root)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside")
    os.symlink(outside, rt.home.out / "link")
    trust = (rt.home.etc / "trust.json").read_bytes()
    names = [f"{base}/../etc/trust.json", f"{base}/../state/keys", f"{root}/etc/trust.json", f"{base}/link/secret.txt",
             f"{base}/notes/../../etc/trust.json", f"{base}/../../../etc/passwd", str(outside / "secret.txt"), f"{base}/..", base + "/",
             f"{base}side/x.txt", f"{base}/./../etc/trust.json", f"{base}//../etc/trust.json"]
    for name in names:
        for action in ("read", "stat", "list", "create", "write", "delete"):
            body = client.post("/api/file_operations", json={"action": action, "filename": name, "content": "pwned"}).json()
            if body["success"]:
                assert os.path.normpath(body["path"]) == body["path"] and Path(body["path"]).is_relative_to(base), (name, action, body)
                assert "outside" not in (body.get("content") or ""), (name, action)
    assert (rt.home.etc / "trust.json").read_bytes() == trust and sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "outside" and sorted(p.name for p in rt.home.out.iterdir()) == ["link"]
    elsewhere = client.post("/api/file_operations", json={"action": "create", "filename": f"{root}/etc/x.json", "content": "x"}).json()
    assert elsewhere["success"] is False and "outside basePath" in elsewhere["error"]
    stat = client.post("/api/file_operations", json={"action": "stat", "filename": base}).json()
    assert stat["success"] and stat["path"] == base and stat["relative_path"] == "out"


# -- the token ----------------------------------------------------------------------------------------


def test_a_401_says_how_to_get_a_token_and_gives_nothing_away(api):
    """The seed's curl examples send no token; the 401 names `mh api token` and how to send it, and
    reads the same whether a token exists or not: no path, hash or token of the home in it."""
    client, rt, token = api
    stored = (rt.home.api_dir / "token.json").read_text()
    nobody = anonymous(client)
    with nobody:
        bare = nobody.get("/api/file_operations?action=status")
        wrong = nobody.get("/api/status", headers={"Authorization": "Bearer mh_wrong"})
        (rt.home.api_dir / "token.json").unlink()
        bare_without_a_token = nobody.get("/api/file_operations?action=status")
        wrong_without_a_token = nobody.get("/api/status", headers={"Authorization": "Bearer mh_wrong"})
    for answer in (bare, wrong):
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
        fix = answer.json()["fix"]
        assert "`mh api token`" in fix and 'Authorization: Bearer $TOKEN' in fix and "http://127.0.0.1:8765/api/status" in fix
        text = answer.text
        for secret in (token, hashlib.sha256(token.encode()).hexdigest(), str(rt.home.root), os.path.realpath(rt.home.root), stored):
            assert secret not in text
    assert "needs a bearer token" in bare.json()["error"] and wrong.json()["error"] == "wrong bearer token"
    assert (bare_without_a_token.json(), wrong_without_a_token.json()) == (bare.json(), wrong.json())
