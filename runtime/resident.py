"""A resident chat: one process keeps the model, the router and the agent loop loaded, and
`mh chat --once` hands it the message instead of starting them again (interpreter, pydantic-ai and
llama.cpp cost a fresh process about a second before the first word).

`mh chat --serve` holds a running marker and listens on a Unix socket in state/services/ (0600 in
a folder only the owner can enter, and each peer's uid is checked against our own): only the person's
own processes reach it, as they could reach the home's files anyway. One connection is one `--once`
turn in a session of its own; the turn goes through the same Runtime door (gate, queue, audit) with
the same actors as a local `mh chat --once`. The protocol is JSON lines: the client sends
{"message": ...}; the server answers {"delta": ...} lines and one {"done": <TurnResult>} or
{"error": ..., "fix": ...}.

This module imports nothing heavy: the client side runs before the CLI would load the model.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import MhError
from .home import Home
from .liveness import RunningMarker

MAX_MESSAGE = 20_000  # characters, as the API's chat
PATH_LIMIT = 100  # sun_path holds 108 bytes on Linux: a deeper socket is reached through its folder's fd


def socket_path(home: Home) -> Path:
    return home.services_dir / "chat.sock"


def marker(home: Home) -> RunningMarker:
    return RunningMarker(home.services_dir / "chat.lock", what="the resident chat", fix="stop it first (Ctrl-C in its terminal)")


@contextmanager
def _address(path: Path) -> Iterator[str]:
    """The socket's address: its path, or for a home deeper than sun_path allows, the same file
    reached through an fd of its folder (/proc/self/fd/N/chat.sock), so it still lives, with its
    modes, in state/services/."""
    if len(str(path)) <= PATH_LIMIT:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


class ResidentUnavailable(MhError):
    """No resident chat answers for this home."""


def ask(home: Home, message: str, *, timeout: float = 600) -> Iterator[dict[str, Any]]:
    """The resident chat's answer to one message, as its JSON lines. ResidentUnavailable, before
    anything is sent, when none is running (or its socket does not answer)."""
    path = socket_path(home)
    if not marker(home).is_held():
        raise ResidentUnavailable("no resident chat is running for this home", fix="start one with `mh chat --serve`")
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        with _address(path) as address:
            client.connect(address)
    except OSError as exc:
        client.close()
        raise ResidentUnavailable(f"the resident chat does not answer ({exc})", fix="restart it with `mh chat --serve`") from None
    with client, client.makefile("rwb") as stream:
        stream.write(json.dumps({"message": message}).encode() + b"\n")
        stream.flush()
        for line in stream:
            event = json.loads(line)
            yield event
            if "done" in event or "error" in event:
                return
    raise MhError("the resident chat closed the connection before its answer was complete", fix="see its terminal; run without it meanwhile")


def serve(home: Home, turn: Callable[[str, Callable[[str], None]], Any], *, ready: Callable[[], None] = lambda: None) -> None:
    """Answer `--once` messages until interrupted. `turn(message, on_text)` runs one turn in a fresh
    session and returns its TurnResult."""
    path = socket_path(home)
    with marker(home).hold():
        home.services_dir.mkdir(parents=True, exist_ok=True)
        home.services_dir.chmod(0o700)
        path.unlink(missing_ok=True)  # a socket left by a process that died: we hold the marker now
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)  # the socket is created 0600: no window where others may connect
        try:
            with _address(path) as address:
                server.bind(address)
        finally:
            os.umask(old_mask)
        with server:
            server.listen(8)
            ready()
            try:
                while True:
                    connection, _ = server.accept()
                    with connection:
                        _answer(connection, turn)
            finally:
                path.unlink(missing_ok=True)


def _answer(connection: socket.socket, turn: Callable[[str, Callable[[str], None]], Any]) -> None:
    with connection.makefile("rwb") as stream:
        def send(event: dict[str, Any]) -> None:
            stream.write(json.dumps(event).encode() + b"\n")
            stream.flush()

        uid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[1]
        if uid != os.getuid():
            send({"error": "refused: the resident chat answers only its owner's processes", "fix": None})
            return
        try:
            request = json.loads(stream.readline(4 * MAX_MESSAGE + 64) or b"{}")
            message = request.get("message") if isinstance(request, dict) else None
            if not isinstance(message, str) or not 0 < len(message) <= MAX_MESSAGE:
                raise MhError(f"a message is 1 to {MAX_MESSAGE} characters of text", fix="send {\"message\": \"...\"}")
            result = turn(message, lambda text: send({"delta": text}))
            send({"done": result.model_dump(mode="json")})
        except MhError as exc:
            send({"error": exc.message, "fix": exc.fix})
        except (json.JSONDecodeError, UnicodeDecodeError):
            send({"error": "the request is not one line of JSON", "fix": "send {\"message\": \"...\"}"})
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away (Ctrl-C): the turn it asked for is done and audited regardless
