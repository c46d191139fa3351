"""Issue 13, item 3: rewrites of the audit log by someone who can write the home's files, each named.

The attacker here knows the format and recomputes hashes; where it matters they also hold the key
(it is in state/keys/, inside the home). The witness outside the home ($MH_WITNESS_DIR, a tmp folder
per test: see conftest) is what they did not rewrite.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from nacl.signing import SigningKey

from runtime import Runtime
from runtime.audit import AuditLog, Witness, verify
from runtime.audit.format import checkpoint_message, encode_entry, rotation_message
from runtime.keys import Signer, load_signer

from .conftest import ROOT, run_mh


def fill(rt: Runtime, count: int) -> None:
    for i in range(count):
        rt.audit.append("test", "tick", details={"i": i})
    rt.seal_audit()


def day_file(rt: Runtime) -> Path:
    return sorted(rt.home.audit_dir.glob("????-??-??.ndjson"))[-1]


def entries_of(rt: Runtime) -> list[dict]:
    return [json.loads(line) for line in day_file(rt).read_bytes().splitlines()]


def write_chain(rt: Runtime, entries: list[dict]) -> None:
    """An attacker who knows the format: renumber, rechain and rehash every entry."""
    prev, lines = "0" * 64, []
    for seq, entry in enumerate(entries, start=1):
        fields = {k: v for k, v in entry.items() if k != "hash"}
        digest, line = encode_entry(**{**fields, "seq": seq, "prev": prev})
        lines.append(line + "\n")
        prev = digest
    day_file(rt).write_text("".join(lines))


def resign(rt: Runtime, signer: Signer, seqs: list[int]) -> None:
    """Checkpoints at these seqs of the current files, signed with `signer` (the attacker holds the key)."""
    by_seq = {e["seq"]: e["hash"] for e in entries_of(rt)}
    records = []
    for seq in seqs:
        ts = "2026-01-01T00:00:00.000000Z"
        sig = signer.sign(checkpoint_message(seq, by_seq[seq], ts, signer.key_id))
        records.append(json.dumps({"hash": by_seq[seq], "key_id": signer.key_id, "seq": seq, "sig": sig, "ts": ts}))
    (rt.home.audit_dir / "checkpoints.ndjson").write_text("".join(r + "\n" for r in records))


def problem(rt: Runtime) -> tuple[str, str]:
    report = rt.verify_audit()
    assert not report.ok, f"the rewrite went unseen: {report}"
    return report.problem.reason, report.problem.detail


def test_deleted_checkpoints_and_a_recomputed_chain_are_named(rt):
    fill(rt, 10)
    (rt.home.audit_dir / "checkpoints.ndjson").unlink()
    entries = entries_of(rt)
    entries[4]["details"] = {"i": 99}
    write_chain(rt, entries)
    reason, detail = problem(rt)
    assert reason == "rewritten" and "seq 11" in detail


def test_deleted_checkpoints_alone_are_named(rt):
    fill(rt, 10)
    (rt.home.audit_dir / "checkpoints.ndjson").unlink()
    reason, detail = problem(rt)
    assert reason == "checkpoints deleted" and "seq 11" in detail


def test_rewritten_chain_resigned_with_the_home_key_is_named(rt):
    fill(rt, 10)
    entries = entries_of(rt)
    entries[4]["details"] = {"i": 99}
    write_chain(rt, entries)
    resign(rt, load_signer(rt.home), [1, 11])  # the key is in the home: signatures prove nothing here
    reason, _ = problem(rt)
    assert reason == "rewritten"


def test_a_cut_tail_with_its_checkpoints_is_named(rt):
    fill(rt, 10)
    fill(rt, 5)  # sealed at seq 16
    path = day_file(rt)
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:13]))
    resign(rt, load_signer(rt.home), [1, 11])
    reason, detail = problem(rt)
    assert reason == "truncated" and "witness saw seq 16" in detail and "seq 14..16 were cut" in detail


def test_a_rollback_to_an_early_copy_is_named(rt, tmp_path):
    fill(rt, 10)
    shutil.copytree(rt.home.audit_dir, tmp_path / "copy")
    fill(rt, 5)
    rt.close()
    shutil.rmtree(rt.home.audit_dir)
    shutil.copytree(tmp_path / "copy", rt.home.audit_dir)
    reason, detail = problem(rt)
    assert reason == "rolled back" and "back at seq 11" in detail and "witness saw seq 16" in detail


def test_every_day_file_deleted_is_named(home):
    run_mh(home, "init", check=True)
    run_mh(home, "audit", "seal", check=True)
    for path in (home / "logs" / "audit").glob("*.ndjson"):
        path.unlink()
    proc = run_mh(home, "audit", "verify")
    assert proc.returncode == 1 and "log deleted" in proc.stderr and "ok: 0 entries" not in proc.stdout


def test_a_deleted_log_started_again_is_named(rt):
    fill(rt, 3)
    rt.close()
    for path in rt.home.audit_dir.glob("*.ndjson"):
        path.unlink()
    with Runtime(rt.home.root) as later:
        later.audit.append("test", "fresh start")
    reason, _ = problem(rt)
    assert reason == "log replaced"


def test_a_replaced_key_pair_is_named(rt):
    fill(rt, 5)
    pinned = load_signer(rt.home).key_id
    forger = Signer(SigningKey.generate())
    (rt.home.keys_dir / "signing.key").write_text(bytes(forger.signing_key).hex() + "\n")
    rt.home.public_key_file.write_text(bytes(forger.signing_key.verify_key).hex() + "\n")
    resign(rt, forger, [1, 6])
    reason, detail = problem(rt)
    assert reason == "re-keyed" and forger.key_id in detail and pinned in detail


def test_a_replaced_key_pair_with_a_rewritten_genesis_is_named_by_the_witness(rt):
    fill(rt, 5)
    pinned = load_signer(rt.home).key_id
    forger = Signer(SigningKey.generate())
    (rt.home.keys_dir / "signing.key").write_text(bytes(forger.signing_key).hex() + "\n")
    rt.home.public_key_file.write_text(bytes(forger.signing_key.verify_key).hex() + "\n")
    entries = entries_of(rt)
    entries[0]["details"].update(audit_key=forger.key_id, public_key=bytes(forger.signing_key.verify_key).hex())
    write_chain(rt, entries)
    resign(rt, forger, [1, 6])
    reason, detail = problem(rt)
    assert reason == "re-keyed" and f"the witness saw key {pinned}" in detail


def test_a_key_rotation_signed_by_the_old_key_verifies_and_a_forged_one_is_named(rt):
    fill(rt, 3)
    new = Signer(SigningKey.generate())
    rt.audit.rotate_key(new)
    rt.home.public_key_file.write_text(bytes(new.signing_key.verify_key).hex() + "\n")
    fill(rt, 3)
    report = rt.verify_audit()
    assert report.ok, report.problem
    assert report.key_id == new.key_id and Witness(rt.home.root).read().key_id == new.key_id

    forged = Signer(SigningKey.generate())
    public = bytes(forged.signing_key.verify_key).hex()
    head = entries_of(rt)[-1]["hash"]
    # Signed by the new key itself, not by the key it replaces.
    details = {"from": new.key_id, "to": forged.key_id, "public_key": public,
               "sig": forged.sign(rotation_message(head, new.key_id, public))}
    rt.audit.append("audit", "key_rotated", details=details)
    reason, detail = problem(rt)
    assert reason == "re-keyed" and "not signed by the key it replaces" in detail


def test_a_forged_entry_sealed_by_a_later_honest_process_is_flagged(rt):
    """A line added by hand with the right hash, then covered by an honest checkpoint: the chain and
    the witness cannot tell it from a real entry, but the next process finds it unsealed with no
    writer alive, flags it before sealing, and verify names it."""
    fill(rt, 3)
    rt.close()
    last = entries_of(rt)[-1]
    _, line = encode_entry(seq=last["seq"] + 1, ts=last["ts"], level="security", category="trust", event="set",
                           actor="person@cli", details={"from": "suggest", "to": "autonomous"}, prev=last["hash"])
    with open(day_file(rt), "a") as handle:
        handle.write(line + "\n")
    with Runtime(rt.home.root) as honest:
        honest.audit.append("test", "honest")
    report = Runtime(rt.home.root).verify_audit()
    assert report.ok  # what cannot be told apart is said as a warning, not claimed as an attack
    (flag,) = [w for w in report.warnings if "sealed by a later process" in w]
    assert "seq 5..5" in flag and "trust.set person@cli" in flag


def test_entries_with_no_checkpoint_fail(rt):
    fill(rt, 3)
    (rt.home.audit_dir / "checkpoints.ndjson").unlink()
    Witness(rt.home.root).path.unlink()  # a new machine: nothing outside the home to compare with
    report = rt.verify_audit()
    assert not report.ok and report.problem.reason == "no checkpoint"
    assert "4 entries with no checkpoint" in report.problem.detail
    assert any("no witness for this home yet" in w for w in report.warnings)


def test_a_home_without_a_witness_warns_and_the_next_seal_creates_one(rt):
    fill(rt, 3)
    Witness(rt.home.root).path.unlink()
    report = rt.verify_audit()
    assert report.ok and any("no witness for this home yet" in w for w in report.warnings)
    rt.audit.append("test", "more")
    rt.seal_audit()
    assert Witness(rt.home.root).read().seq == 5
    assert not rt.verify_audit().warnings


def test_the_witness_keeps_its_evidence_when_the_log_disagrees(rt):
    fill(rt, 5)
    saw = Witness(rt.home.root).read()
    entries = entries_of(rt)
    entries[2]["details"] = {"i": 42}
    write_chain(rt, entries)
    resign(rt, load_signer(rt.home), [1, 6])
    with Runtime(rt.home.root) as later:  # an honest process seals over the rewrite...
        later.audit.append("test", "after")
    assert Witness(rt.home.root).read() == saw  # ...and the witness does not move
    assert problem(rt)[0] == "rewritten"


WRITER = """
import sys, time
from runtime import Runtime
rt = Runtime(sys.argv[1])
for i in range(5):
    rt.audit.append("test", "from the writer", details={"i": i})
