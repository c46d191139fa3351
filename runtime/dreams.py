"""Dreams and reflections, made only of the person's own sentences (extractive; no model writes a word).

A **dream** (the sleep service, once a night) recombines a weighted sample of memories: a sentence
from each of two or three memories, newer and more important memories weighing more. A
**reflection** (the boredom service, after idle time) gathers the sentences most central to the
person's recent memories. Both link the ids of the memories their sentences come from, and the
`memory_compose` skill refuses any line that is not a whole sentence of one of the linked memories,
and links to dreams or reflections: neither can say something the person did not write. Neither
draws from earlier dreams or reflections.

Everything here is pure: the same memories and the same seed give the same result, which is what
makes a night killed halfway resumable without doubling a dream (see runtime/sleep.py).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime

from .extractive import sentences, summary

COMPOSED_TYPES = ("dream", "reflection")  # never drawn from: a dream of a dream would drift from what was written
HALF_LIFE_DAYS = 30.0  # a memory this old weighs half as much in a dream's sample
SOURCES_PER_DREAM = 3
REFLECTION_LINES = 3
MIN_WORDS = 3
MAX_SENTENCE_CHARS = 300


@dataclass(frozen=True)
class Composed:
    content: str  # one quoted sentence a line
    links: list[str]  # the memories the lines come from, in line order, once each


def plain(text: str) -> str:
    """Whitespace collapsed: how lines are compared with the text they come from."""
    return " ".join(text.split())


def quotable(content: str) -> list[str]:
    """The sentences of a memory worth quoting: prose and list items of a few words, not headings or code."""
    found = []
    whole = plain(content)
    for sentence in sentences(content):
        line = plain(sentence.lstrip("-*+ ").strip())
        if line and not line.startswith(("#", "|", "```")) and len(line.split()) >= MIN_WORDS and len(line) <= MAX_SENTENCE_CHARS \
                and line in whole:  # word for word in the memory, whatever the sentence splitter made of it
            found.append(line)
    return found


def weight(row: dict, now: datetime) -> float:
    age_days = max(0.0, (now - datetime.fromisoformat(row["timestamp"])).total_seconds() / 86400)
    return max(0.05, float(row.get("importance") or 0.5)) * 0.5 ** (age_days / HALF_LIFE_DAYS)


def dreams(rows: list[dict], *, count: int, seed: str, now: datetime) -> list[Composed]:
    """Up to `count` dreams from `rows` (index rows: id, timestamp, type, content, importance).
    Fewer when there is too little to recombine: a dream needs two memories with quotable sentences."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    pool = [(row, lines) for row in sorted(rows, key=lambda r: r["id"])
            if row["type"] not in COMPOSED_TYPES and (lines := quotable(row["content"]))]
    weights = [weight(row, now) for row, _ in pool]  # once, not at every draw
    made: list[Composed] = []
    seen: set[str] = set()
    for _ in range(count * 3):  # a few more draws than dreams, for the repeats that are skipped
        if len(made) == count or len(pool) < 2:
            break
        left = list(range(len(pool)))
        picked = []
        for _ in range(min(SOURCES_PER_DREAM, len(left))):
            index = rng.choices(range(len(left)), weights=[weights[i] for i in left])[0]
            picked.append(pool[left.pop(index)])
        quoted: list[tuple[str, str]] = []
        for row, lines in picked:
            fresh = [line for line in lines if line not in {text for _, text in quoted}]
            if fresh:  # the same sentence in two memories is quoted once
                quoted.append((row["id"], rng.choice(fresh)))
        content = "\n".join(text for _, text in quoted)
        if len(quoted) < 2 or content in seen:
            continue
        seen.add(content)
        made.append(Composed(content, [source for source, _ in quoted]))
    return made


def reflection(rows: list[dict]) -> Composed | None:
    """The sentences most central to these (recent) memories, each linked to its memory; None when
    they hold nothing quotable."""
    owner: dict[str, str] = {}
    for row in rows:
        if row["type"] in COMPOSED_TYPES:
            continue
        for line in quotable(row["content"]):
            owner.setdefault(line, row["id"])
    if not owner:
        return None
    chosen = [plain(line) for line in summary("\n\n".join(owner), max_sentences=REFLECTION_LINES, max_chars=3000).sentences]
    lines = [line for line in chosen if line in owner]
    if not lines:
        return None
    return Composed("\n".join(lines), list(dict.fromkeys(owner[line] for line in lines)))


def ungrounded_lines(content: str, sources: list[str]) -> list[str]:
    """The lines of `content` that are not a whole quotable sentence of one of `sources`: a part of
    a sentence ("I love Anna" of "I never said I love Anna.") could say the opposite of it."""
    whole = {line for source in sources for line in quotable(source)}
    return [line for line in (plain(raw) for raw in content.splitlines()) if line and line not in whole]
