"""Promoted adapters (state/models/adapters/<name>/v<N>/), signed training receipts, activation.

An adapter is promoted only when its run's gates passed; promotion copies its files, records the
sha256 of each and signs a training receipt (dataset receipt sha256, base sha256, adapter sha256,
gates) with this home's key. Activation checks that receipt and that the base is the one the chat
model uses, then writes persona/overrides/active-adapter.json, which the embedded model reads on its
next turn. Rollback removes that file: the chat falls back to the base model (as it does if the file
is deleted by hand).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import MhError
from ..home import Home
from ..jsonio import atomic_write, canonical, pretty, read_json_file
from ..keys import load_verifier
from ..models.llama import shipped_gguf
from .base import file_sha256
from .runs import RunDir

if TYPE_CHECKING:
    # what these functions take; a Runtime has the same members
    from ..skills import SkillContext


class TrainingReceipt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    run_id: str
    dataset_id: str
    dataset_sha256: str
    base_sha256: str
    adapter_sha256: str
    files: dict[str, str]
    gates: dict
    tags: list[str]
    created_at: str
    key_id: str
    signature: str = ""

    def body(self) -> bytes:
        return canonical(self.model_dump(exclude={"signature"})).encode()


class AdapterError(MhError):
    """An adapter cannot be promoted or activated."""


def promote(ctx: SkillContext, run_id: str, name: str, tags: list[str], *, actor: str) -> TrainingReceipt:
    if not name.replace("-", "").replace("_", "").isalnum():
        raise AdapterError(f"{name!r} is not a usable adapter name", fix="use letters, digits, - and _")
    run = RunDir.find(ctx.home.runs_dir, run_id)
    if not run.gates_passed():
        raise AdapterError(f"run {run_id}'s gates have not passed", fix=f"run `mh eval {run_id}`; only runs whose gates pass are promoted")
    saved = run.read_json("resolved_config.json")
    adapter_gguf = run.file("exports/adapter.gguf")
    if not adapter_gguf.exists():
        raise AdapterError(f"run {run_id} has no exports/adapter.gguf", fix=f"run `mh export {run_id} --format gguf-lora`")
    folder = ctx.home.adapters_dir / name
    version = 1 + max((int(p.name[1:]) for p in folder.glob("v*") if p.name[1:].isdigit()), default=0)
    staging = folder / f".v{version}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy2(adapter_gguf, staging / "adapter.gguf")
    shutil.copytree(run.file("adapter"), staging / "peft")
    files = {str(p.relative_to(staging)): file_sha256(p) for p in sorted(staging.rglob("*")) if p.is_file()}
    receipt = TrainingReceipt(
        name=name, version=version, run_id=run_id, dataset_id=saved["dataset"], dataset_sha256=saved["dataset_sha256"],
        base_sha256=saved["base_sha256"], adapter_sha256=files["adapter.gguf"], files=files,
        gates=run.read_json("eval/gates.json"), tags=tags, created_at=datetime.now(UTC).isoformat(),
        key_id=ctx.signer.key_id,
    )
    receipt = receipt.model_copy(update={"signature": ctx.signer.sign(receipt.body())})
    atomic_write(staging / "receipt.json", pretty(receipt.model_dump()))
    staging.rename(folder / f"v{version}")  # registered whole, or not at all
    ctx.audit.append("adapter", "promoted", details={"name": name, "version": version, "run": run_id,
                         "adapter_sha256": receipt.adapter_sha256}, actor=actor, level="security")
    return receipt


def list_adapters(home: Home) -> list[TrainingReceipt | str]:
    """Every promoted version's receipt, or a line saying why one cannot be read."""
    found: list[TrainingReceipt | str] = []
    for receipt_path in sorted(home.adapters_dir.glob("*/v*/receipt.json")):
        try:
            found.append(TrainingReceipt.model_validate(read_json_file(receipt_path)))
        except (OSError, ValueError, ValidationError) as exc:
            found.append(f"{receipt_path.parent}: unreadable receipt ({str(exc).splitlines()[0]})")
    return found


def checked(ctx: SkillContext, spec: str) -> tuple[TrainingReceipt, Path]:
    """The receipt and folder of NAME[@VERSION], after every check activation needs."""
    name, _, version = spec.partition("@")
    folder = ctx.home.adapters_dir / name
    versions = sorted(int(p.name[1:]) for p in folder.glob("v*") if p.name[1:].isdigit())
    if not versions:
        raise AdapterError(f"no adapter named {name!r}", fix="see `mh adapter list`")
    chosen = int(version.lstrip("v")) if version else versions[-1]
    path = folder / f"v{chosen}"
    try:
        receipt = TrainingReceipt.model_validate(read_json_file(path / "receipt.json"))
    except (OSError, ValueError, ValidationError) as exc:
        raise AdapterError(f"{name}@{chosen} has no valid training receipt: {str(exc).splitlines()[0]}",
                           fix="promote the run again") from None
    verifier = load_verifier(ctx.home)
    if receipt.key_id != verifier.key_id or not verifier.verify(receipt.body(), receipt.signature):
        raise AdapterError(f"{name}@{chosen}'s training receipt is not signed by this home's key",
                           fix="only adapters trained and promoted in this home can be activated")
    for relative, digest in receipt.files.items():
        if not (path / relative).exists() or file_sha256(path / relative) != digest:
            raise AdapterError(f"{name}@{chosen}: {relative} does not match its receipt", fix="promote the run again")
    if not receipt.gates.get("passed"):
        raise AdapterError(f"{name}@{chosen}'s gates did not pass", fix="train a better adapter")
    model = ctx.agent_config().model
    chat_sha = file_sha256(Path(model) if model else shipped_gguf())
    if chat_sha != receipt.base_sha256:
        raise AdapterError(f"{name}@{chosen} was trained for another base model (sha256 {receipt.base_sha256[:12]}…), "
                           f"the chat model is {chat_sha[:12]}…", fix="activate an adapter trained on the current model")
    return receipt, path


def active_record(home: Home) -> dict | None:
    """persona/overrides/active-adapter.json, or None while the base model is in use."""
    try:
        record = read_json_file(home.active_adapter_file)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AdapterError(f"persona/overrides/active-adapter.json: {exc}", fix="fix or delete the file") from None
    if not isinstance(record, dict):
        raise AdapterError("persona/overrides/active-adapter.json is not a JSON object", fix="fix or delete the file")
    return record


def activate(ctx: SkillContext, spec: str, *, actor: str) -> dict:
    receipt, path = checked(ctx, spec)
    record = {"name": receipt.name, "version": receipt.version, "gguf": str(path / "adapter.gguf"),
              "base_sha256": receipt.base_sha256, "adapter_sha256": receipt.adapter_sha256,
              "activated_at": datetime.now(UTC).isoformat()}
    target = ctx.home.active_adapter_file
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, pretty(record))
    ctx.audit.append("adapter", "activated", details={"name": receipt.name, "version": receipt.version},
                         actor=actor, level="security", sync=True)
    return record


def rollback(ctx: SkillContext, *, actor: str) -> dict | None:
    target = ctx.home.active_adapter_file
    try:
        previous = read_json_file(target)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        previous = {"name": "(unreadable record)"}
    target.unlink()
    ctx.audit.append("adapter", "deactivated", details={"name": previous.get("name"), "version": previous.get("version")},
                         actor=actor, level="security", sync=True)
    return previous
