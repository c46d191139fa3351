"""Redact secrets before they reach a log. Keys that name a secret and values that look like one."""

from __future__ import annotations

import re
from typing import Any

from .secrets import redact_secrets

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(passw(or)?d|passphrase|secret|token|api[_-]?key|authorization|private[_-]?key|credential|cookie)",
    re.IGNORECASE,
)
MIN_SECRET_CHARS = 8  # no pattern in runtime.secrets matches fewer characters
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
    if len(text) < MIN_SECRET_CHARS:
        return text
    return redact_secrets(text, high_entropy=False, label=lambda kind: REDACTED)[0]


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
