import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from runtime import CallStatus, Runtime
from runtime.approvals import ApprovalStatus
from runtime.config import PolicyRule, save_config
from runtime.errors import ApprovalClosed, ApprovalNotFound, Denied

from .conftest import ROOT, run_mh


def queue_write(rt, agent, name="a.txt"):
    outcome = rt.call("fs_write", {"path": f"out/{name}", "content": "from the agent"}, session=agent)
    assert outcome.status is CallStatus.queued and outcome.approval_id.startswith("apr-")
    return outcome.approval_id


def starts_for(rt, approval_id):
    return [e for e in rt.audit.entries() if e.event == "start" and e.details.get("approval") == approval_id]


def test_agent_low_risk_call_waits_then_runs_once_approved(rt, agent):
    approval_id = queue_write(rt, agent)
    assert not (rt.home.out / "a.txt").exists()
    approval = rt.approvals.get(approval_id)
    assert (approval.status, approval.requested_by, approval.risk) == ("pending", "agent", "low")

    approval, outcome = rt.approve(approval_id, by="person@test")
    assert outcome.status is CallStatus.ok
    assert (approval.status, approval.resolved_by) == (ApprovalStatus.executed, "person@test")
    assert (rt.home.out / "a.txt").read_text() == "from the agent"
    events = [e.event for e in rt.audit.entries() if e.category == "approval"]
    assert events == ["created", "approved", "executed"]


def test_approving_twice_runs_once(rt, agent):
    approval_id = queue_write(rt, agent)
    rt.approve(approval_id)
    again, outcome = rt.approve(approval_id)
    assert outcome is None and again.status is ApprovalStatus.executed
    assert len(starts_for(rt, approval_id)) == 1


def test_reject_records_who_and_why_and_it_never_runs(rt, agent):
    approval_id = queue_write(rt, agent)
    rejected = rt.reject(approval_id, by="person@test", reason="not now")
    assert (rejected.status, rejected.resolved_by, rejected.note) == ("rejected", "person@test", "not now")
    with pytest.raises(ApprovalClosed, match="rejected"):
        rt.approve(approval_id)
    with pytest.raises(ApprovalClosed):
        rt.reject(approval_id)
    assert not (rt.home.out / "a.txt").exists()


@pytest.mark.parametrize("bad_id", ["apr-00000000", "nonsense", "apr-../../etc/passwd", ""])
def test_unknown_ids(rt, bad_id):
    with pytest.raises(ApprovalNotFound):
        rt.approve(bad_id)


def test_expired_requests_cannot_be_approved(rt, agent):
    save_config(rt.home, "trust.json", rt.trust_config().model_copy(update={"approval_ttl_hours": 0.0001}))
    approval_id = queue_write(rt, agent)
    # Waited out, not edited: an expiry changed in the file is tampering (tests/test_approval_tamper.py).
    time.sleep(0.4)  # the ttl above is 0.36 s
    assert rt.list_approvals().items[0].status is ApprovalStatus.expired
    with pytest.raises(ApprovalClosed, match="expired"):
        rt.approve(approval_id)


def test_the_gate_is_checked_again_when_approving(rt, agent):
    approval_id = queue_write(rt, agent)
    rt.set_trust("observe")
    with pytest.raises(Denied, match="observe"):
        rt.approve(approval_id)  # observe stops approving too; the request stays pending, untouched
    assert rt.approvals.get(approval_id).status is ApprovalStatus.pending
    assert not (rt.home.out / "a.txt").exists()
    assert rt.audit.tail(1)[0].event == "refused"


def test_the_gate_is_checked_again_at_execution(rt, agent):
    """A level lowered by another process between the approval check and the run still stops it."""
    approval_id = queue_write(rt, agent)
    checked = rt._refuse_if_denied

    def lowered_meanwhile(approval, by):
        checked(approval, by)
        with Runtime(rt.home) as other:
            other.set_trust("observe")

    rt._refuse_if_denied = lowered_meanwhile
    approval, outcome = rt.approve(approval_id)
    assert outcome.status is CallStatus.denied
    assert approval.status is ApprovalStatus.failed and "denied at execution" in approval.error
    assert not (rt.home.out / "a.txt").exists()


