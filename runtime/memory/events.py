"""Memory events: one JSON file per event in memory/episodic/YYYY/<id>.json."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import MhError
from ..jsonio import atomic_write, pretty, read_json_file

MAX_EVENT_BYTES = 4 << 20


class MemoryNotFound(MhError):
    """No memory with that id."""


class MemoryCorrupt(MhError):
    """A memory file is not a valid memory (edited by hand, truncated)."""


class MemoryMetadata(BaseModel):
    """Where a memory came from and what may be done with it. Extra keys are kept."""

    model_config = ConfigDict(extra="allow")

    source: str
    training_consent: bool = True
    processed: bool = False
    # A `conversation` holds the person's words (`content`) and the model's reply (`response`). The
    # reply is the model's invention until the person says otherwise: it is trained on, and ranks with
    # the person's own words, only once marked good. Older files lack the key: unmarked, as they were.
    marked_good: bool = False


class MemoryEvent(BaseModel):
    """One memory. `content` is always the person's (or their file's) words; `response` is only set on
    a `conversation`, and is the model's reply to them."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^evt-[A-Za-z0-9-]+$")
    timestamp: datetime
    type: str = Field(min_length=1, max_length=64)
    content: str
    response: str | None = None
    tags: list[str] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)
    importance: float = Field(default=0.5, ge=0, le=1)
    links: list[str] = Field(default_factory=list)
    metadata: MemoryMetadata


CONVERSATION = "conversation"


def is_unmarked_reply(event: MemoryEvent) -> bool:
    """Whether the memory holds a reply of the model that the person has not marked good."""
    return event.type == CONVERSATION and bool((event.response or "").strip()) and not event.metadata.marked_good


def new_event_id(now: datetime) -> str:
    # Time first so ids sort by time; 64 random bits so two processes in one microsecond never collide.
    return f"evt-{now:%Y%m%dT%H%M%S%f}-{secrets.token_hex(8)}"


class EventFiles:
    """The episodic folder: where each event's file lives, reading and writing them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, event: MemoryEvent) -> Path:
        return self.folder / f"{event.timestamp:%Y}" / f"{event.id}.json"

    def find(self, event_id: str) -> Path | None:
        if not event_id.startswith("evt-") or "/" in event_id or "\0" in event_id:
            return None
        for year in sorted(self.folder.glob("[0-9][0-9][0-9][0-9]"), reverse=True):
            path = year / f"{event_id}.json"
            if path.exists():
                return path
        return None

    def write(self, event: MemoryEvent, *, durable: bool = True) -> Path:
        path = self.path_for(event)
        path.parent.mkdir(parents=True, exist_ok=True)
        if durable:
            atomic_write(path, pretty(event.model_dump(mode="json")))
        else:  # a batch is made durable by one sync for all its files (see MemoryStore.add_batch)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(pretty(event.model_dump(mode="json")), encoding="utf-8")
            tmp.replace(path)
        return path

    def read(self, path: Path) -> MemoryEvent:
        try:
            return MemoryEvent.model_validate(read_json_file(path, MAX_EVENT_BYTES))
        except (OSError, ValueError, ValidationError) as exc:
            first = str(exc).splitlines()[0]
            raise MemoryCorrupt(
                f"memory/episodic/{path.parent.name}/{path.name} is not a valid memory: {first}",
                fix="fix the JSON by hand (or move the file aside), then run `mh memory reindex`",
            ) from None

    def paths(self) -> Iterator[Path]:
        for year in sorted(self.folder.glob("[0-9][0-9][0-9][0-9]")):
            yield from sorted(year.glob("evt-*.json"))
