"""The API's bearer token, kept only as its sha256 in state/api/token.json (0600 in a 0700 folder).
Made by the `api_token_rotate` skill (skills/api.py), the one door to it; checked by the API's guard
(runtime/api/security.py), which only reads the hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from pathlib import Path

from .home import Home
from .jsonio import atomic_write, pretty, read_json_file


def token_file(home: Home) -> Path:
    return home.api_dir / "token.json"


def rotate_token(home: Home) -> tuple[str, datetime]:
    """A new token and when it was made; only its sha256 is written. The caller shows it once."""
    token = "mh_" + secrets.token_urlsafe(32)
    created_at = datetime.now(UTC)
    path = token_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    atomic_write(path, pretty({"sha256": hashlib.sha256(token.encode()).hexdigest(),
                               "created_at": created_at.isoformat()}), mode=0o600)
    return token, created_at


class StoredToken:
    """The stored hash, re-read only when token.json changed (so a rotation takes effect at once)."""

    def __init__(self, home: Home) -> None:
        self.path = token_file(home)
        self._cached: tuple[tuple[int, int, int], str] | None = None

    def sha256(self) -> str | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._cached is None or self._cached[0] != stamp:
            try:
                self._cached = (stamp, str(read_json_file(self.path)["sha256"]))
            except (OSError, ValueError, KeyError, TypeError):
                return None
        return self._cached[1]

    def matches(self, presented: str) -> bool:
        stored = self.sha256()
        return stored is not None and hmac.compare_digest(hashlib.sha256(presented.encode()).hexdigest(), stored)
