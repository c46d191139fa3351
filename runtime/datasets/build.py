"""Build: memories -> raw instruction pairs, time-weighted, consent respected."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..config import DatasetConfig
from ..memory import CONVERSATION, MemoryCorrupt, is_unmarked_reply
from ..persona import load_persona
from .pairs import Pair, among_other_notes, identity_pairs, pairs_from_memory
from .store import DatasetStore

if TYPE_CHECKING:
    # what these functions take; a Runtime has the same members
    from ..skills import SkillContext


UNMARKED_REPLY = "model reply not marked good (`mh memory mark-good ID` to train on it)"


@dataclass
class BuildReport:
    dataset_id: str
    pairs: int
    memories: int
    skipped: Counter = field(default_factory=Counter)  # reason -> count


def build_dataset(ctx: SkillContext, cfg: DatasetConfig, *, days: float | None = None, max_pairs: int | None = None,
                  now: datetime | None = None) -> BuildReport:
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days) if days else None
    limit = max_pairs or cfg.max_pairs
    skipped: Counter = Counter()
    weighted: list[tuple[float, Pair]] = []
    notes: dict[str, str] = {}  # memory id -> its text, for the notes a grounded pair reads beside its own
    used = 0
    for _path, event in ctx.memory.events():
        if isinstance(event, MemoryCorrupt):
            skipped["unreadable memory file"] += 1
            continue
        if since and event.timestamp < since:
            skipped["older than --days"] += 1
            continue
        if not event.metadata.training_consent:
            skipped["no training consent"] += 1
            continue
        if is_unmarked_reply(event):
            skipped[UNMARKED_REPLY] += 1
            continue
        pairs = pairs_from_memory(event)
        if not pairs:
            skipped["nothing to learn (empty, or a conversation without a response)"] += 1
            continue
        used += 1
        if event.type != CONVERSATION:
            notes[event.id] = event.content
        age_days = max((now - event.timestamp).total_seconds() / 86400, 0.0)
        weight = 0.5 ** (age_days / cfg.half_life_days)
        weighted += [(weight, pair) for pair in pairs]
    weighted = _unambiguous(weighted, skipped)
    dated = [i for i, (_, pair) in enumerate(weighted) if pair.meta.get("dated")]
    if len(dated) > cfg.max_dated_pairs:
        kept = {dated[i] for i in _weighted_sample([weighted[i][0] for i in dated], cfg.max_dated_pairs, random.Random(cfg.seed))}
        skipped["dated pair beyond dataset.max_dated_pairs"] += len(dated) - len(kept)
        weighted = [item for i, item in enumerate(weighted) if i in kept or not item[1].meta.get("dated")]
    drawn = [weighted[i][1] for i in _weighted_sample([weight for weight, _ in weighted], limit, random.Random(cfg.seed))]
    chosen = among_other_notes(drawn, notes, random.Random(cfg.seed))
    skipped["not drawn by the time-weighted sample"] += len(weighted) - len(chosen)
    pairs = identity_pairs(load_persona(ctx.home)) + chosen
    store = DatasetStore(ctx.home)
    dataset_id = store.new_id()
    path = store.raw(dataset_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair.model_dump(), ensure_ascii=False) + "\n")
    tmp.replace(path)
    return BuildReport(dataset_id, len(pairs), used, +skipped)


def _unambiguous(weighted: list[tuple[float, Pair]], skipped: Counter) -> list[tuple[float, Pair]]:
    """Without the facts whose notes disagree: a question ("What is my shopping list?") that notes
    answer with different key words has no one answer, and learning it would teach a guess."""
    answers: dict[str, list[set[str]]] = {}
    for _, pair in weighted:
        if "fact" in pair.meta and not pair.meta.get("probe"):
            answers.setdefault(pair.meta["fact"], []).append({k.lower() for k in pair.meta["keys"]})
    ambiguous = {fact for fact, keys in answers.items() if not set.intersection(*keys)}
    dropped = [pair for _, pair in weighted if pair.meta.get("fact") in ambiguous]
    if dropped:
        skipped["question with different answers in different notes (not a fact)"] += len(dropped)
    return [(w, pair) for w, pair in weighted if pair.meta.get("fact") not in ambiguous]


def _weighted_sample(weights: list[float], limit: int, rng: random.Random) -> list[int]:
    """The indices of at most `limit` items, each drawn with probability growing with its weight
    (Efraimidis–Spirakis), in their original (oldest first) order."""
    if len(weights) <= limit:
        return list(range(len(weights)))
    keyed = sorted(range(len(weights)), key=lambda i: rng.random() ** (1 / max(weights[i], 1e-12)), reverse=True)
    return sorted(keyed[:limit])
