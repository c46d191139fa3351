import json
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from runtime.audit import GENESIS, AuditLog, verify
from runtime.audit.format import encode_entry
from runtime.errors import AuditError
from runtime.keys import Signer

SIGNER = Signer(SigningKey(bytes(range(32))))  # fixed, so spawned writers share it


def make_log(directory: Path, **kw) -> AuditLog:
    kw.setdefault("checkpoint_every", 1000)
    return AuditLog(directory, signer=SIGNER, **kw)


def filled(directory: Path, count: int, **kw) -> AuditLog:
    log = make_log(directory, **kw)
    for i in range(count):
        log.append("test", "tick", details={"i": i})
    return log


def lines_of(directory: Path) -> tuple[Path, list[bytes]]:
    path = sorted(directory.glob("????-??-??.ndjson"))[-1]
    return path, path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def check(directory: Path):
    return verify(directory, SIGNER.verifier)


def reforge(line: bytes, **changes) -> bytes:
    """An attacker who knows the format: change fields and recompute the entry's own hash."""
    entry = json.loads(line)
    entry.update(changes)
    entry.pop("hash")
    _, text = encode_entry(**entry)
    return (text + "\n").encode()


def test_a_fresh_chain_verifies(tmp_path):
    log = filled(tmp_path, 10)
    log.close()
    report = check(tmp_path)
    assert report.ok and report.entries == 10 and report.head_seq == 10
    assert report.checkpoints == 1  # the one close() wrote


