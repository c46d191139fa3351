"""Checking the chain and the signed checkpoints. Read-only; stops at the first bad line."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..keys import Verifier
from .format import ENTRY_KEYS, GENESIS, HASH_FIELD, HASH_SPAN, checkpoint_message, hashed_body
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


def _decode(raw: bytes) -> tuple[dict | None, str | None]:
    """(entry, None) for a sound line, (None, why) otherwise. The slow path: only near a problem."""
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
    chunks = [_split(path, path == files[-1], report) for path in files]

    def following(index: int, number: int) -> dict | None:
        """The entry after line `number` of chunk `index`, across files (for classifying a gap)."""
        for _, lines in chunks[index:]:
            if isinstance(lines, Problem):
                return None
            if number < len(lines):
                return _decode(lines[number])[0]
            number = 0
        return None

    expected, prev_hash = 1, GENESIS
    last_where = ("(no log)", 0)
    sha256, loads = hashlib.sha256, json.loads
    for index, (name, lines) in enumerate(chunks):
        if isinstance(lines, Problem):
            report.problem = lines
            return report
        for number, raw in enumerate(lines, start=1):
            # The fast path is inline on purpose: it runs once per entry of the whole log.
            try:
                entry = loads(raw)
                seq, digest, prev = entry["seq"], entry["hash"], entry["prev"]
            except (ValueError, KeyError, TypeError):
                entry = None
            at = raw.rfind(HASH_FIELD)
            if entry is None or type(seq) is not int or at < 0 or sha256(raw[:at] + raw[at + HASH_SPAN :]).hexdigest() != digest:
                entry, why = _decode(raw)
                reason = "edited" if why == "content does not match its hash" else "malformed"
                report.problem = Problem(name, number, reason, why or "")
                return report
            if seq != expected:
                report.problem = _sequence_problem(
                    name, number, entry, expected, following(index, number), last_where
                )
                return report
            if prev != prev_hash:
                report.problem = Problem(
                    *last_where, "edited",
                    f"entry seq {seq - 1} was rewritten: the next entry (seq {seq}) chains to another hash",
                )
                return report
            if seq in signed and signed[seq][0] != digest:
                report.problem = Problem(
                    name, number, "edited",
                    f"entry seq {seq} differs from the signed checkpoint (checkpoints.ndjson:{signed[seq][1]})",
                )
                return report
            expected, prev_hash = seq + 1, digest
            last_where = (name, number)
    report.entries = expected - 1
    report.head_seq, report.head_hash = expected - 1, prev_hash
    beyond = [seq for seq in signed if seq > report.head_seq]
    if beyond:
        report.problem = Problem(
            *last_where, "truncated",
            f"the log ends at seq {report.head_seq} but a signed checkpoint covers seq {max(beyond)}",
        )
    elif signature_problem is not None:
        report.problem = signature_problem
    return report


def _split(path: Path, is_last: bool, report: VerifyReport) -> tuple[str, list[bytes] | Problem]:
    """A file's complete lines. A torn last line of the last file is a warning, not part of the chain."""
    lines = path.read_bytes().split(b"\n")
    if lines[-1]:
        if not is_last:
            return path.name, Problem(path.name, len(lines), "malformed", "a torn line in the middle of the log")
        report.warnings.append(
            f"{path.name}:{len(lines)}: torn last line ({len(lines[-1])} bytes) from an "
            "interrupted write; the next append moves it to logs/audit/torn/"
        )
    return path.name, lines[:-1]


def _sequence_problem(
    name: str, number: int, entry: dict, expected: int, nxt: dict | None, last_where: tuple[str, int]
) -> Problem:
    seq = entry["seq"]
    if seq > expected:
        if nxt is not None and nxt["seq"] == expected:
            return Problem(name, number, "reordered", f"seq {seq} stands before seq {expected}")
        missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
        return Problem(name, number, "deleted", f"{missing} missing before this entry")
    # The same seq again: one of the two lines was inserted. The line the chain continues from is
    # the real one.
    if seq == expected - 1 and nxt is not None and nxt["prev"] == entry["hash"]:
        return Problem(*last_where, "inserted", f"a second entry with seq {seq} stands before this line's twin")
    return Problem(name, number, "inserted", f"seq {seq} appears again (expected seq {expected})")
