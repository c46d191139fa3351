"""The on-disk form of entries and checkpoints, shared by the writer and the verifier.

An entry line is the canonical JSON (sorted keys, compact) of
{actor, category, details, event, hash, level, prev, seq, ts} where `hash` is the sha256 of the
canonical JSON of the same object without `hash`. Because keys are sorted, that hashed text is the
line with its `"hash":"<64 hex>",` cut out: the verifier hashes a slice of the line it read instead of
re-serialising every entry, and the writer builds both strings from two small halves.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..jsonio import canonical, encode_default

GENESIS = "0" * 64
HASH_FIELD = b'"hash":"'
HASH_SPAN = len(HASH_FIELD) + 64 + 2  # "hash":"<64 hex>",
ENTRY_KEYS = frozenset({"actor", "category", "details", "event", "hash", "level", "prev", "seq", "ts"})
LEVELS = ("debug", "info", "warning", "error", "security")


_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=encode_default
).encode


_quoted: dict[str, str] = {}


def _quote(text: str) -> str:
    """JSON string literal, memoised: actors, categories, events and levels are a small set."""
    found = _quoted.get(text)
    if found is None:
        found = _dumps(text)
        if len(_quoted) < 4096:
            _quoted[text] = found
    return found


def encode_entry(
    *, seq: int, ts: str, level: str, category: str, event: str, actor: str, details: Any, prev: str
) -> tuple[str, str]:
    """(hash, line without newline) for one entry.

    Spelled out field by field (in sorted order) rather than by dumping a dict: this is the hot
    path of every audited action, and the result is byte-for-byte `canonical(entry)`.
    """
    head = f'{{"actor":{_quote(actor)},"category":{_quote(category)},"details":{_dumps(details)},"event":{_quote(event)},'
    # prev is 64 hex digits and ts an ISO time made by the log itself: nothing to escape.
    tail = f'"level":{_quote(level)},"prev":"{prev}","seq":{int(seq)},"ts":"{ts}"}}'
    try:
        body = (head + tail).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a file name that is not UTF-8, an agent's odd JSON) has no UTF-8 form:
        # write it as its JSON escape, which reads back as the same string. Only strings hold it.
        head, tail = _escape_surrogates(head), _escape_surrogates(tail)
        body = (head + tail).encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()
    return digest, f'{head}"hash":"{digest}",{tail}'


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogates(text: str) -> str:
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def hashed_body(line: bytes) -> bytes | None:
    """The bytes an entry line's hash covers, or None when the line has no hash field."""
    at = line.rfind(HASH_FIELD)
    if at < 0:
        return None
    return line[:at] + line[at + HASH_SPAN :]


def checkpoint_message(seq: int, entry_hash: str, ts: str, key_id: str) -> bytes:
    return canonical({"hash": entry_hash, "key_id": key_id, "seq": seq, "ts": ts}).encode("utf-8")


def rotation_message(prev: str, old_key_id: str, new_public_key: str) -> bytes:
    """What the old key signs to hand over to a new one; `prev` binds it to its place in the chain."""
    return canonical({"from": old_key_id, "prev": prev, "public_key": new_public_key, "purpose": "mh audit key rotation"}).encode("utf-8")
