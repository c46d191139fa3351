"""Redact secrets before they reach a log. Keys that name a secret and values that look like one."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(passw(or)?d|passphrase|secret|token|api[_-]?key|authorization|private[_-]?key|credential|cookie)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"(-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(sk|pk|rk)-[A-Za-z0-9_-]{16,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|\bAIza[0-9A-Za-z_-]{35}\b"
    r"|\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]+@)"
)


MIN_SECRET_CHARS = 8  # no pattern above matches fewer characters
_secret_keys: dict[str, bool] = {}


def _is_secret_key(key: str) -> bool:
    # Memoised: detail keys are a small vocabulary, and this runs for every key of every audit entry.
    found = _secret_keys.get(key)
    if found is None:
        found = _SECRET_KEY.search(key) is not None
        if len(_secret_keys) < 4096:
            _secret_keys[key] = found
    return found


def redact_text(text: str) -> str:
    return text if len(text) < MIN_SECRET_CHARS else _SECRET_VALUE.sub(REDACTED, text)


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of `value` with secrets replaced. Structure and harmless values stay as they are."""
    if key is not None and isinstance(value, (str, bytes)) and _is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
