"""Datasets, read: every dataset with its stage (`mh dataset list`), one dataset in short (`mh dataset
show`) and the check of its signed receipt (`mh dataset receipt verify`). Reads only."""

from __future__ import annotations

from itertools import islice
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..datasets.receipts import check
from ..datasets.store import DatasetStore
from ..home import Home
from ..keys import load_verifier


class DatasetRow(BaseModel):
    id: str
    stage: Literal["raw", "clean", "verified"]
    pairs: int
    receipt: Literal["signed", "missing", "-"] = Field(description="'-' before verify")


class DatasetView(DatasetRow):
    sample: list[Any] = Field(description="the first pairs of its furthest stage; a line that is not JSON reads {'unreadable': why}")
    clean_report: str | None = Field(description="the clean report as `mh dataset clean` wrote it; None before clean")


class ReceiptCheck(BaseModel):
    dataset_id: str
    ok: bool
    problem: str | None = Field(description="why the receipt does not hold; None when it does")
    sha256: str | None = Field(description="the dataset's sha256 the receipt signs, when it holds")
    key_id: str | None = Field(description="the key that signed it, when it holds")


def list_datasets(home: Home) -> list[DatasetRow]:
    """Every dataset on disk, by id (ids sort by creation time)."""
    store = DatasetStore(home)
    return [_row(store, dataset_id) for dataset_id in store.ids()]


def show_dataset(home: Home, dataset_id: str, *, sample: int = 3) -> DatasetView:
    """Its stage and counts, its first `sample` pairs and its clean report (DatasetNotFound if there is none)."""
    store = DatasetStore(home)
    row = _row(store, dataset_id)
    source = {"raw": store.raw, "clean": store.clean}.get(row.stage, lambda i: store.verified(i) / "train.jsonl")(dataset_id)
    pairs = [value if not isinstance(value, Exception) else {"unreadable": f"line {number}: {value}"}
             for number, value in islice(store.read_pairs(source), max(sample, 0))]
    report = store.clean_report(dataset_id)
    return DatasetView(**row.model_dump(), sample=pairs, clean_report=report.read_text().strip() if report.exists() else None)


def check_receipt(home: Home, dataset_id: str) -> ReceiptCheck:
    """Whether the receipt is signed by this home's key and the frozen files still match it."""
    store = DatasetStore(home)
    receipt, problem = check(store.receipt(dataset_id), store.verified(dataset_id), load_verifier(home), dataset_id)
    return ReceiptCheck(dataset_id=dataset_id, ok=problem is None, problem=problem,
                        sha256=receipt.sha256 if receipt else None, key_id=receipt.key_id if receipt else None)


def _row(store: DatasetStore, dataset_id: str) -> DatasetRow:
    info = store.info(dataset_id)
    return DatasetRow(id=info.id, stage=info.stage, pairs=info.pairs, receipt=info.receipt)
