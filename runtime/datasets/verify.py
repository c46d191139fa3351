"""Verify: strict schema, the thresholds of etc/auto-approval.json, a held-out split; then freeze the
dataset read-only in verified/<id>/ and sign a receipt with the home's key.

Crash-safe order (a kill -9 may land between any two steps):
  1. the split is written and frozen in a hidden staging folder,
  2. the signed receipt is written atomically to state/receipts/<id>.json,
  3. the `dataset verified` audit entry is written and synced,
  4. the staging folder is renamed to verified/<id>/: the dataset becomes visible in one step.
Before step 4 the dataset is still `clean` (the firewall refuses it and a re-run verifies it again,
overwriting the receipt and logging again); after it the dataset is whole: folder, receipt and entry.
The receipt goes first rather than being recovered afterwards because a verified folder without a
receipt cannot be told apart from one whose receipt was deleted; a home left in that state by an
older version is rolled back (the folder is derived from clean/, which is kept) and verified again.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ..config import DatasetGates
from ..errors import MhError
from ..jsonio import atomic_write, pretty, sync_folder
from .pairs import LOW_CONFIDENCE, Pair, pair_sha256
from .receipts import TOOL, Receipt, dataset_sha256, file_hashes, sign
from .store import DatasetNotFound, DatasetStore

if TYPE_CHECKING:
    # what these functions take; a Runtime has the same members
    from ..skills import SkillContext


class VerifyFailed(MhError):
    """The dataset does not pass verification; nothing was frozen or signed."""


def verify_dataset(ctx: SkillContext, dataset_id: str, gates: DatasetGates) -> Receipt:
    store = DatasetStore(ctx.home)
    source = store.clean(dataset_id)
    final = store.verified(dataset_id)
    if final.exists() and store.receipt(dataset_id).exists():
        raise VerifyFailed(f"{dataset_id} is verified already", fix=f"see `mh dataset receipt verify {dataset_id}`")
    if not source.exists():
        raise DatasetNotFound(f"no clean dataset {dataset_id}", fix=f"run `mh dataset clean {dataset_id}` first")
    pairs: list[dict] = []
    try:
        for number, row in store.read_pairs(source):
            if isinstance(row, Exception):
                raise VerifyFailed(f"line {number} is not JSON: {row}", fix="rebuild and clean the dataset")
            try:
                Pair.model_validate(row)
            except ValidationError as exc:
                raise VerifyFailed(f"line {number} breaks the schema: {str(exc).splitlines()[1].strip()}",
                                   fix="pairs are {instruction, input, output, meta} with text values") from None
            pairs.append(row)
    except UnicodeDecodeError as exc:
        raise VerifyFailed(f"not UTF-8 at byte {exc.start}", fix="rebuild and clean the dataset") from None
    checks = ["schema: every line is {instruction, input, output, meta}"]
    pairs, probes = fact_probes(pairs)
    checks.append(f"fact probes: {len(probes)} questions held out of training")
    if len(pairs) < gates.min_pairs:
        raise VerifyFailed(f"{len(pairs)} pairs, fewer than min_pairs {gates.min_pairs}",
                           fix="capture or ingest more memories, or lower dataset.min_pairs in etc/auto-approval.json")
    checks.append(f"pairs {len(pairs)} >= min_pairs {gates.min_pairs}")
    low = sum(1 for p in pairs if float(p["meta"].get("confidence", 1.0)) < LOW_CONFIDENCE) / len(pairs)
    if low > gates.max_low_confidence_share:
        raise VerifyFailed(f"{low:.0%} of pairs are low-confidence, more than {gates.max_low_confidence_share:.0%}",
                           fix="add fuller memories, or raise dataset.max_low_confidence_share")
    checks.append(f"low-confidence share {low:.3f} <= {gates.max_low_confidence_share}")
    train, held_out = split(pairs, gates)
    checks.append(f"held-out split: {len(held_out)} eval, {len(train)} train")

    staging = final.with_name(f".{final.name}.tmp")
    _remove_frozen(staging)  # what a killed run left half written
    staging.mkdir(parents=True)
    for name, rows in (("train.jsonl", train), ("eval.jsonl", held_out), ("probe.jsonl", probes)):
        (staging / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    files = file_hashes(staging)
    receipt = sign(Receipt(
        dataset_id=dataset_id, stage="verified", files=files, sha256=dataset_sha256(files),
        counts={"pairs": len(pairs), "train": len(train), "eval": len(held_out), "probe": len(probes)}, checks=checks,
        thresholds=gates.model_dump(), tool=TOOL, created_at=datetime.now(UTC).isoformat(), key_id="",
    ), ctx.signer)
    atomic_write(staging / "manifest.json", pretty({"dataset_id": dataset_id, "files": files, "sha256": receipt.sha256}))
    for path in staging.iterdir():
        os.chmod(path, 0o444)
    os.chmod(staging, 0o555)
    os.sync()
    store.receipts.mkdir(parents=True, exist_ok=True)
    atomic_write(store.receipt(dataset_id), pretty(receipt.model_dump()))
    ctx.audit.append("dataset", "verified", details={"id": dataset_id, "sha256": receipt.sha256, "counts": receipt.counts},
                     actor=ctx.actor, level="security", sync=True)
    if final.exists():
        # Verified without a receipt: left by a version that renamed before it wrote the receipt.
        # Its files came from clean/, which is still here, so rolling it back loses nothing.
        _remove_frozen(final)
    staging.rename(final)  # the dataset becomes visible whole, its receipt and entry already written
    sync_folder(final.parent)
    return receipt


def _remove_frozen(folder: Path) -> None:
    """Remove a frozen (read-only) dataset folder; nothing if there is none."""
    if not folder.exists():
        return
    os.chmod(folder, 0o755)  # a frozen folder's entries cannot be unlinked until it is writable again
    shutil.rmtree(folder)


def fact_probes(pairs: list[dict]) -> tuple[list[dict], list[dict]]:
    """The pairs to train on, and the fact probes (one per question, its key words merged over the
    notes that state the fact), kept out of training. A probe worded like a training question is no
    probe: it is dropped."""
    taught = [p for p in pairs if not p["meta"].get("probe")]
    asked = {p["instruction"].lower() for p in taught}
    probes: dict[str, dict] = {}
    for pair in pairs:
        if not pair["meta"].get("probe") or pair["instruction"].lower() in asked or not pair["meta"].get("keys"):
            continue
        if (kept := probes.get(pair["instruction"].lower())) is None:
            probes[pair["instruction"].lower()] = {**pair, "meta": dict(pair["meta"])}
        else:
            kept["meta"]["keys"] = list(dict.fromkeys(kept["meta"]["keys"] + pair["meta"]["keys"]))
    return taught, list(probes.values())


def split(pairs: list[dict], gates: DatasetGates) -> tuple[list[dict], list[dict]]:
    """A held-out share chosen by each pair's content hash: the same pairs always land on the same side."""
    ranked = sorted(pairs, key=pair_sha256)
    count = max(gates.min_eval_pairs, round(len(pairs) * gates.eval_share))
    count = min(count, len(pairs) - 1)
    held = {pair_sha256(p) for p in ranked[:count]}
    return [p for p in pairs if pair_sha256(p) not in held], [p for p in pairs if pair_sha256(p) in held]
