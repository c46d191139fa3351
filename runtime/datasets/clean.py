"""Clean: normalise, drop empty/over-long/duplicate/near-duplicate pairs, catch secrets, optionally PII."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import DatasetConfig
from ..secrets import redact_secrets

TEXT_FIELDS = ("instruction", "input", "output")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SPACES = re.compile(r"[ \t\u00a0]+")
BLANK_LINES = re.compile(r"\n{3,}")
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
PHONE = re.compile(r"(?<!\w)\+?\d[\d ().-]{7,}\d(?!\w)")

PERMUTATIONS = 64
BANDS = 16  # 16 bands of 4 rows: pairs above ~0.5 Jaccard become candidates, then are checked exactly
PRIME = (1 << 61) - 1
_rng = np.random.default_rng(20261122)
_A = _rng.integers(1, 1 << 31, PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, 1 << 31, PERMUTATIONS, dtype=np.uint64)


@dataclass
class CleanReport:
    input_pairs: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    secrets: Counter = field(default_factory=Counter)
    pii: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"input_pairs": self.input_pairs, "kept": self.kept, "dropped": dict(self.dropped),
                "secrets": dict(self.secrets), "pii": dict(self.pii)}


def normalise(text: str) -> str:
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates from mixed encodings
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = CONTROL.sub("", text)
    text = "\n".join(SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return BLANK_LINES.sub("\n\n", text).strip()


def shingles(text: str) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    if len(words) < 3:
        return {zlib.crc32(" ".join(words).encode())}
    return {zlib.crc32(" ".join(words[i : i + 3]).encode()) for i in range(len(words) - 2)}


def minhash(values: set[int]) -> np.ndarray:
    x = np.fromiter(values, dtype=np.uint64, count=len(values))
    return ((_A[:, None] * x[None, :] + _B[:, None]) % PRIME).min(axis=1)


class NearDuplicates:
    """MinHash + LSH: each new text is compared only with earlier texts that share a band bucket,
    so the work grows with the number of texts, not with its square."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.buckets: list[dict[bytes, list[int]]] = [{} for _ in range(BANDS)]
        self.kept: list[set[int]] = []

    def seen(self, text: str) -> bool:
        values = shingles(text)
        signature = minhash(values)
        rows = PERMUTATIONS // BANDS
        keys = [signature[b * rows : (b + 1) * rows].tobytes() for b in range(BANDS)]
        candidates = {i for band, key in enumerate(keys) for i in self.buckets[band].get(key, ())}
        for i in candidates:
            other = self.kept[i]
            if len(values & other) / len(values | other) >= self.threshold:
                return True
        index = len(self.kept)
        self.kept.append(values)
        for band, key in enumerate(keys):
            self.buckets[band].setdefault(key, []).append(index)
        return False


def clean_pairs(rows: list[Any], cfg: DatasetConfig) -> tuple[list[dict[str, Any]], CleanReport]:
    report = CleanReport(input_pairs=len(rows))
    kept: list[dict[str, Any]] = []
    exact: set[str] = set()
    near = NearDuplicates(cfg.near_duplicate_jaccard)
    for row in rows:
        if not isinstance(row, dict) or not all(isinstance(row.get(f, ""), str) for f in TEXT_FIELDS) or "output" not in row:
            report.dropped["malformed"] += 1
            continue
        pair = {f: normalise(row.get(f, "")) for f in TEXT_FIELDS}
        pair["meta"] = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        if not pair["instruction"] or not pair["output"]:
            report.dropped["empty"] += 1
            continue
        if sum(len(pair[f]) for f in TEXT_FIELDS) > cfg.max_pair_chars:
            report.dropped["too long"] += 1
            continue
        found: Counter = Counter()
        for f in TEXT_FIELDS:
            pair[f], counts = redact_secrets(pair[f], high_entropy=True)
            found += counts
        if found:
            report.secrets += found
            if cfg.secrets == "drop":
                report.dropped["secret"] += 1
                continue
        if cfg.pii:
            for f in TEXT_FIELDS:
                for label, pattern in (("email", EMAIL), ("phone", PHONE)):
                    pair[f], n = pattern.subn(f"[{label.upper()}]", pair[f])
                    report.pii[label] += n
        if "keys" in pair["meta"]:  # a fact's key words: only those its answer still holds once redacted
            pair["meta"] = {**pair["meta"], "keys": [k for k in pair["meta"]["keys"] if isinstance(k, str) and k in pair["output"]]}
        key = hashlib.sha256("\x1f".join(pair[f].lower() for f in TEXT_FIELDS).encode()).hexdigest()
        if key in exact:
            report.dropped["duplicate"] += 1
            continue
        exact.add(key)
        # The wordings of one fact's question are alike on purpose (and a fact two notes state is
        # taught twice on purpose); fact pairs word for word the same are still dropped above.
        if "fact" not in pair["meta"] and near.seen(f"{pair['instruction']} {pair['input']} {pair['output']}"):
            report.dropped["near duplicate"] += 1
            continue
        kept.append(pair)
    report.kept = len(kept)
    report.pii = +report.pii
    return kept, report
