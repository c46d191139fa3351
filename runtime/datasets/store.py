"""Where datasets live and which stage each one is at."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import MhError
from ..home import Home

STAGES = ("raw", "clean", "verified")


class DatasetNotFound(MhError):
    """No dataset with that id at the stage asked for."""


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    stage: str
    pairs: int
    receipt: str  # "signed" | "missing" | "-" (before verify)


class DatasetStore:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.receipts = home.receipts_dir

    @staticmethod
    def new_id() -> str:
        return f"ds-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"

    def raw(self, dataset_id: str) -> Path:
        return self.home.datasets_raw / f"{_checked(dataset_id)}.jsonl"

    def clean(self, dataset_id: str) -> Path:
        return self.home.datasets_clean / f"{_checked(dataset_id)}.jsonl"

    def clean_report(self, dataset_id: str) -> Path:
        return self.home.datasets_clean / f"{_checked(dataset_id)}.report.json"

    def verified(self, dataset_id: str) -> Path:
        return self.home.datasets_verified / _checked(dataset_id)

    def receipt(self, dataset_id: str) -> Path:
        return self.receipts / f"{_checked(dataset_id)}.json"

    def stage_of(self, dataset_id: str) -> str | None:
        """The furthest stage the dataset has reached on disk."""
        if self.verified(dataset_id).is_dir():
            return "verified"
        if self.clean(dataset_id).exists():
            return "clean"
        if self.raw(dataset_id).exists():
            return "raw"
        return None

    def ids(self) -> list[str]:
        found = {p.stem for p in (self.home.datasets_raw).glob("ds-*.jsonl")}
        found |= {p.stem for p in (self.home.datasets_clean).glob("ds-*.jsonl")}
        found |= {p.name for p in (self.home.datasets_verified).glob("ds-*") if p.is_dir()}
        return sorted(found)

    def newest_verified(self) -> str:
        """The newest verified dataset (ids sort by creation time): what training uses when none is named."""
        verified = [i for i in self.ids() if self.stage_of(i) == "verified"]
        if not verified:
            raise DatasetNotFound("no verified dataset", fix="mh dataset build, then clean ID and verify ID")
        return verified[-1]

    def info(self, dataset_id: str) -> DatasetInfo:
        stage = self.stage_of(dataset_id)
        if stage is None:
            raise DatasetNotFound(f"no dataset {dataset_id}", fix="see `mh dataset list`")
        if stage == "verified":
            files = [self.verified(dataset_id) / name for name in ("train.jsonl", "eval.jsonl")]
            pairs = sum(_count_lines(p) for p in files if p.exists())
            receipt = "signed" if self.receipt(dataset_id).exists() else "missing"
        else:
            pairs = _count_lines(self.clean(dataset_id) if stage == "clean" else self.raw(dataset_id))
            receipt = "-"
        return DatasetInfo(dataset_id, stage, pairs, receipt)

    def read_pairs(self, path: Path) -> Iterator[tuple[int, Any]]:
        """(line number, parsed JSON or the exception) for every non-empty line."""
        with open(path, encoding="utf-8", errors="strict") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield number, json.loads(line)
                    except ValueError as exc:
                        yield number, exc


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def _checked(dataset_id: str) -> str:
    if not dataset_id.startswith("ds-") or not all(c.isalnum() or c in "-T" for c in dataset_id):
        raise DatasetNotFound(f"{dataset_id!r} is not a dataset id", fix="ids look like ds-20261122T201500-ab12")
    return dataset_id
