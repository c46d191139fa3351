"""Counts in words: "1 memory", "2 memories". One helper for every surface and skill, so no
message says "1 memories"."""

from __future__ import annotations

# Nouns whose plural is not the singular plus "s".
IRREGULAR = {"memory": "memories", "entry": "entries", "summary": "summaries", "query": "queries", "match": "matches"}


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and the noun in the number it takes: counted(1, "memory") == "1 memory"."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural or IRREGULAR.get(noun) or noun + 's'}"