def test_ask_rules_queue_and_deny_rules_refuse_for_the_agent(rt, agent):
    rt.set_trust("bounded_auto")
    rules = [PolicyRule(skill="fs_read", args={"path": "private/*"}, effect="ask"),
             PolicyRule(skill="fs_delete", effect="deny")]
    save_config(rt.home, "trust.json", rt.trust_config().model_copy(update={"rules": rules}))
    assert rt.call("fs_read", {"path": "private/x"}, session=agent).status is CallStatus.queued
    assert rt.call("fs_delete", {"path": "out/x"}, session=agent).status is CallStatus.denied
    assert rt.call("fs_delete", {"path": "out/x"}).status is CallStatus.denied  # the person too


def test_yolo_session_runs_what_would_queue_and_is_audited(rt, agent):
    rt.set_yolo(agent, True)
    assert rt.call("fs_write", {"path": "out/y.txt", "content": "y"}, session=agent).status is CallStatus.ok
    rt.set_trust("observe")
    assert rt.call("fs_write", {"path": "out/z.txt", "content": "z"}, session=agent).status is CallStatus.denied
    assert any(e.category == "session" and e.event == "yolo" and e.level == "security" for e in rt.audit.entries())


def test_a_corrupt_approval_file_is_reported_not_fatal(rt, agent):
    good = queue_write(rt, agent)
    (rt.home.approvals_dir / "apr-deadbeef.json").write_text("{broken")
    scan = rt.list_approvals()
    assert [a.id for a in scan.items] == [good]
    assert "apr-deadbeef.json" in scan.broken[0]


def _approve_after(home: str, approval_id: str, barrier) -> None:
    barrier.wait()
    with Runtime(home) as runtime:
        runtime.approve(approval_id, by="person@racer")


