"""Signed receipts: what was verified, its bytes' sha256, the checks and thresholds, who signed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..jsonio import canonical, read_json_file
from ..keys import Signer, Verifier

TOOL = "mh 0.1.0"
FILES = ("train.jsonl", "eval.jsonl", "probe.jsonl")  # what verify writes (older datasets: no probe.jsonl)
REQUIRED = FILES[:2]


class Receipt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    stage: str
    files: dict[str, str]  # name -> sha256
    sha256: str  # of the canonical `files` map: one number for the whole dataset
    counts: dict[str, int]
    checks: list[str]
    thresholds: dict[str, Any]
    tool: str
    created_at: str
    key_id: str
    signature: str = ""

    def body(self) -> bytes:
        return canonical(self.model_dump(exclude={"signature"})).encode("utf-8")


def file_hashes(folder: Path, names: Iterable[str] = FILES) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in names}


def dataset_sha256(files: dict[str, str]) -> str:
    return hashlib.sha256(canonical(files).encode()).hexdigest()


def sign(receipt: Receipt, signer: Signer) -> Receipt:
    unsigned = receipt.model_copy(update={"key_id": signer.key_id, "signature": ""})
    return unsigned.model_copy(update={"signature": signer.sign(unsigned.body())})


def check(receipt_path: Path, folder: Path, verifier: Verifier, dataset_id: str) -> tuple[Receipt | None, str | None]:
    """(receipt, None) when it is signed by this home's key and the files still match it; else why not."""
    try:
        receipt = Receipt.model_validate(read_json_file(receipt_path))
    except FileNotFoundError:
        return None, "no receipt: the dataset was never verified by `mh dataset verify`"
    except (OSError, ValueError, ValidationError) as exc:
        return None, f"the receipt is not valid: {str(exc).splitlines()[0]}"
    if receipt.dataset_id != dataset_id:
        return None, f"the receipt is for {receipt.dataset_id}, not {dataset_id}"
    if not receipt.signature:
        return None, "the receipt is not signed"
    if receipt.key_id != verifier.key_id:
        return None, f"the receipt was signed by key {receipt.key_id}, not this home's key {verifier.key_id}"
    if not verifier.verify(receipt.body(), receipt.signature):
        return None, "the receipt's signature does not verify: it was edited after signing"
    if not set(REQUIRED) <= set(receipt.files) <= set(FILES):
        return None, f"the receipt does not name the dataset's files: {', '.join(sorted(receipt.files))}"
    try:  # the files its signed receipt names: a dataset verified before fact probes has none
        actual = file_hashes(folder, receipt.files)
    except FileNotFoundError as exc:
        return None, f"a verified file is missing: {Path(exc.filename).name}"
    extra = sorted(p.name for p in folder.iterdir() if p.name not in receipt.files and p.name != "manifest.json")
    if extra:
        return None, f"files were added to the verified dataset: {', '.join(extra)}"
    for name, digest in actual.items():
        if receipt.files.get(name) != digest:
            return None, f"{name} no longer matches its receipt (sha256 {digest[:12]}…, signed {receipt.files.get(name, '?')[:12]}…)"
    if dataset_sha256(actual) != receipt.sha256:
        return None, "the dataset's sha256 does not match the receipt"
    return receipt, None
