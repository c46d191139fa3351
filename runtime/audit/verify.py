"""Checking the chain, the pinned key, the signed checkpoints and the witness. Read-only; stops at the
first bad line."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from nacl.signing import VerifyKey

from ..keys import Verifier
from .format import ENTRY_KEYS, GENESIS, HASH_FIELD, HASH_SPAN, checkpoint_message, hashed_body, rotation_message
from .log import CHECKPOINTS, Checkpoint, log_files, other_writers
from .witness import WitnessRecord


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    # edited | inserted | deleted | reordered | truncated | bad signature | malformed | re-keyed |
    # rewritten | rolled back | log deleted | log replaced | checkpoints deleted | no checkpoint
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}: {self.detail}" if self.line else f"{self.file}: {self.reason}: {self.detail}"


@dataclass
class VerifyReport:
    entries: int = 0
    files: int = 0
    checkpoints: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)
    key_id: str | None = None  # the key the log pins now (genesis, then rotations); None: not pinned
    home_id: str | None = None  # from the genesis entry

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class _Pins:
    """The keys in force along the chain: from the genesis entry (else the given key), then rotations."""

    keys: list[tuple[int, Verifier, str]]  # (in force after this seq, key, where it was pinned)
    problem: Problem | None = None

    def at(self, seq: int) -> Verifier:
        return next(key for after, key, _ in reversed(self.keys) if after < seq)

    def rotate(self, entry: dict, where: tuple[str, int]) -> None:
        details = entry["details"] if isinstance(entry["details"], dict) else {}
        old = self.keys[-1][1]
        try:
            new = Verifier(VerifyKey(bytes.fromhex(details["public_key"])))
            signed = old.verify(rotation_message(entry["prev"], old.key_id, details["public_key"]), details["sig"])
        except (KeyError, TypeError, ValueError):
            signed = False
        if not signed:
            self.problem = self.problem or Problem(
                *where, "re-keyed", f"the key rotation at seq {entry['seq']} is not signed by the key it replaces ({old.key_id})"
            )
            return
        self.keys.append((entry["seq"], new, f"rotation at seq {entry['seq']}"))


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


def _read_checkpoints(path: Path, report: VerifyReport) -> list[tuple[Checkpoint, int]]:
    """Every checkpoint record with its line; signatures are checked once the keys are known."""
    records: list[tuple[Checkpoint, int]] = []
    if not path.exists():
        return records
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            records.append((Checkpoint(**json.loads(raw)), number))
        except (ValueError, TypeError):
            report.problem = Problem(CHECKPOINTS, number, "malformed", "not a checkpoint record")
            return records
    return records


def _check_signatures(records: list[tuple[Checkpoint, int]], pins: _Pins, report: VerifyReport) -> Problem | None:
    for cp, number in records:
        key = pins.at(cp.seq)
        if cp.key_id != key.key_id:
            return Problem(CHECKPOINTS, number, "bad signature",
                           f"signed by key {cp.key_id}, the key in force at seq {cp.seq} is {key.key_id}")
        if not key.verify(checkpoint_message(cp.seq, cp.hash, cp.ts, cp.key_id), cp.sig):
            return Problem(CHECKPOINTS, number, "bad signature", f"checkpoint at seq {cp.seq} does not verify")
        report.checkpoints += 1
    return None


def _genesis(entry: dict, verifier: Verifier, report: VerifyReport, name: str) -> _Pins:
    """The pins a log starts with: the key its first entry (`home.init`) names, if it names one."""
    details = entry["details"] if isinstance(entry["details"], dict) else {}
    if entry["category"] != "home" or entry["event"] != "init" or "audit_key" not in details:
        return _Pins([(0, verifier, "etc/audit-signing.pub (the log names no key)")])
    report.home_id = details.get("home_id")
    try:
        key = Verifier(VerifyKey(bytes.fromhex(details["public_key"])))
    except (KeyError, TypeError, ValueError):
        key = verifier
    pins = _Pins([(0, key, "genesis entry, seq 1")])
    if key.key_id != details["audit_key"]:
        pins.problem = Problem(name, 1, "malformed", "the genesis entry's key and its id disagree")
    return pins


def verify(directory: Path, verifier: Verifier, *, witness: WitnessRecord | None = None) -> VerifyReport:
    """Walk the whole chain. The report's `problem` names the first bad file:line and why.

    `verifier` is the published key (etc/audit-signing.pub); a log whose genesis entry pins another
    key, not reached by signed rotations, is `re-keyed`. With a `witness`, the log must extend the
    head it saw."""
    report = VerifyReport()
    files = log_files(directory)
    report.files = len(files)
    records = _read_checkpoints(directory / CHECKPOINTS, report)
    signed = {cp.seq: (cp.hash, number) for cp, number in records}
    record_problem, report.problem = report.problem, None
    chunks = [_split(path, path == files[-1], report) for path in files]
    watch = {} if witness is None else {seq for seq, _ in witness.history} | {witness.seq, 1}
    seen: dict[int, tuple[str, str, int]] = {}  # watched seq -> (hash, file, line)
    pins = _Pins([(0, verifier, "etc/audit-signing.pub")])
    flagged: list[dict] = []

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
            if seq == 1:
                pins = _genesis(entry, verifier, report, name)
            elif entry["category"] == "audit":
                if entry["event"] == "key_rotated":
                    pins.rotate(entry, (name, number))
                elif entry["event"] == "unsealed_tail":
                    flagged.append(entry)
            if seq in watch:
                seen[seq] = (digest, name, number)
            expected, prev_hash = seq + 1, digest
            last_where = (name, number)
    report.entries = expected - 1
    report.head_seq, report.head_hash = expected - 1, prev_hash
    _, pinned, origin = pins.keys[-1]
    report.key_id = pinned.key_id
    beyond = [seq for seq in signed if seq > report.head_seq]
    if beyond:
        report.problem = Problem(
            *last_where, "truncated",
            f"the log ends at seq {report.head_seq} but a signed checkpoint covers seq {max(beyond)}",
        )
        return report
    if pins.problem is not None:
        report.problem = pins.problem
        return report
    if pinned.key_id != verifier.key_id:
        report.problem = Problem(
            "etc/audit-signing.pub", 0, "re-keyed",
            f"the published key is {verifier.key_id} but the log pins {pinned.key_id} ({origin}); a key "
            "changes only by a rotation entry signed by the old key",
        )
        return report
    report.problem = record_problem or _check_signatures(records, pins, report)
    if report.problem is not None:
        return report
    if witness is not None:
        report.problem = _against_witness(witness, report, seen, set(signed), pins, last_where)
        if report.problem is not None:
            return report
    if report.entries and not records:
        report.problem = Problem(CHECKPOINTS, 0, "no checkpoint",
                                 f"{report.entries} entries with no checkpoint: {CHECKPOINTS} is missing or empty")
        return report
    report.warnings += [_flag_warning(entry) for entry in flagged]
    last = max(signed, default=0)
    if report.head_seq > last and not other_writers(directory):
        report.warnings.append(
            f"{report.head_seq - last} entries after the last checkpoint (seq {last + 1}..{report.head_seq}), written "
            "by a process that did not close; the next process that writes seals them and flags them"
        )
    return report


def _flag_warning(entry: dict) -> str:
    details = entry["details"] if isinstance(entry["details"], dict) else {}
    listed = ", ".join(str(item) for item in details.get("entries", []))
    return (f"seq {details.get('from')}..{details.get('to')} were sealed by a later process (seq {entry['seq']}), not by "
            f"the one that wrote them: a process that did not close, or lines added by hand [{listed}]")


def _against_witness(
    witness: WitnessRecord, report: VerifyReport, seen: dict[int, tuple[str, str, int]], checkpoints: set[int],
    pins: _Pins, last_where: tuple[str, int],
) -> Problem | None:
    """How the log departs from the head the witness saw, named; None when it extends it."""
    saw = f"the witness saw seq {witness.seq} ({witness.hash[:16]}) sealed at {witness.ts}"
    if report.entries == 0:
        return Problem("(no log)", 0, "log deleted", f"the log has no entries; {saw}")
    keys = {key.key_id for _, key, _ in pins.keys}
    if witness.key_id not in keys:
        return Problem("etc/audit-signing.pub", 0, "re-keyed",
                       f"the log is signed by key {report.key_id}, the witness saw key {witness.key_id}; a key changes "
                       "only by a rotation entry signed by the old key")
    if seen.get(1, ("",))[0] != witness.first:
        _, name, number = seen[1]
        return Problem(name, number, "log replaced",
                       f"entry seq 1 is not the one the witness saw: the log was deleted and started again, or rewritten "
                       f"from its start; {saw}")
    for seq, expected in sorted([*witness.history, (witness.seq, witness.hash)]):
        if seq in seen and seen[seq][0] != expected:
            _, name, number = seen[seq]
            return Problem(name, number, "rewritten",
                           f"entry seq {seq} is not the one the witness saw ({expected[:16]}): the log up to here was "
                           "rewritten with a recomputed chain")
    if report.head_seq < witness.seq:
        if (report.head_seq, report.head_hash) in {tuple(item) for item in witness.history}:
            return Problem(*last_where, "rolled back",
                           f"the log is back at seq {report.head_seq}, an earlier sealed state; {saw}")
        return Problem(*last_where, "truncated",
                       f"the log ends at seq {report.head_seq}; {saw}: seq {report.head_seq + 1}..{witness.seq} were cut")
    if witness.seq not in checkpoints:
        return Problem(CHECKPOINTS, 0, "checkpoints deleted", f"no checkpoint at seq {witness.seq}; {saw}")
    return None


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
