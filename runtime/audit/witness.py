"""A copy of the latest checkpoint kept outside the home: the log's anchor.

In the spirit of C2SP witnessed checkpoints: the witness only moves forward, and only to a
checkpoint whose chain still holds the head it saw before (that earlier head is a prefix of the new
chain, same key, same home). Whoever can rewrite the home's files can rewrite the log, its
checkpoints and, holding state/keys, their signatures; they cannot make the log agree with a record
they did not also rewrite here. `mh audit verify` compares the log with this record.

The folder is $MH_WITNESS_DIR, else $XDG_STATE_HOME/mh/witness, else ~/.local/state/mh/witness; one
file per home, named by the hash of the home's resolved path (so deleting the log cannot also lose
the name under which its witness is kept).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from ..errors import AuditError
from ..jsonio import atomic_write, canonical, read_json_file

WITNESS_ENV = "MH_WITNESS_DIR"
HISTORY = 256  # earlier witnessed heads kept, to name a rollback to one of them


def witness_dir() -> Path:
    configured = os.environ.get(WITNESS_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_STATE_HOME") or "~/.local/state").expanduser() / "mh" / "witness"


class WitnessRecord(BaseModel):
    """The latest sealed head as this witness saw it."""

    home: str = Field(description="the home's resolved path")
    home_id: str | None = Field(description="the id in the log's genesis entry; None for a log without one")
    first: str = Field(description="hash of entry seq 1: a log deleted and started again has another")
    seq: int
    hash: str
    key_id: str
    ts: str
    sig: str
    history: list[tuple[int, str]] = Field(default_factory=list, description="earlier witnessed (seq, hash), oldest first")


class Witness:
    def __init__(self, home_root: Path, directory: Path | None = None) -> None:
        self.home = str(home_root)
        name = hashlib.sha256(self.home.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        self.path = (directory or witness_dir()) / f"{name}.json"

    def read(self) -> WitnessRecord | None:
        """The record, or None when this home has none yet (first run, a new machine)."""
        try:
            return WitnessRecord.model_validate(read_json_file(self.path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, ValidationError) as exc:
            raise AuditError(
                f"the audit witness {self.path} cannot be read: {str(exc).splitlines()[0]}",
                fix="restore it from a backup; delete it only if you accept the log as it is now (the next seal writes a new one)",
            ) from None

    def advance(
        self, *, seq: int, entry_hash: str, key_id: str, ts: str, sig: str, home_id: str | None,
        since: Callable[[int], tuple[str | None, list[tuple[str, str]]]],
    ) -> bool:
        """Move to a new checkpoint if it extends what was witnessed; else keep the old record as
        evidence and return False. The caller holds the log's lock, so advances never interleave."""
        try:
            old = self.read()
        except AuditError:
            return False  # unreadable: left for `mh audit verify` to report, never overwritten
        if old is not None:
            if old.home_id != home_id or old.seq > seq:
                return False
            found, rotations = since(old.seq)
            held = old.key_id
            for before, after in rotations:
                held = after if before == held else held
            if found != old.hash or held != key_id or (old.seq > 1 and since(1)[0] != old.first):
                return False
        first = entry_hash if seq == 1 else (old.first if old is not None else since(1)[0])
        if first is None:
            return False
        history = [] if old is None else [*old.history, (old.seq, old.hash)][-HISTORY:]
        if old is not None and old.seq == seq:
            history = old.history
        record = WitnessRecord(home=self.home, home_id=home_id, first=first, seq=seq, hash=entry_hash,
                               key_id=key_id, ts=ts, sig=sig, history=history)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(self.path, canonical(record.model_dump(mode="json")) + "\n", mode=0o600)
        except OSError:
            return False  # an unwritable witness folder must not stop the log; verify names the gap
        return True
