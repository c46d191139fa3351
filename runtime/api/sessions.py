"""The API's named chat sessions: bounded and expiring, owned by the app (no module-level state)."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MAX_SESSIONS = 32
IDLE_S = 30 * 60.0


class ChatSessions:
    """The chat agent of each session a client names, so that it can continue it: at most `limit`
    (the least recently used goes first) and each forgotten after `idle_s` without a message, so
    clients naming new sessions cannot grow the server, or keep a model's context, without bound.
    A message without a session gets a one-off agent that is not kept."""

    def __init__(self, make: Callable[[str], Any], *, limit: int = MAX_SESSIONS, idle_s: float = IDLE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._make = make
        self._limit = limit
        self._idle_s = idle_s
        self._clock = clock
        self._agents: OrderedDict[str, tuple[float, Any]] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def agent(self, name: str | None) -> Any:
        if name is None:
            return self._make(f"api-{secrets.token_hex(4)}")
        with self._lock:
            now = self._clock()
            while self._agents and now - next(iter(self._agents.values()))[0] > self._idle_s:
                self._agents.popitem(last=False)
            kept = self._agents.pop(name, None)
            agent = kept[1] if kept else self._make(name)
            self._agents[name] = (now, agent)
            while len(self._agents) > self._limit:
                self._agents.popitem(last=False)
            return agent

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, name: object) -> bool:
        return name in self._agents