def test_concurrent_approval_from_two_processes_runs_once(rt, agent):
    approval_id = queue_write(rt, agent)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    racers = [ctx.Process(target=_approve_after, args=(str(rt.home.root), approval_id, barrier)) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
        assert racer.exitcode == 0
    assert rt.approvals.get(approval_id).status is ApprovalStatus.executed
    assert len(starts_for(rt, approval_id)) == 1
    assert rt.verify_audit().ok


def test_cli_approve_from_two_processes_at_once(rt, agent):
    approval_id = queue_write(rt, agent)
    env_home = str(rt.home.root)
    procs = [
        subprocess.Popen([sys.executable, "-m", "runtime.cli", "--home", env_home, "approvals", "approve", approval_id],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    said = " | ".join(out for out, _ in outputs)
    assert said.count("already approved") == 1 and said.count("approved and executed") == 1
    assert len(starts_for(rt, approval_id)) == 1


def test_cli_lists_approves_and_rejects(rt, agent):
    first, second = queue_write(rt, agent, "one.txt"), queue_write(rt, agent, "two.txt")
    home = rt.home.root
    listing = run_mh(home, "approvals", check=True).stdout
    assert first in listing and second in listing and "fs_write" in listing
    assert json.loads(run_mh(home, "approvals", "--json", check=True).stdout)[0]["id"] == first
    run_mh(home, "approvals", "approve", first, check=True)
    proc = run_mh(home, "approvals", "reject", second, "--reason", "no")
    assert proc.returncode == 0
    assert run_mh(home, "approvals", check=True).stdout.strip() == "no pending approvals"
    everything = run_mh(home, "approvals", "--all", check=True).stdout
    assert "executed" in everything and "rejected" in everything
    missing = run_mh(home, "approvals", "approve", "apr-00000000")
    assert missing.returncode == 1 and "no approval apr-00000000" in missing.stderr and "fix:" in missing.stderr


def test_cli_listing_keeps_whole_ids_on_an_80_column_terminal(rt, agent):
    approval_id = queue_write(rt, agent)
    env = {**os.environ, "MH_HOME": str(rt.home.root), "COLUMNS": "80"}
    listing = subprocess.run([sys.executable, "-m", "runtime.cli", "approvals"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert listing.returncode == 0 and approval_id in listing.stdout  # what `approve` and `reject` take, whole



def test_cli_approves_and_rejects_by_the_start_of_an_id_copied_from_an_80_column_listing(rt, agent):
    first, second = queue_write(rt, agent, "one.txt"), queue_write(rt, agent, "two.txt")
    env = {**os.environ, "MH_HOME": str(rt.home.root), "COLUMNS": "80"}

    def mh80(*args):
        return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT)

    listing = mh80("approvals").stdout
    assert first in listing and second in listing
    approved = mh80("approvals", "approve", first[:10])
    assert approved.returncode == 0, approved.stderr
    assert f"{first} approved and executed" in approved.stdout and (rt.home.out / "one.txt").exists()
    rejected = mh80("approvals", "reject", second[4:10])  # without the apr- too
    assert rejected.returncode == 0 and f"{second} rejected" in rejected.stdout
    unknown = mh80("approvals", "approve", "apr-zz")
    assert unknown.returncode == 1 and "no approval apr-zz" in unknown.stderr and "mh approvals" in unknown.stderr


def test_a_start_shared_by_two_ids_is_refused_naming_both_and_runs_nothing(rt, agent):
    by_first_digit: dict[str, str] = {}
    for n in range(17):  # 16 hex digits: by the 17th request two ids share their first digit
        approval_id = queue_write(rt, agent, f"{n}.txt")
        if approval_id[4] in by_first_digit:
            break
        by_first_digit[approval_id[4]] = approval_id
    shared = approval_id[:5]
    with pytest.raises(ApprovalNotFound, match="is the start of 2 approvals") as refused:
        rt.approve(shared)
    assert approval_id in refused.value.message and by_first_digit[approval_id[4]] in refused.value.message
    assert refused.value.fix == "give more of the id"
    with pytest.raises(ApprovalNotFound, match="is the start of 2 approvals"):
        rt.reject(shared)
    assert not list(rt.home.out.glob("*.txt")) and all(a.status is ApprovalStatus.pending for a in rt.list_approvals().items)


STALL = """
import os, sys
from runtime import Runtime
runtime = Runtime(sys.argv[1])
approval = runtime.approvals.get(sys.argv[2])
runtime._run_approved = lambda *a: os.kill(os.getpid(), 9)  # dies mid-run, as a crash or SIGKILL would
runtime.approve(approval.id, by="person@crashing")
"""


def test_an_approval_cut_off_mid_run_is_reported_stalled_and_never_rerun(rt, agent):
    approval_id = queue_write(rt, agent)
    during = []
    run = rt._run_approved

    def observed(approval, by):
        during.append(rt.approvals.stalled(rt.approvals.get(approval.id)))
        return run(approval, by)

    rt._run_approved = observed
    rt.approve(approval_id, by="person@test")
    assert during == [False]  # held while it ran
    assert not rt.approvals.runner(approval_id).path.exists()

    cut = queue_write(rt, agent, name="b.txt")
    child = subprocess.run([sys.executable, "-c", STALL, str(rt.home.root), cut], cwd=ROOT, capture_output=True, text=True)
    assert child.returncode == -9, child.stderr
    approval = rt.approvals.get(cut)
    assert approval.status is ApprovalStatus.approved and rt.approvals.stalled(approval)
    listing = run_mh(rt.home.root, "approvals")
    assert f"{cut} (fs_write) was approved by person@crashing but the process running it ended" in listing.stderr
    assert rt.approve(cut, by="person@test") == (approval, None)  # nothing runs again
    assert not (rt.home.out / "b.txt").exists() and not starts_for(rt, cut)