print("ready", flush=True)
time.sleep(60)
"""


def start_writer(home: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(home)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ})
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_sigkilled_writers_tail_is_reported_then_sealed_and_flagged(home):
    with Runtime(home) as rt:
        rt.init()
    writer = start_writer(home)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    report = Runtime(home).verify_audit()
    assert report.ok
    assert any("5 entries after the last checkpoint (seq 2..6), written by a process that did not close" in w
               for w in report.warnings)

    with Runtime(home) as next_process:
        next_process.audit.append("test", "next")
    report = Runtime(home).verify_audit()
    assert report.ok and not any("after the last checkpoint" in w for w in report.warnings)
    (flag,) = [w for w in report.warnings if "sealed by a later process" in w]
    assert "seq 2..6" in flag
    assert Witness(home).read().seq == report.head_seq


def test_a_sigterm_seals_before_the_process_ends(home):
    with Runtime(home) as rt:
        rt.init()
    writer = start_writer(home)
    writer.send_signal(signal.SIGTERM)
    assert writer.wait(timeout=10) == -signal.SIGTERM
    report = Runtime(home).verify_audit()
    assert report.ok and not report.warnings, report.warnings
    assert Witness(home).read().seq == report.head_seq == 6


def test_an_idle_process_seals_within_the_interval(tmp_path):
    log = AuditLog(tmp_path, signer=Signer(SigningKey.generate()), seal_interval_s=0.2)
    log.append("test", "lonely")
    deadline = time.monotonic() + 5
    while not log.checkpoints() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [cp.seq for cp in log.checkpoints()] == [1]
    assert verify(tmp_path, log.signer.verifier).ok
    log.close()


def test_verify_from_the_cli_names_the_problem_and_exits_1(home):
    run_mh(home, "init", check=True)
    (home / "logs" / "audit" / "checkpoints.ndjson").unlink()
    proc = run_mh(home, "audit", "verify")
    assert proc.returncode == 1
    assert "FAILED logs/audit/checkpoints.ndjson: checkpoints deleted: no checkpoint at seq 1" in proc.stderr


def test_a_line_forged_while_a_long_lived_writer_runs_is_flagged(rt):
    """An API server, a service or the console keeps its log open: a line added by hand meanwhile is
    flagged by that writer before its next checkpoint covers it."""
    fill(rt, 3)
    rt.audit.seal()
    last = entries_of(rt)[-1]
    _, line = encode_entry(seq=last["seq"] + 1, ts=last["ts"], level="security", category="trust", event="set",
                           actor="person@cli", details={"from": "suggest", "to": "bounded_auto"}, prev=last["hash"])
    with open(day_file(rt), "a") as handle:
        handle.write(line + "\n")
    rt.audit.append("test", "after")  # the same long-lived writer goes on
    flags = [e for e in rt.audit.entries() if e.category == "audit" and e.event == "unsealed_tail"]
    assert [(f.details["from"], f.details["to"]) for f in flags] == [(last["seq"] + 1, last["seq"] + 1)]
    assert "trust.set person@cli" in flags[0].details["entries"][0]


def test_entries_of_another_live_writer_are_not_flagged(rt):
    fill(rt, 2)
    other = Runtime(rt.home.root)
    other.audit.append("test", "from another process's log")  # a second writer, still open
    rt.audit.append("test", "mine")
    other.close()
    rt.audit.append("test", "mine again")
    assert not [e for e in rt.audit.entries() if e.event == "unsealed_tail"]
