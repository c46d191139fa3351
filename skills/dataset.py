"""Dataset skills: build, clean, verify. Each stage is audited as a `dataset` event for replay."""

from __future__ import annotations

import json

from pydantic import BaseModel, Field

from runtime.config import load_config
from runtime.datasets.build import build_dataset
from runtime.datasets.clean import clean_pairs
from runtime.datasets.store import DatasetNotFound, DatasetStore
from runtime.datasets.verify import verify_dataset
from runtime.errors import SkillFailed
from runtime.jsonio import atomic_write, pretty
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill
from runtime.words import counted

from .phrasings import phrasings


class DatasetBuildInput(BaseModel):
    days: float | None = Field(default=None, gt=0, description="only memories from the last N days")
    max: int | None = Field(default=None, ge=1, description="at most this many pairs")


class DatasetIdInput(BaseModel):
    id: str = Field(description="dataset id, e.g. ds-20261122T201500-ab12")


class DatasetBuildResult(BaseModel):
    id: str
    pairs: int
    memories: int
    skipped: dict[str, int]


class DatasetCleanResult(BaseModel):
    id: str
    report: dict


class DatasetVerifyResult(BaseModel):
    id: str
    sha256: str
    counts: dict[str, int]
    receipt: str


@skill(
    risk="low",
    asks=(
        "build a dataset", "build", "make", "create", "generate", "prepare", "assemble", "turn", "compile",
        "produce",
    ),
    describe=lambda r: f"Built {r['id']}: {counted(r['pairs'], 'pair')} from {counted(r['memories'], 'memory')}.",
    examples=phrasings("dataset_build"),
)
def dataset_build(ctx: SkillContext, args: DatasetBuildInput) -> DatasetBuildResult:
    """Turn memories into instruction pairs (raw stage): consent respected, newer memories weigh more."""
    cfg = load_config(ctx.home, "training.json").dataset
    report = build_dataset(ctx, cfg, days=args.days, max_pairs=args.max)
    ctx.audit.append("dataset", "built", details={"id": report.dataset_id, "pairs": report.pairs}, actor=ctx.actor)
    return DatasetBuildResult(id=report.dataset_id, pairs=report.pairs, memories=report.memories, skipped=dict(report.skipped))


@skill(
    risk="low",
    asks=(
        "clean", "tidy", "scrub", "sanitize", "sanitise", "clean up", "filter",
    ),
    describe=lambda r: f"Cleaned {r['id']}: kept {r['report']['kept']} of {r['report']['input_pairs']} pairs.",
    examples=phrasings("dataset_clean"),
)
def dataset_clean(ctx: SkillContext, args: DatasetIdInput) -> DatasetCleanResult:
    """Clean a raw dataset: normalise, drop empty/long/duplicate pairs, catch secrets (and PII if set)."""
    store = DatasetStore(ctx.home)
    source = store.raw(args.id)
    if not source.exists():
        raise DatasetNotFound(f"no raw dataset {args.id}", fix="build one with `mh dataset build`")
    rows = []
    try:
        for _number, row in store.read_pairs(source):
            rows.append(None if isinstance(row, Exception) else row)  # counted as malformed, never fatal
    except UnicodeDecodeError as exc:
        raise SkillFailed(f"{args.id} is not UTF-8 at byte {exc.start}", fix="rebuild it") from None
    cfg = load_config(ctx.home, "training.json").dataset
    kept, report = clean_pairs(rows, cfg)
    target = store.clean(args.id)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in kept))
    atomic_write(store.clean_report(args.id), pretty(report.as_dict()))
    ctx.audit.append("dataset", "cleaned", details={"id": args.id, **report.as_dict()}, actor=ctx.actor)
    return DatasetCleanResult(id=args.id, report=report.as_dict())


@skill(
    risk="medium",
    asks=(
        "verify", "sign", "validate", "approve", "sign off", "certify", "check",
    ),
    describe=lambda r: f"Verified {r['id']}: {r['counts']['train']} train, {r['counts']['eval']} eval; receipt {r['receipt']}.",
    examples=phrasings("dataset_verify"),
)
def dataset_verify(ctx: SkillContext, args: DatasetIdInput) -> DatasetVerifyResult:
    """Verify a clean dataset against etc/auto-approval.json, freeze it read-only and sign its receipt."""
    gates = load_config(ctx.home, "auto-approval.json").dataset
    receipt = verify_dataset(ctx, args.id, gates)  # writes the `dataset verified` entry, before the rename
    return DatasetVerifyResult(id=args.id, sha256=receipt.sha256, counts=receipt.counts,
                               receipt=f"state/receipts/{args.id}.json")


@hookimpl
def register_skills(register):
    for item in (dataset_build, dataset_clean, dataset_verify):
        register(item)
