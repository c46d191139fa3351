"""The trainer firewall: the only way a dataset reaches training. It fails closed, says why, and
records every refusal as a security event."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from ..errors import MhError
from ..keys import load_verifier
from .receipts import Receipt, check
from .store import DatasetStore


class FirewallRefused(MhError):
    """Training may not use this dataset."""


@dataclass(frozen=True)
class VerifiedDataset:
    id: str
    train: Path
    eval: Path
    receipt: Receipt


def open_for_training(runtime, dataset_id: str, *, actor: str) -> VerifiedDataset:
    store = DatasetStore(runtime.home)
    try:
        folder = store.verified(dataset_id)
        stage = store.stage_of(dataset_id)
    except MhError as exc:
        _refuse(runtime, dataset_id, exc.message, actor)
    if stage != "verified":
        where = f"it is at stage {stage}" if stage else "no such dataset exists"
        _refuse(runtime, dataset_id, f"not verified: {where}", actor)
    receipt, problem = check(store.receipt(dataset_id), folder, load_verifier(runtime.home), dataset_id)
    if problem is not None:
        _refuse(runtime, dataset_id, problem, actor)
    runtime.audit.append("dataset", "opened_for_training", details={"id": dataset_id, "sha256": receipt.sha256}, actor=actor)
    return VerifiedDataset(dataset_id, folder / "train.jsonl", folder / "eval.jsonl", receipt)


def _refuse(runtime, dataset_id: str, reason: str, actor: str) -> NoReturn:
    runtime.audit.append("dataset", "refused", details={"id": dataset_id, "reason": reason}, actor=actor,
                         level="security", sync=True)
    raise FirewallRefused(f"training refuses dataset {dataset_id}: {reason}",
                          fix="build, clean and verify a dataset (mh dataset build/clean/verify), and train on that")
