"""The typed read side: each query returns a model of what its surface shows, and changes nothing it reads."""

import os

import pytest

from runtime import ApprovalStatus, MhError, TaskStatus
from runtime.queries import (
    audit_tail,
    check_receipt,
    get_task,
    list_approvals,
    list_datasets,
    list_skills,
    list_tasks,
    replay_audit,
    show_dataset,
    verify_audit,
)

from .test_approvals import queue_write
from .test_datasets import fill, pipeline


def test_datasets_list_show_and_receipt(rt):
    fill(rt)
    verified = pipeline(rt)
    raw = rt.call("dataset_build", {}).result["id"]
    with (rt.home.datasets_dir / "raw" / f"{raw}.jsonl").open("a") as handle:
        handle.write("{not json\n")

    rows = {row.id: row for row in list_datasets(rt.home)}
    assert (rows[verified].stage, rows[verified].receipt) == ("verified", "signed") and rows[verified].pairs > 0
    assert (rows[raw].stage, rows[raw].receipt) == ("raw", "-")
    view = show_dataset(rt.home, verified, sample=2)
    assert len(view.sample) == 2 and "instruction" in view.sample[0] and view.clean_report
    broken = show_dataset(rt.home, raw, sample=1000)
    assert broken.clean_report is None and broken.sample[-1]["unreadable"].startswith(f"line {broken.pairs}:")

    good = check_receipt(rt.home, verified)
    assert good.ok and good.problem is None and len(good.sha256) == 64 and good.key_id
    train = rt.home.datasets_dir / "verified" / verified / "train.jsonl"
    os.chmod(train, 0o644)
    train.write_text(train.read_text() + "\n{}\n")
    bad = check_receipt(rt.home, verified)
    assert not bad.ok and "train.jsonl no longer matches its receipt" in bad.problem and bad.sha256 is None
    assert check_receipt(rt.home, raw).problem.startswith("no receipt")


def test_audit_tail_verify_seal_and_replay(rt):
    rt.set_trust("supervised_auto")
    (entry,) = audit_tail(rt, 1, category="trust")
    assert (entry.event, entry.details["to"], entry.actor) == ("set", "supervised_auto", "person@python")
    assert [e.seq for e in audit_tail(rt, 2)] == [entry.seq - 1, entry.seq]  # home.init came before
    assert audit_tail(rt, 5, level="error") == []

    checkpoint = rt.seal_audit()
    assert checkpoint.seq == rt.audit.head()[0]
    check = verify_audit(rt)
    assert check.ok and check.problem is None and check.checkpoints >= 1 and check.head_seq == checkpoint.seq

    replayed = replay_audit(rt)
    assert replayed.ok and replayed.trust_level == "supervised_auto" and replayed.differences == []
    assert {"trust_level", "approvals", "datasets", "active_adapter", "differences"} <= set(replayed.model_dump(mode="json"))
    trust = rt.home.config_file("trust.json")
    trust.write_text(trust.read_text().replace("supervised_auto", "bounded_auto"))  # behind mh's back
    drift = replay_audit(rt)
    assert not drift.ok and drift.differences == ["trust level: the log says supervised_auto, etc/trust.json says bounded_auto"]

    day = sorted(rt.home.audit_dir.glob("????-??-??.ndjson"))[0]
    day.write_text(day.read_text().replace("supervised_auto", "bounded_auto", 1))
    broken = verify_audit(rt)
    assert not broken.ok and broken.problem.file == day.name and broken.problem.reason == "edited"


def test_approvals_by_status_with_broken_files_and_stalled_runs(rt, agent):
    first, second, third = (queue_write(rt, agent, name) for name in ("a.txt", "b.txt", "c.txt"))
    rt.reject(second, by="person@test")
    approval = rt.approvals.get(third)
    rt.approvals.save(approval.moved(ApprovalStatus.approved, resolved_by="person@gone"))  # its run was cut off
    (rt.home.approvals_dir / "apr-deadbeef.json").write_text("{")

    pending = list_approvals(rt, ApprovalStatus.pending)
    assert [a.id for a in pending.items] == [first]
    everything = list_approvals(rt)
    assert [a.id for a in everything.items] == [first, second, third]
    assert everything.broken == pending.broken and "apr-deadbeef.json" in everything.broken[0]
    assert pending.stalled == everything.stalled and pending.stalled[0].startswith(f"{third} (fs_write) was approved by person@gone")
    assert [a.id for a in list_approvals(rt, "rejected").items] == [second]


def test_tasks_filters_problems_and_prefix(rt):
    paid = rt.tasks.create(title="Pay rent", tags=["home"])
    rt.tasks.set_status(paid.id, TaskStatus.done)
    plant = rt.tasks.create(title="Plant basil", tags=["garden"], priority="P1")
    call = rt.tasks.create(title="Call the plumber", tags=["home"], priority="P0")
    (rt.home.tasks_active / "task-broken.json").write_text("{")

    listed = list_tasks(rt.home)
    assert [t.id for t in listed.items] == [call.id, plant.id]  # open ones only, by priority
    assert len(listed.skipped) == 1 and "task-broken.json" in listed.skipped[0]
    assert [t.id for t in list_tasks(rt.home, include_closed=True).items] == [call.id, plant.id, paid.id]
    assert [t.id for t in list_tasks(rt.home, status=TaskStatus.done).items] == [paid.id]
    assert [t.id for t in list_tasks(rt.home, tag="home").items] == [call.id]
    assert get_task(rt.home, plant.id[:-1]).title == "Plant basil"
    with pytest.raises(MhError, match="matches 3 tasks"):
        get_task(rt.home, "task-")


def test_skills_show_what_the_gate_does_with_the_agents_call(rt):
    found = list_skills(rt)
    verdicts = {row.id: str(row.agent_verdict) for row in found.items}
    assert found.trust_level == "suggest"
    assert (verdicts["fs_read"], verdicts["fs_write"]) == ("run", "queue")
    person_only = [row for row in found.items if not row.agent]
    assert person_only and {verdicts[row.id] for row in person_only} == {"deny"}  # Runtime.call denies them to the agent
    assert found.items[0].input_schema["type"] == "object"
