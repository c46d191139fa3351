"""Memory and the background services, read: the numbers `mh agent monitor` shows, what `mh agent
status NAME` and `mh agent ps` show. Reads only; nothing here changes a file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..home import Home
from ..inbox import failed_names, waiting_count
from ..memory import MemoryStore
from ..service_book import DESCRIPTIONS, ServiceBook, ServiceState, enabled, known_service
from ..supervisor import SupervisorView, supervisor_view


class MemoryOverview(BaseModel):
    memories: int  # in the index
    processed: int  # tagged by the organizer
    unprocessed: int
    inbox: int  # files waiting in memory/inbox/
    failed: list[str]  # names in memory/inbox/_failed/


class ServiceStatus(ServiceState):
    description: str
    running: bool
    state: Literal["running", "paused", "error", "restarting", "stopped", "disabled"] = Field(
        description="running (its process lives), paused (the gate refuses it), error (its config cannot be read), "
                    "restarting (crashed; the supervisor starts it at next_run_at), stopped, disabled (by its config)")
    pid: int | None = None
    enabled: bool = True
    restarts: int = Field(default=0, description="crashes the supervisor restarted it after, since `mh start`")
    success_rate: float | None = Field(default=None, description="successes / runs; None before the first run")
    log: list[str]  # its last log lines, oldest first


class ServiceTable(BaseModel):
    supervisor: SupervisorView
    services: list[ServiceStatus]


def memory_overview(source: Home | MemoryStore) -> MemoryOverview:
    store = source if isinstance(source, MemoryStore) else MemoryStore(source)
    numbers = store.stats()
    return MemoryOverview(memories=numbers["total"], processed=numbers["processed"], unprocessed=numbers["unprocessed"],
                          inbox=waiting_count(store.home), failed=failed_names(store.home))


class ChatExchange(BaseModel):
    """One saved chat exchange: the person's words and the model's reply, and whether the person
    marked the reply good (only then is it trained on)."""

    id: str
    timestamp: str
    said: str
    reply: str
    marked_good: bool


def chat_exchanges(source: Home | MemoryStore, limit: int = 50) -> list[ChatExchange]:
    """The newest saved chat exchanges, newest first (from the index)."""
    store = source if isinstance(source, MemoryStore) else MemoryStore(source)
    return [ChatExchange(id=row["id"], timestamp=row["timestamp"], said=row["content"], reply=row["response"],
                         marked_good=bool(row["response"].strip()) and not row["unmarked_reply"]) for row in store.conversations(limit)]


def service_status(home: Home, name: str, *, lines: int = 10, supervisor: SupervisorView | None = None) -> ServiceStatus:
    """Counters, state, pid, next run and the last `lines` log lines of one service (MhError if there is none)."""
    book = ServiceBook(home, known_service(name))
    state = book.state()
    pid = book.running.holder()
    on, _ = enabled(home, name)
    child = next((c for c in (supervisor or supervisor_view(home)).children if c.name == name), None)
    next_run = state.next_run_at
    if pid is not None or book.running.is_held():
        note = state.note or ""
        shown = "paused" if note.startswith("paused") else "error" if note.startswith("error") else "running"
    elif child is not None and child.state == "restarting":
        shown, next_run = "restarting", child.next_start_at
    else:
        shown, next_run = ("stopped" if on else "disabled"), None
    return ServiceStatus(**{**state.model_dump(), "next_run_at": next_run}, description=DESCRIPTIONS[name],
                         running=shown in ("running", "paused", "error"), state=shown, pid=pid, enabled=on,
                         restarts=child.restarts if child else 0,
                         success_rate=round(state.successes / state.runs, 3) if state.runs else None, log=book.last_lines(lines))


def service_statuses(home: Home, *, lines: int = 0) -> list[ServiceStatus]:
    supervisor = supervisor_view(home)
    return [service_status(home, name, lines=lines, supervisor=supervisor) for name in DESCRIPTIONS]


def service_table(home: Home) -> ServiceTable:
    """`mh agent ps`: the supervisor and every service."""
    supervisor = supervisor_view(home)
    return ServiceTable(supervisor=supervisor, services=[service_status(home, name, lines=0, supervisor=supervisor) for name in DESCRIPTIONS])


def service_log_file(home: Home, name: str):
    """The log of a service, or of the supervisor (`mh agent logs NAME`)."""
    return ServiceBook(home, name if name == "supervisor" else known_service(name)).log_file
