"""Memory and the background services, read: the numbers `mh agent monitor` shows and what
`mh agent status NAME` shows. Reads only; nothing here changes a file."""

from __future__ import annotations

from pydantic import BaseModel

from ..home import Home
from ..inbox import failed_names, waiting_count
from ..memory import MemoryStore
from ..service_book import DESCRIPTIONS, ServiceBook, ServiceState, known_service


class MemoryOverview(BaseModel):
    memories: int  # in the index
    processed: int  # tagged by the organizer
    unprocessed: int
    inbox: int  # files waiting in memory/inbox/
    failed: list[str]  # names in memory/inbox/_failed/


class ServiceStatus(ServiceState):
    description: str
    running: bool
    log: list[str]  # its last log lines, oldest first


def memory_overview(source: Home | MemoryStore) -> MemoryOverview:
    store = source if isinstance(source, MemoryStore) else MemoryStore(source)
    numbers = store.stats()
    return MemoryOverview(memories=numbers["total"], processed=numbers["processed"], unprocessed=numbers["unprocessed"],
                          inbox=waiting_count(store.home), failed=failed_names(store.home))


def service_status(home: Home, name: str, *, lines: int = 10) -> ServiceStatus:
    """Counters, running or not, and the last `lines` log lines of one service (MhError if there is none)."""
    book = ServiceBook(home, known_service(name))
    return ServiceStatus(**book.state().model_dump(), description=DESCRIPTIONS[name], running=book.running.is_held(),
                         log=book.last_lines(lines))


def service_statuses(home: Home, *, lines: int = 0) -> list[ServiceStatus]:
    return [service_status(home, name, lines=lines) for name in DESCRIPTIONS]
