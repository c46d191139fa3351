"""The registry of background services (ingestor, organizer, sleep-service, boredom-service) and
running one until it is stopped. `mh start` runs them all under runtime/supervisor.py.

Each service's counters, running marker, log and door are in runtime/service_book.py, which imports
no service: the services import the book, and only this registry imports the services.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .boredom import BoredomService
from .ingest import Ingestor
from .liveness import AlreadyRunning
from .organize import Organizer
from .service_book import DESCRIPTIONS, RUNNING_ELSEWHERE, ServiceBook, ServiceDoor, known_service
from .sleep import SleepService

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["RUNNING_ELSEWHERE", "SERVICES", "AlreadyRunning", "Service", "ServiceSpec", "service", "watch"]


class Service(Protocol):
    """What every service is: its book and door, one pass, and a watch until `stop`."""

    book: ServiceBook
    door: ServiceDoor

    def run_once(self) -> object: ...

    def watch(self, stop: threading.Event) -> None: ...


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    description: str
    build: Callable[[Runtime], Service]


BUILDERS: dict[str, Callable[[Runtime], Service]] = {"ingestor": Ingestor, "organizer": Organizer, "sleep-service": SleepService,
                                 "boredom-service": BoredomService}

SERVICES = {name: ServiceSpec(name, description, BUILDERS[name]) for name, description in DESCRIPTIONS.items()}


def service(name: str) -> ServiceSpec:
    return SERVICES[known_service(name)]


def watch(worker: Service, stop: threading.Event, announce: Callable[[], None]) -> None:
    """Run a service's watch loop until `stop` is set, marked running for exactly that long. A second
    watcher of the same home is refused (AlreadyRunning) before `announce` is called."""
    with worker.book.running.hold():
        announce()
        worker.watch(stop)

