"""The on-disk form of entries and checkpoints, shared by the writer and the verifier.

An entry line is the canonical JSON (sorted keys, compact) of
{actor, category, details, event, hash, level, prev, seq, ts} where `hash` is the sha256 of the
canonical JSON of the same object without `hash`. Because keys are sorted, that hashed text is the
line with its `"hash":"<64 hex>",` cut out: the verifier hashes a slice of the line it read instead of
re-serialising every entry, and the writer builds both strings from two small halves.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..jsonio import canonical

GENESIS = "0" * 64
HASH_FIELD = b'"hash":"'
HASH_SPAN = len(HASH_FIELD) + 64 + 2  # "hash":"<64 hex>",
ENTRY_KEYS = frozenset({"actor", "category", "details", "event", "hash", "level", "prev", "seq", "ts"})
LEVELS = ("debug", "info", "warning", "error", "security")


def encode_entry(
    *, seq: int, ts: str, level: str, category: str, event: str, actor: str, details: Any, prev: str
) -> tuple[str, str]:
    """(hash, line without newline) for one entry."""
    head = canonical({"actor": actor, "category": category, "details": details, "event": event})
    tail = canonical({"level": level, "prev": prev, "seq": seq, "ts": ts})
    digest = hashlib.sha256((head[:-1] + "," + tail[1:]).encode("utf-8")).hexdigest()
    return digest, f'{head[:-1]},"hash":"{digest}",{tail[1:]}'


def hashed_body(line: bytes) -> bytes | None:
    """The bytes an entry line's hash covers, or None when the line has no hash field."""
    at = line.rfind(HASH_FIELD)
    if at < 0:
        return None
    return line[:at] + line[at + HASH_SPAN :]


def checkpoint_message(seq: int, entry_hash: str, ts: str, key_id: str) -> bytes:
    return canonical({"hash": entry_hash, "key_id": key_id, "seq": seq, "ts": ts}).encode("utf-8")