def test_lines_are_canonical_json_with_the_documented_fields(tmp_path):
    log = filled(tmp_path, 2)
    _, lines = lines_of(tmp_path)
    first = json.loads(lines[0])
    assert set(first) == {"seq", "ts", "level", "category", "event", "actor", "details", "prev", "hash"}
    assert first["prev"] == GENESIS and first["seq"] == 1
    assert json.loads(lines[1])["prev"] == first["hash"]
    assert lines[0].decode().rstrip("\n") == json.dumps(first, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first["ts"].endswith("Z") and len(first["ts"].split(".")[1]) == 7  # microseconds + Z
    log.close()


def test_edited_line_is_named(tmp_path):
    filled(tmp_path, 5).close()
    path, lines = lines_of(tmp_path)
    lines[2] = lines[2].replace(b'"i":2', b'"i":7')
    rewrite(path, lines)
    report = check(tmp_path)
    assert not report.ok
    assert (report.problem.file, report.problem.line, report.problem.reason) == (path.name, 3, "edited")


def test_edited_and_rehashed_line_is_caught_by_the_next_link(tmp_path):
    filled(tmp_path, 5, checkpoint_every=10**9).close()
    path, lines = lines_of(tmp_path)
    lines[1] = reforge(lines[1], details={"i": 99})
    rewrite(path, lines)
    problem = check(tmp_path).problem
    assert (problem.line, problem.reason) == (2, "edited")


def test_rewritten_tail_is_caught_by_the_signed_checkpoint(tmp_path):
    log = filled(tmp_path, 5)
    log.seal()
    log.close()
    path, lines = lines_of(tmp_path)
    lines[4] = reforge(lines[4], details={"i": 99})  # the last line: no next link to betray it
    rewrite(path, lines)
    problem = check(tmp_path).problem
    assert (problem.line, problem.reason) == (5, "edited")
    assert "checkpoint" in problem.detail


def test_deleted_line(tmp_path):
    filled(tmp_path, 5).close()
    path, lines = lines_of(tmp_path)
    del lines[2]
    rewrite(path, lines)
    problem = check(tmp_path).problem
    assert (problem.line, problem.reason) == (3, "deleted")
    assert "seq 3" in problem.detail


def test_reordered_lines(tmp_path):
    filled(tmp_path, 5).close()
    path, lines = lines_of(tmp_path)
    lines[1], lines[2] = lines[2], lines[1]
    rewrite(path, lines)
    problem = check(tmp_path).problem
    assert (problem.line, problem.reason) == (2, "reordered")


def test_inserted_forged_line(tmp_path):
    filled(tmp_path, 5).close()
    path, lines = lines_of(tmp_path)
    forged = reforge(lines[2], details={"forged": True})  # same seq and prev as the real line 3
    lines.insert(2, forged)
    rewrite(path, lines)
    problem = check(tmp_path).problem
    assert (problem.line, problem.reason) == (3, "inserted")


def test_inserted_copy_of_an_earlier_line(tmp_path):
    filled(tmp_path, 5).close()
    path, lines = lines_of(tmp_path)
    lines.insert(4, lines[1])
    rewrite(path, lines)
    problem = check(tmp_path).problem
    assert (problem.line, problem.reason) == (5, "inserted")


def test_truncated_behind_a_checkpoint(tmp_path):
    log = filled(tmp_path, 5)
    log.seal()
    log.close()
    path, lines = lines_of(tmp_path)
    rewrite(path, lines[:3])
    problem = check(tmp_path).problem
    assert (problem.line, problem.reason) == (3, "truncated")
    assert "seq 5" in problem.detail


def test_bad_signature_and_foreign_key(tmp_path):
    log = filled(tmp_path, 3)
    log.seal()
    log.close()
    cps = tmp_path / "checkpoints.ndjson"
    original = cps.read_bytes()
    record = json.loads(original.splitlines()[0])
    record["sig"] = ("0" if record["sig"][0] != "0" else "1") + record["sig"][1:]
    cps.write_text(json.dumps(record) + "\n")
    problem = check(tmp_path).problem
    assert (problem.file, problem.line, problem.reason) == ("checkpoints.ndjson", 1, "bad signature")

    other = AuditLog(tmp_path / "other", signer=Signer(SigningKey.generate()))
    cps.write_bytes(original)
    forged = make_log(tmp_path)  # same chain, but we will re-sign with another key
    forged.signer = Signer(SigningKey.generate())
    forged.seal()
    forged.close()
    other.close()
    problem = check(tmp_path).problem
    assert (problem.line, problem.reason) == (2, "bad signature") and "signed by key" in problem.detail


def test_malformed_line(tmp_path):
    filled(tmp_path, 3).close()
    path, lines = lines_of(tmp_path)
    lines[1] = b"this is not json\n"
    rewrite(path, lines)
    problem = check(tmp_path).problem
    assert (problem.line, problem.reason) == (2, "malformed")


def test_torn_last_line_is_repaired_without_loss(tmp_path):
    filled(tmp_path, 3).close()
    path, _ = lines_of(tmp_path)
    with open(path, "ab") as handle:
        handle.write(b'{"actor":"system","category":"te')  # a crash mid-write
    report = check(tmp_path)
    assert report.ok and report.entries == 3 and "torn" in report.warnings[0]

    log = make_log(tmp_path)
    log.append("test", "after-crash")
    log.close()
    report = check(tmp_path)
    assert report.ok and report.entries == 5 and not report.warnings
    events = [e.event for e in log.entries()]
    assert events[-2:] == ["torn_line_repaired", "after-crash"]
    (kept,) = (tmp_path / "torn").iterdir()
    assert kept.read_bytes() == b'{"actor":"system","category":"te'


def test_a_corrupt_head_refuses_to_extend_the_chain(tmp_path):
    filled(tmp_path, 2).close()
    path, lines = lines_of(tmp_path)
    lines[-1] = b"garbage\n"
    rewrite(path, lines)
    with pytest.raises(AuditError, match=f"{path.name}:2"):
        make_log(tmp_path).append("test", "x")


def test_chain_runs_across_days(tmp_path):
    now = {"t": datetime(2026, 11, 20, 23, 59, tzinfo=UTC).timestamp()}
    log = make_log(tmp_path, clock=lambda: now["t"])
    log.append("test", "a")
    log.append("test", "b")
    now["t"] += 120  # past midnight
    log.append("test", "c")
    now["t"] -= 3 * 86400  # the clock steps back: stay in the newest file
    log.append("test", "d")
    log.close()
    files = sorted(p.name for p in tmp_path.glob("*.ndjson") if p.name != "checkpoints.ndjson")
    assert files == ["2026-11-20.ndjson", "2026-11-21.ndjson"]
    assert len((tmp_path / "2026-11-21.ndjson").read_bytes().splitlines()) == 2
    assert check(tmp_path).ok

    (tmp_path / "2026-11-20.ndjson").unlink()  # a whole day deleted
    problem = check(tmp_path).problem
    assert (problem.file, problem.line, problem.reason) == ("2026-11-21.ndjson", 1, "deleted")


def test_secrets_are_redacted(tmp_path):
    log = make_log(tmp_path)
    log.append("test", "secrets", details={
        "api_key": "abc123",
        "password": "hunter2",
        "headers": {"Authorization": "Bearer abcdefghijklmnop"},
        "note": "token ghp_0123456789abcdefghij0123456789 and sk-abcdefghijklmnopqrstuv in text",
        "url": "postgres://user:s3cret@localhost/db",
        "pem": "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----",
        "max_tokens": 128,
        "path": "out/a.txt",
    })
    log.close()
    text = "".join(p.read_text() for p in tmp_path.glob("????-*.ndjson"))
    for secret in ("abc123", "hunter2", "abcdefghijklmnop", "ghp_0123", "sk-abcdef", "s3cret", "MIIEv"):
        assert secret not in text
    assert '"max_tokens":128' in text and "out/a.txt" in text


def test_checkpoint_every_n_entries(tmp_path):
    log = filled(tmp_path, 25, checkpoint_every=10)
    assert [cp.seq for cp in log.checkpoints()] == [10, 20]
    log.close()
    assert [cp.seq for cp in log.checkpoints()] == [10, 20, 25]


def _appender(directory: str, count: int, name: str) -> None:
    log = make_log(Path(directory), checkpoint_every=50)
    for i in range(count):
        log.append("test", "tick", details={"writer": name, "i": i})
    log.close()


def test_four_processes_append_one_valid_chain(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_appender, args=(str(tmp_path), 300, f"w{i}")) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    report = check(tmp_path)
    assert report.ok, report.problem
    assert report.entries == 1200
    seen = {(e.details["writer"], e.details["i"]) for e in make_log(tmp_path).entries()}
    assert len(seen) == 1200


def test_tail_filters_and_orders(tmp_path):
    log = make_log(tmp_path)
    for i in range(10):
        log.append("even" if i % 2 == 0 else "odd", "tick", details={"i": i}, level="warning" if i == 9 else "info")
    assert [e.details["i"] for e in log.tail(3)] == [7, 8, 9]
    assert [e.details["i"] for e in log.tail(2, category="even")] == [6, 8]
    assert [e.details["i"] for e in log.tail(5, level="warning")] == [9]
    log.close()


def test_a_lone_surrogate_is_written_escaped_and_the_chain_verifies(rt):
    """A file name that is not UTF-8 reaches the log as a lone surrogate; it must not crash it."""
    assert rt.call("fs_write", {"path": "out/\udcff.txt", "content": "x"}).status == "ok"
    rt.audit.seal()
    assert rt.verify_audit().ok
    written = [e for e in rt.audit.entries() if e.category == "skill" and e.event == "result"]
    assert written[-1].details["args"]["path"] == "out/\udcff.txt"
