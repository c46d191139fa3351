"""Checking the chain and the signed checkpoints. Read-only; stops at the first bad line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..keys import Verifier
from .format import ENTRY_KEYS, GENESIS, checkpoint_message, hashed_body
from .log import CHECKPOINTS, Checkpoint, log_files


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    reason: str  # edited | inserted | deleted | reordered | truncated | bad signature | malformed
    detail: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}: {self.detail}"


@dataclass
class VerifyReport:
    entries: int = 0
    files: int = 0
    checkpoints: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class _Line:
    file: str
    number: int
    raw: bytes
    entry: dict | None
    error: str | None


def _lines(files: list[Path], report: VerifyReport) -> Iterator[_Line]:
    last = files[-1] if files else None
    for path in files:
        data = path.read_bytes()
        lines = data.split(b"\n")
        if lines[-1]:
            # No newline at the end: a write torn by a crash. Never part of the chain.
            if path == last:
                report.warnings.append(
                    f"{path.name}:{len(lines)}: torn last line ({len(lines[-1])} bytes) from an "
                    "interrupted write; the next append moves it to logs/audit/torn/"
                )
            else:
                yield _Line(path.name, len(lines), lines[-1], None, "a torn line in the middle of the log")
        for number, raw in enumerate(lines[:-1], start=1):
            yield _Line(path.name, number, raw, *_decode(raw))


def _decode(raw: bytes) -> tuple[dict | None, str | None]:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None, "not valid JSON"
    if not isinstance(entry, dict) or entry.keys() != ENTRY_KEYS:
        return None, "not an audit entry (wrong fields)"
    if not isinstance(entry["seq"], int) or not isinstance(entry["hash"], str):
        return None, "not an audit entry (wrong field types)"
    body = hashed_body(raw)
    if body is None or hashlib.sha256(body).hexdigest() != entry["hash"]:
        return None, "content does not match its hash"
    return entry, None


def _read_checkpoints(path: Path, verifier: Verifier, report: VerifyReport) -> dict[int, tuple[str, int]]:
    """seq -> (hash, line in checkpoints.ndjson) for every well-signed checkpoint."""
    signed: dict[int, tuple[str, int]] = {}
    if not path.exists():
        return signed
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            cp = Checkpoint(**json.loads(raw))
        except (ValueError, TypeError):
            report.problem = Problem(CHECKPOINTS, number, "malformed", "not a checkpoint record")
            return signed
        if cp.key_id != verifier.key_id:
            report.problem = Problem(
                CHECKPOINTS, number, "bad signature", f"signed by key {cp.key_id}, this home's key is {verifier.key_id}"
            )
            return signed
        if not verifier.verify(checkpoint_message(cp.seq, cp.hash, cp.ts, cp.key_id), cp.sig):
            report.problem = Problem(CHECKPOINTS, number, "bad signature", f"checkpoint at seq {cp.seq} does not verify")
            return signed
        signed[cp.seq] = (cp.hash, number)
        report.checkpoints += 1
    return signed


def verify(directory: Path, verifier: Verifier) -> VerifyReport:
    """Walk the whole chain. The report's `problem` names the first bad file:line and why."""
    report = VerifyReport()
    files = log_files(directory)
    report.files = len(files)
    signed = _read_checkpoints(directory / CHECKPOINTS, verifier, report)
    signature_problem, report.problem = report.problem, None

    expected_seq, prev_hash = 1, GENESIS
    last_where = ("(no log)", 0)
    stream = _lines(files, report)
    pending: list[_Line] = []

    def take() -> _Line | None:
        return pending.pop() if pending else next(stream, None)

    def peek() -> _Line | None:
        nxt = take()
        if nxt is not None:
            pending.append(nxt)
        return nxt

    while (line := take()) is not None:
        entry = line.entry
        if entry is None:
            reason = "edited" if line.error == "content does not match its hash" else "malformed"
            report.problem = Problem(line.file, line.number, reason, line.error or "")
            return report
        seq = entry["seq"]
        if seq != expected_seq:
            report.problem = _sequence_problem(line, expected_seq, prev_hash, peek(), last_where)
            return report
        if entry["prev"] != prev_hash:
            report.problem = Problem(
                *last_where, "edited",
                f"entry seq {seq - 1} was rewritten: the next entry (seq {seq}) chains to another hash",
            )
            return report
        if seq in signed and signed[seq][0] != entry["hash"]:
            report.problem = Problem(
                line.file, line.number, "edited",
                f"entry seq {seq} differs from the signed checkpoint (checkpoints.ndjson:{signed[seq][1]})",
            )
            return report
        expected_seq, prev_hash = seq + 1, entry["hash"]
        last_where = (line.file, line.number)
        report.entries += 1

    report.head_seq, report.head_hash = expected_seq - 1, prev_hash
    beyond = [seq for seq in signed if seq > report.head_seq]
    if beyond:
        report.problem = Problem(
            *last_where, "truncated",
            f"the log ends at seq {report.head_seq} but a signed checkpoint covers seq {max(beyond)}",
        )
    elif signature_problem is not None:
        report.problem = signature_problem
    return report


def _sequence_problem(
    line: _Line, expected: int, prev_hash: str, following: _Line | None, last_where: tuple[str, int]
) -> Problem:
    seq = line.entry["seq"]  # type: ignore[index]
    nxt = following.entry if following is not None else None
    if seq > expected:
        if nxt is not None and nxt["seq"] == expected:
            return Problem(line.file, line.number, "reordered", f"seq {seq} stands before seq {expected}")
        missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
        return Problem(line.file, line.number, "deleted", f"{missing} missing before this entry")
    # The same seq again: one of the two lines was inserted. The line the chain continues from is
    # the real one.
    if seq == expected - 1 and nxt is not None and nxt["prev"] == line.entry["hash"]:  # type: ignore[index]
        return Problem(*last_where, "inserted", f"a second entry with seq {seq} stands before this line's twin")
    return Problem(line.file, line.number, "inserted", f"seq {seq} appears again (expected seq {expected})")
