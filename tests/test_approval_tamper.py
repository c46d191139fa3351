"""Approvals bound to the log: an approval file edited (or made) behind mh's back is never run.

Each attack edits state/approvals/apr-*.json as a local process with the person's rights would, then
approves. The edited request must be refused (ApprovalTampered, audited at `security`), nothing may
run, and `mh audit replay` must name the file. Large arguments stay approvable.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from runtime import CallStatus
from runtime.approvals import MAX_APPROVAL_BYTES, ApprovalCorrupt, ApprovalStatus, logged_request
from runtime.audit.format import encode_entry
from runtime.config import save_config
from runtime.errors import ApprovalTampered, SkillInputError
from runtime.queries import list_approvals, replay_audit
from runtime.skills import Skill
from runtime.trust import Risk


def queue_write(rt, agent, path="out/a.txt", content="from the agent"):
    outcome = rt.call("fs_write", {"path": path, "content": content}, session=agent)
    assert outcome.status is CallStatus.queued
    return outcome.approval_id


def edit(rt, approval_id, *, some_args=None, **changes):
    """Rewrite the file by hand, as a process outside mh would: no lock, no audit entry. `some_args`
    changes those arguments and keeps the others; `args` replaces them all."""
    path = rt.home.approvals_dir / f"{approval_id}.json"
    record = {**json.loads(path.read_text()), **changes}
    record["args"] = {**record["args"], **(some_args or {})}
    path.write_text(json.dumps(record, indent=2))


def assert_refused(rt, approval_id, *named):
    """Refused at approve with each of `named` in the message, nothing run, the refusal audited."""
    with pytest.raises(ApprovalTampered) as refused:
        rt.approve(approval_id, by="person@test")
    for words in named:
        assert words in refused.value.message
    assert refused.value.exit_code == 1 and "aside" in refused.value.fix
    starts = [e for e in rt.audit.entries() if e.category == "skill" and e.details.get("approval") == approval_id]
    assert starts == []
    last = rt.audit.tail(1)[0]
    assert (last.category, last.event, last.level, last.details["id"]) == ("approval", "tampered", "security", approval_id)
    return refused.value


def replay_names(rt, approval_id, *named):
    lines = [d for d in replay_audit(rt).differences if d.startswith(f"approval {approval_id}")]
    assert any("tampered" in line for line in lines), lines
    for words in named:
        assert any(words in line for line in lines), lines
    return lines


def test_an_edited_path_is_refused(rt, agent):
    approval_id = queue_write(rt, agent, path="out/a.txt")
    edit(rt, approval_id, some_args={"path": "out/elsewhere.txt"})
    assert_refused(rt, approval_id, "args differ from the audited request: path")
    assert not (rt.home.out / "elsewhere.txt").exists() and not (rt.home.out / "a.txt").exists()
    replay_names(rt, approval_id, "args differ from the audited request: path")


def test_edited_content_is_refused(rt, agent):
    approval_id = queue_write(rt, agent, content="what the person was asked about")
    edit(rt, approval_id, some_args={"content": "something else"})
    assert_refused(rt, approval_id, "args differ from the audited request: content")
    assert not (rt.home.out / "a.txt").exists()
    replay_names(rt, approval_id, "content")


def test_another_skill_is_refused(rt, agent):
    (rt.home.out / "keep.txt").write_text("keep me")
    approval_id = queue_write(rt, agent, path="out/keep.txt")
    edit(rt, approval_id, skill="fs_delete", args={"path": "out/keep.txt"})
    assert_refused(rt, approval_id, "skill: the log says fs_write, the file says fs_delete")
    assert (rt.home.out / "keep.txt").read_text() == "keep me"
    replay_names(rt, approval_id, "skill: the log says fs_write, the file says fs_delete")


def test_a_rejected_request_set_back_to_pending_is_refused(rt, agent):
    approval_id = queue_write(rt, agent)
    rt.reject(approval_id, by="person@test", reason="no")
    edit(rt, approval_id, status="pending", resolved_by=None, resolved_at=None, note=None)
    assert rt.approvals.get(approval_id).status is ApprovalStatus.pending
    assert_refused(rt, approval_id, "status: the log says rejected, the file says pending")
    assert not (rt.home.out / "a.txt").exists()
    lines = replay_names(rt, approval_id, "set back from rejected to pending")
    assert f"approval {approval_id}: the log says rejected, state/approvals/ says pending" in lines


def test_an_expired_request_with_its_expiry_pushed_out_is_refused(rt, agent):
    save_config(rt.home, "trust.json", rt.trust_config().model_copy(update={"approval_ttl_hours": 0.0001}))
    approval_id = queue_write(rt, agent)
    time.sleep(0.4)  # past the 0.36 s ttl
    assert rt.list_approvals().items[0].status is ApprovalStatus.expired
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    edit(rt, approval_id, status="pending", expires_at=later, resolved_by=None, resolved_at=None)
    assert_refused(rt, approval_id, "status: the log says expired, the file says pending", "expires_at: the log says")
    assert not (rt.home.out / "a.txt").exists()
    replay_names(rt, approval_id, "expires_at")


def test_a_pending_request_with_its_expiry_pushed_out_is_refused(rt, agent):
    approval_id = queue_write(rt, agent)
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    edit(rt, approval_id, expires_at=later)
    assert_refused(rt, approval_id, "expires_at: the log says")
    assert not (rt.home.out / "a.txt").exists()


def test_an_approval_file_made_by_hand_is_refused(rt, agent):
    model = rt.approvals.get(queue_write(rt, agent))  # a real one, to copy its shape from
    now = datetime.now(UTC)
    planted = model.model_copy(update={"id": "apr-0badf00d", "args": {"path": "out/planted.txt", "content": "x"},
                                       "created_at": now, "expires_at": now + timedelta(hours=1)})
    (rt.home.approvals_dir / "apr-0badf00d.json").write_text(planted.model_dump_json(indent=2))
    assert rt.list_approvals().items[-1].id == "apr-0badf00d"  # listed, so a person could be fooled into it
    assert_refused(rt, "apr-0badf00d", "no approval.created entry")
    assert not (rt.home.out / "planted.txt").exists()
    lines = replay_names(rt, "apr-0badf00d", "no approval.created entry")
    assert "approval apr-0badf00d: the log says nothing, state/approvals/ says pending" in lines


def test_a_request_copied_under_another_name_is_refused(rt, agent):
    approval_id = queue_write(rt, agent)
    copy = rt.home.approvals_dir / "apr-0c0b1e55.json"
    copy.write_text((rt.home.approvals_dir / f"{approval_id}.json").read_text())
    with pytest.raises(ApprovalCorrupt, match=f"holds {approval_id}"):
        rt.approve("apr-0c0b1e55", by="person@test")
    assert not (rt.home.out / "a.txt").exists()
    assert any("apr-0c0b1e55.json" in line for line in replay_audit(rt).differences)


def test_a_tampered_request_cannot_be_rejected_either(rt, agent):
    approval_id = queue_write(rt, agent)
    edit(rt, approval_id, some_args={"path": "out/b.txt"})
    with pytest.raises(ApprovalTampered, match="path"):
        rt.reject(approval_id, by="person@test")
    assert rt.audit.tail(1)[0].event == "tampered"


def test_an_untouched_request_still_approves_and_replays_clean(rt, agent):
    approval_id = queue_write(rt, agent)
    created = rt.audit.tail(1, category="approval")[0]
    assert len(created.details["request_sha256"]) == 64 and set(created.details["arg_hashes"]) == {"path", "content", "overwrite"}
    approval, outcome = rt.approve(approval_id, by="person@test")
    assert outcome.status is CallStatus.ok and approval.status is ApprovalStatus.executed
    assert logged_request(rt.home.audit_dir, approval_id).events == ["created", "approved", "executed"]
    assert replay_audit(rt).differences == []
    assert rt.approve(approval_id) == (approval, None)  # the executed file still matches the log


def test_the_cli_refuses_a_tampered_approval_with_exit_1(rt, agent, mh):
    approval_id = queue_write(rt, agent)
    edit(rt, approval_id, some_args={"path": "out/b.txt"})
    rt.close()
    proc = mh("approvals", "approve", approval_id)
    assert proc.returncode == 1 and "not the request the audit log recorded" in proc.stderr and "fix:" in proc.stderr
    replay = mh("audit", "replay")
    assert replay.returncode == 1 and f"approval {approval_id} is tampered" in replay.stderr + replay.stdout
    assert not (rt.home.out / "b.txt").exists()


# -- large arguments ------------------------------------------------------------------------------


class NoteInput(BaseModel):
    text: str


def big_note_skill(seen: list[int]) -> Skill:
    def handler(ctx, args: NoteInput) -> dict:
        seen.append(len(args.text))
        return {"chars": len(args.text), "echo": args.text if len(args.text) > MAX_APPROVAL_BYTES // 2 else ""}

    return Skill(id="big_note", description="keeps a note (test)", input_model=NoteInput, risk=Risk.low, handler=handler)


def test_large_args_are_queued_listed_approved_and_run(rt, agent):
    seen: list[int] = []
    rt.skills.register(big_note_skill(seen))
    text = "x" * (3 << 20)  # 3 MiB: three times what a config-sized JSON read allows
    outcome = rt.call("big_note", {"text": text}, session=agent)
    assert outcome.status is CallStatus.queued
    listed = list_approvals(rt, ApprovalStatus.pending)
    assert [a.id for a in listed.items] == [outcome.approval_id] and listed.broken == []
    assert listed.items[0].args["text"] == text
    approval, result = rt.approve(outcome.approval_id, by="person@test")
    assert result.status is CallStatus.ok and seen == [len(text)]
    assert rt.approvals.get(outcome.approval_id).status is ApprovalStatus.executed
    assert replay_audit(rt).differences == []


def test_args_too_large_to_keep_are_refused_when_queued(rt, agent):
    seen: list[int] = []
    rt.skills.register(big_note_skill(seen))
    with pytest.raises(SkillInputError, match="more than an approval keeps") as refused:
        rt.call("big_note", {"text": "x" * (MAX_APPROVAL_BYTES + 1)}, session=agent)
    assert "smaller parts" in refused.value.fix
    assert list(rt.home.approvals_dir.glob("apr-*.json")) == []
    last = rt.audit.tail(1)[0]
    assert (last.category, last.event) == ("skill", "rejected") and "more than an approval keeps" in last.details["error"]
    assert seen == [] and replay_audit(rt).differences == []


def test_a_result_too_large_to_keep_is_summarised_in_the_file(rt, agent):
    seen: list[int] = []
    rt.skills.register(big_note_skill(seen))
    text = "y" * (MAX_APPROVAL_BYTES - (1 << 20))  # fits as args; args + an echo of it does not
    approval_id = rt.call("big_note", {"text": text}, session=agent).approval_id
    approval, outcome = rt.approve(approval_id, by="person@test")
    assert outcome.result["echo"] == text  # the caller gets the whole result
    stored = rt.approvals.get(approval_id)  # and the file stays readable
    assert stored.status is ApprovalStatus.executed and stored.result["echo"]["chars"] == len(text)


def append_filler(rt, count):
    """`count` chained entries of a realistic size, written in one go (appending them one by one
    would make this the slowest test in the file)."""
    seq, prev = rt.audit.head()
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    lines = []
    for i in range(count):
        prev, line = encode_entry(seq=seq + 1 + i, ts=ts, level="info", category="skill", event="result", actor="agent",
                                  details={"skill": "fs_read", "args": {"path": f"out/notes/{i}.md"}, "result": {"bytes": i}},
                                  prev=prev)
        lines.append(line + "\n")
    with open(sorted(rt.home.audit_dir.glob("????-??-??.ndjson"))[-1], "a") as handle:
        handle.write("".join(lines))


def test_finding_the_logs_account_in_a_100k_entry_log_is_quick(rt, agent):
    first = queue_write(rt, agent)  # the oldest entry worth finding: the whole log is read back
    append_filler(rt, 100_000)
    last = queue_write(rt, agent, path="out/b.txt")
    started = time.perf_counter()
    assert logged_request(rt.home.audit_dir, first).events == ["created"]
    worst = time.perf_counter() - started
    started = time.perf_counter()
    assert logged_request(rt.home.audit_dir, "apr-00000000").created is None  # never queued: read to the start
    missing = time.perf_counter() - started
    started = time.perf_counter()
    rt.approve(last, by="person@test")
    approving = time.perf_counter() - started
    print(f"\nlog account in a 100k-entry log: oldest {worst * 1000:.1f} ms, absent {missing * 1000:.1f} ms, "
          f"approve and run {approving * 1000:.1f} ms")
    assert worst < 1.0 and missing < 1.0 and approving < 1.0, (worst, missing, approving)
