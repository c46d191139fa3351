"""Memory: events as JSON files (the truth) and a SQLite FTS index over them (memory/index.db)."""

from .events import MemoryCorrupt, MemoryEvent, MemoryMetadata, MemoryNotFound, new_event_id
from .store import MemoryStore, SearchHit

__all__ = ["MemoryCorrupt", "MemoryEvent", "MemoryMetadata", "MemoryNotFound", "MemoryStore", "SearchHit", "new_event_id"]
