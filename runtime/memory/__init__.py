"""Memory: events as JSON files (the truth) and a SQLite FTS index over them (memory/index.db)."""

from .events import CONVERSATION, MemoryCorrupt, MemoryEvent, MemoryMetadata, MemoryNotFound, is_unmarked_reply, new_event_id
from .store import MemoryStore, SearchHit

__all__ = ["CONVERSATION", "is_unmarked_reply", "MemoryCorrupt", "MemoryEvent", "MemoryMetadata", "MemoryNotFound", "MemoryStore", "SearchHit", "new_event_id"]
