"""Episodic memory events: one JSON file per event in memory/episodic/YYYY/. Files are the truth."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .home import Home
from .jsonio import atomic_write, pretty


class MemoryMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    source: str
    training_consent: bool = True


class MemoryEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    timestamp: datetime
    type: str
    content: str
    response: str | None = None
    tags: list[str] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)
    importance: float = Field(default=0.5, ge=0, le=1)
    links: list[str] = Field(default_factory=list)
    metadata: MemoryMetadata


def new_event_id(now: datetime) -> str:
    # Time first so ids sort by time; 64 random bits so two processes in one microsecond never collide.
    return f"evt-{now:%Y%m%dT%H%M%S%f}-{secrets.token_hex(8)}"


def write_event(home: Home, *, type: str, content: str, source: str, response: str | None = None,
                metadata: dict[str, Any] | None = None, tags: list[str] | None = None) -> MemoryEvent:
    now = datetime.now(UTC)
    event = MemoryEvent(
        id=new_event_id(now), timestamp=now, type=type, content=content, response=response, tags=tags or [],
        metadata=MemoryMetadata(source=source, **(metadata or {})),
    )
    folder: Path = home.root / "memory" / "episodic" / f"{now:%Y}"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"{event.id}.json", pretty(event.model_dump(mode="json")))
    return event
