"""The requests the router learns each built-in skill from: `<skill id>.txt` here, one a line.

Written and reviewed at development time, never taken from the routing test sets. A plugin's skill
declares its own `examples` in its manifest the same way."""

from __future__ import annotations

from functools import cache
from pathlib import Path

FOLDER = Path(__file__).parent


@cache
def phrasings(skill_id: str) -> tuple[str, ...]:
    text = (FOLDER / f"{skill_id}.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())
