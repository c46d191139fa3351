"""MemoryStore: the one way to write, read and search memories. Files first, then the index.

Nothing outside runtime/memory/ writes a memory file or memory/index.db: the ingestor, the organizer,
the chat and the skills all come through these methods.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import MhError
from ..home import Home
from ..jsonio import sync_folder
from .events import CONVERSATION, EventFiles, MemoryCorrupt, MemoryEvent, MemoryMetadata, MemoryNotFound, new_event_id
from .index import MemoryIndex, SearchHit, fts_query, row_of

__all__ = ["MemoryStore", "SearchHit", "ReindexReport"]


@dataclass
class ReindexReport:
    indexed: int = 0
    broken: list[str] = field(default_factory=list)
    set_aside: Path | None = None  # a damaged index, kept under a new name


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class MemoryStore:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.files = EventFiles(home.episodic_dir)
        self.index = MemoryIndex(home.memory_index)

    def new_event(self, *, type: str, content: str, source: str, response: str | None = None,
                  tags: list[str] | None = None, metadata: dict[str, Any] | None = None,
                  event_id: str | None = None, timestamp: datetime | None = None, links: list[str] | None = None) -> MemoryEvent:
        now = timestamp or datetime.now(UTC)
        meta = {"content_sha256": sha256_text(content), **(metadata or {})}
        return MemoryEvent(
            id=event_id or new_event_id(now), timestamp=now, type=type, content=content, response=response,
            tags=tags or [], links=links or [], metadata=MemoryMetadata(source=source, **meta),
        )

    def add(self, **fields: Any) -> MemoryEvent:
        """Create, write and index one memory (see new_event for the fields)."""
        event = self.new_event(**fields)
        self.save([event])
        return event

    def save(self, events: list[MemoryEvent], *, durable: bool = True) -> list[Path]:
        """Write events to their files, then index them. The files are the truth: if the index
        update is lost (a crash), `reindex` or the next save of the same id puts it right."""
        paths = [self.files.write(event, durable=durable) for event in events]
        self.index.upsert([row_of(event, path) for event, path in zip(events, paths, strict=True)])
        return paths

    def add_batch(self, events: list[MemoryEvent]) -> set[str]:
        """Write the events that have no file yet, make the whole batch durable with one sync, then
        index every event (those that existed too: an earlier index update may have been lost).
        Returns the ids written now. For ids derived from content (the ingestor's), running the same
        batch again after a crash at any point writes the same files: nothing lost, nothing doubled.
        When this returns, every event of the batch is on disk."""
        fresh = [event for event in events if not self.exists(event.id)]
        for event in fresh:
            self.files.write(event, durable=False)
        if events:
            os.sync()  # one sync for the batch instead of an fsync per file
            self.index.upsert([row_of(event, self.files.path_for(event)) for event in events])
        return {event.id for event in fresh}

    def get(self, event_id: str) -> MemoryEvent:
        path = self.files.find(event_id)
        if path is None:
            raise MemoryNotFound(f"no memory {event_id}", fix="find ids with `mh remember QUERY`")
        return self.files.read(path)

    def exists(self, event_id: str) -> bool:
        return self.files.find(event_id) is not None

    def search(self, query: str, *, type: str | None = None, not_type: str | None = None, tag: str | None = None,
               since: str | None = None, until: str | None = None, limit: int = 10, match: str = "all") -> list[SearchHit]:
        if not fts_query(query):
            return []  # nothing word-like to look for
        return self.index.search(query, type=type, not_type=not_type, tag=tag, since=since, until=until, limit=limit, match=match)

    def stats(self) -> dict:
        return self.index.stats()

    def unprocessed(self, limit: int) -> list[str]:
        """Ids of up to `limit` memories not yet organized, oldest first (from the index)."""
        return self.index.unprocessed(limit)

    def newest(self, *, not_types: tuple[str, ...] = (), limit: int | None = None) -> list[dict]:
        """Memories newest first, from the index (id, timestamp, type, content, importance)."""
        return self.index.newest(not_types=not_types, limit=limit)

    def events(self) -> Iterator[tuple[Path, MemoryEvent | MemoryCorrupt]]:
        """Every memory file, oldest year first: the event, or why it cannot be read."""
        for path in self.files.paths():
            try:
                yield path, self.files.read(path)
            except MemoryCorrupt as exc:
                yield path, exc

    def reindex(self) -> ReindexReport:
        """Rebuild memory/index.db from the files alone. Broken files are reported, never touched."""
        report = ReindexReport()
        rows = []
        for path, event in self.events():
            if isinstance(event, MemoryCorrupt):
                report.broken.append(event.message)
                continue
            rows.append(row_of(event, path))
        rows.sort(key=lambda row: (row["timestamp"], row["id"]))
        report.set_aside = self.index.rebuild(rows)
        report.indexed = len(rows)
        return report

    def conversations(self, limit: int = 50) -> list[dict]:
        """Chat exchanges newest first, from the index (id, timestamp, content, response, unmarked_reply)."""
        return self.index.conversations(limit)

    def mark_good(self, event_id: str, *, by: str) -> tuple[MemoryEvent, bool]:
        """Mark a conversation's reply good: the person vouches for it, so it may be trained on and
        ranks with their own words. Returns the memory and whether it was unmarked before."""
        event = self.get(event_id)
        if event.type != CONVERSATION or not (event.response or "").strip():
            raise MhError(f"{event_id} is a {event.type} with no reply of the model to mark",
                          fix="mark a chat exchange: `mh remember WORDS --type conversation` lists them")
        if event.metadata.marked_good:
            return event, False
        meta = {**event.metadata.model_dump(), "marked_good": True, "marked_good_by": by, "marked_good_at": datetime.now(UTC).isoformat()}
        updated = event.model_copy(update={"metadata": MemoryMetadata(**meta)})
        self.save([updated])
        return updated, True

    def forget(self, event_id: str) -> MemoryEvent:
        """Remove a memory: its file first (the truth: a crash before the index catches up leaves a
        stale row that `reindex` drops, never a memory that comes back), then its index row."""
        path = self.files.find(event_id)
        if path is None:
            raise MemoryNotFound(f"no memory {event_id}", fix="find ids with `mh remember QUERY`")
        event = self.files.read(path)
        path.unlink()
        sync_folder(path.parent)
        self.index.delete(event_id)
        return event

    def mark_processed(self, event: MemoryEvent, *, tags: list[str], entities: list[str]) -> MemoryEvent:
        meta = event.metadata.model_dump()
        meta.update(processed=True, organized_at=datetime.now(UTC).isoformat())
        updated = event.model_copy(update={
            "tags": sorted(set(event.tags) | set(tags)),
            "entities": sorted(set(event.entities) | set(entities)),
            "metadata": MemoryMetadata(**meta),
        })
        self.save([updated])
        return updated
