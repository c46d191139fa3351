"""The trainer firewall: the only way a dataset reaches training. It fails closed, says why, and
records every refusal as a security event."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ..errors import MhError
from ..keys import load_verifier
from .receipts import Receipt, check
from .store import DatasetStore

if TYPE_CHECKING:
    # what these functions take; a Runtime has the same members
    from ..skills import SkillContext


class FirewallRefused(MhError):
    """Training may not use this dataset."""


@dataclass(frozen=True)
class VerifiedDataset:
    id: str
    train: Path
    eval: Path
    probe: Path  # fact probes (absent from datasets verified before there were any)
    receipt: Receipt


def open_for_training(ctx: SkillContext, dataset_id: str, *, actor: str) -> VerifiedDataset:
    store = DatasetStore(ctx.home)
    try:
        folder = store.verified(dataset_id)
        stage = store.stage_of(dataset_id)
    except MhError as exc:
        _refuse(ctx, dataset_id, exc.message, actor)
    if stage != "verified":
        where = f"it is at stage {stage}" if stage else "no such dataset exists"
        _refuse(ctx, dataset_id, f"not verified: {where}", actor)
    receipt, problem = check(store.receipt(dataset_id), folder, load_verifier(ctx.home), dataset_id)
    if problem is not None:
        _refuse(ctx, dataset_id, problem, actor)
    ctx.audit.append("dataset", "opened_for_training", details={"id": dataset_id, "sha256": receipt.sha256}, actor=actor)
    return VerifiedDataset(dataset_id, folder / "train.jsonl", folder / "eval.jsonl", folder / "probe.jsonl", receipt)


def _refuse(ctx: SkillContext, dataset_id: str, reason: str, actor: str) -> NoReturn:
    ctx.audit.append("dataset", "refused", details={"id": dataset_id, "reason": reason}, actor=actor,
                         level="security", sync=True)
    raise FirewallRefused(f"training refuses dataset {dataset_id}: {reason}",
                          fix="build, clean and verify a dataset (mh dataset build/clean/verify), and train on that")
