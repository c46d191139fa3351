"""The API's two locks: a Host check (DNS-rebinding defence) and a bearer token (stored only as a
hash, by runtime/api_token.py).

Litestar's AllowedHostsConfig rejects `localhost:8000`, the form every real client sends, so the
host is checked here: the port is cut off and the name compared with the loopback names.
"""

from __future__ import annotations

import json

from ..api_token import StoredToken
from ..home import Home

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


def host_name(header: str) -> str:
    """The name part of a Host header: `[::1]:8000` -> `[::1]`, `localhost:8000` -> `localhost`."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[: end + 1] if end > 0 else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str | None, extra: frozenset[str] = frozenset()) -> bool:
    if not header:
        return False
    name = host_name(header)
    port = header.strip()[len(name):]
    if port and not (port.startswith(":") and port[1:].isdigit()):
        return False
    return name in LOOPBACK_NAMES or name in extra


class Guard:
    """ASGI middleware: every HTTP request needs an allowed Host and the bearer token."""

    def __init__(self, app, *, home: Home, extra_hosts: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.token = StoredToken(home)
        self.extra_hosts = extra_hosts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not host_allowed(headers.get("host"), self.extra_hosts):
            return await _reply(send, 400, "this server answers only to localhost, 127.0.0.1 or [::1] (Host header)",
                                "connect to http://127.0.0.1:PORT")
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not self.token.matches(auth[7:].strip()):
            return await _reply(send, 401, "missing or wrong bearer token",
                                "send `Authorization: Bearer <token>`; `mh api token` makes a new one")
        return await self.app(scope, receive, send)


async def _reply(send, status: int, error: str, fix: str) -> None:
    body = json.dumps({"success": False, "error": error, "fix": fix}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
