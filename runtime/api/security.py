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
        if not auth.lower().startswith("bearer "):
            return await _reply(send, 401, "this API needs a bearer token (requests without one, like the MetaHuman OS curl examples, are refused)",
                                how_to_get_a_token(headers["host"].strip()), challenge=True)
        if not self.token.matches(auth[7:].strip()):
            return await _reply(send, 401, "wrong bearer token", how_to_get_a_token(headers["host"].strip()), challenge=True)
        return await self.app(scope, receive, send)


def how_to_get_a_token(host: str) -> str:
    """The fix a 401 gives: the command that makes a token and how to send it. It names nothing of
    the home (no path, no hash, not whether a token exists); `host` passed host_allowed."""
    return ("run `mh api token` on this machine, with the home `mh serve` uses (MH_HOME or --home): it prints a new token once "
            "(the previous one stops working) and keeps only its hash; then send it, e.g. "
            f"curl -H \"Authorization: Bearer $TOKEN\" http://{host}/api/status")


async def _reply(send, status: int, error: str, fix: str, *, challenge: bool = False) -> None:
    body = json.dumps({"success": False, "error": error, "fix": fix}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if challenge:
        headers.append((b"www-authenticate", b'Bearer realm="mh"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
