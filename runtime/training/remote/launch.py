"""`mh train --remote`: check credentials, bundle, launch, train, bring back, verify, register, and
tear the machine down on every way out.

Each step is an audit entry (`remote` category: launch, upload, train, download, verify,
teardown). The machine is launched with autodown after `autostop_minutes` idle as a net, and mh
tears it down itself as soon as it is done with it: after success, after a failure, and on
SIGINT/SIGTERM. If `sky status` still shows the cluster afterwards, or `down` failed, the command
says so, names the cluster and exits 20 (TeardownUnconfirmed): it may still be billing.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import RunConfig
from ...datasets.firewall import open_for_training
from ...datasets.store import DatasetStore
from ...errors import MhError
from ...home import CHECKOUT
from ...keys import load_verifier
from ..runs import ExitCode, RunDir, new_run_id
from .bundle import BundleRefused, base_ref, build_bundle, check_manifest
from .client import SeamClient, SeamFailed
from .task import REMOTE_OUT, build_task, cloud_of, cluster_name
from .worker import JOURNAL, JOURNAL_DIR, NOT_OUTPUTS

if TYPE_CHECKING:
    from ...skills import SkillContext

POLL_S = 0.2
SETUP_ALLOWANCE_S = 1800  # provisioning and installing, on top of the job's own max_hours


class RemoteNotReady(MhError):
    """SkyPilot cannot use the infra asked for (no credentials, or not installed)."""


class RemoteInterrupted(MhError):
    exit_code = int(ExitCode.INTERRUPTED)


class TeardownUnconfirmed(MhError):
    exit_code = int(ExitCode.TEARDOWN_UNCONFIRMED)


@dataclass
class RemoteResult:
    run_id: str
    exit_code: ExitCode
    final_loss: float | None
    steps: int
    tokens_per_second: float | None
    remote: dict[str, Any] = field(default_factory=dict)


class _Stop:
    """SIGINT/SIGTERM while mh waits on SkyPilot: stop waiting, then tear down (main thread only)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, lambda *_: self.event.set())
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _op(seam: SeamClient, op: str, request: dict, log: Path, stop: _Stop, deadline: float) -> dict:
    """One seam op that may take long, given up (its process ended) on a stop request or the deadline."""
    proc = seam.start(op, request, log)
    while proc.poll() is None:
        if stop.event.is_set() or time.monotonic() > deadline:
            proc.terminate()
            proc.wait()
            why = "interrupted (SIGINT/SIGTERM)" if stop.event.is_set() else "past the run's time limit"
            raise RemoteInterrupted(f"{op} {why}", fix="the machine is torn down; start the run again")
        time.sleep(POLL_S)
    return seam.finish(op, proc, log)


def check_ready(seam: SeamClient, infra: str) -> None:
    cloud = cloud_of(infra)
    enabled = seam.call("check", {"infra": infra}, timeout=600)["enabled"]
    if cloud not in enabled:
        raise RemoteNotReady(f"SkyPilot has no usable credentials for infra {infra!r} (`sky check {cloud}` does not enable it)",
                             fix=f"set up {cloud} as README.md ('Remote training') shows, then run `sky check {cloud}` until it says enabled")


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape, from the file's JSON header (no tensor is loaded)."""
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if not 0 < size < 1 << 26:
            raise BundleRefused(f"{path.name} is not a safetensors file", fix="train again")
        header = json.loads(handle.read(size))
    return {name: info["shape"] for name, info in header.items() if name != "__metadata__"}


def base_sizes(gguf: Path) -> set[int]:
    """The widths a LoRA tensor on this base may have (hidden, key/value, feed-forward), read from
    the GGUF's metadata: no conversion, no weights loaded."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf))
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()

    def value(key: str) -> int:
        field_ = reader.fields[f"{arch}.{key}"]
        return int(field_.parts[field_.data[0]][0])

    hidden, heads = value("embedding_length"), value("attention.head_count")
    return {hidden, value("attention.head_count_kv") * (hidden // heads), value("feed_forward_length")}


def check_adapter(run: Path, config: RunConfig, base_sha256: str, sizes: set[int]) -> None:
    """The run was trained on this base, with these LoRA settings, and its tensors fit the base."""
    saved = json.loads((run / "resolved_config.json").read_text())
    if saved.get("base_sha256") != base_sha256:
        raise BundleRefused(f"the run was trained on another base (sha256 {str(saved.get('base_sha256'))[:12]}…)", fix="train again")
    report = json.loads((run / "report.json").read_text())
    if report.get("exit_code") != ExitCode.OK:
        return  # no adapter to check: the run ended early, and is registered as it ended
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text())
    if adapter.get("r") != config.lora.r or sorted(adapter.get("target_modules") or []) != sorted(config.lora.target_modules):
        raise BundleRefused("the adapter's LoRA settings are not the run's", fix="train again")
    for name, shape in _safetensors_shapes(run / "adapter" / "adapter_model.safetensors").items():
        rank, outer = (shape[0], shape[1]) if "lora_A" in name else (shape[1], shape[0])
        if len(shape) != 2 or rank != config.lora.r or outer not in sizes:
            raise BundleRefused(f"adapter tensor {name} {shape} does not fit the base", fix="train again on this base")


def train_remote(ctx: SkillContext, config: RunConfig, dataset_id: str, *, actor: str, quiet: bool = False,
                 seam: SeamClient | None = None) -> RemoteResult:
    remote = config.remote
    home = ctx.home
    dataset = open_for_training(ctx, dataset_id, actor=actor)  # the firewall holds here before anything leaves
    run_id = new_run_id()
    work = home.remote_dir / run_id
    task = build_task(remote, run_id=run_id, bundle=work / "bundle", pyproject=CHECKOUT / "pyproject.toml")
    infra = str(remote.infra)
    seam = seam or SeamClient.default()
    try:
        check_ready(seam, infra)
    except (RemoteNotReady, SeamFailed) as exc:
        ctx.audit.append("remote", "not_ready", details={"infra": infra, "reason": exc.message}, actor=actor, level="warning")
        raise
    store = DatasetStore(home)
    spec = build_bundle(work / "bundle", run_id=run_id, dataset_id=dataset_id, dataset_dir=dataset.train.parent,
                        receipt=store.receipt(dataset_id), dataset_sha256=dataset.receipt.sha256,
                        public_key=home.public_key_file, key_id=load_verifier(home).key_id, config=config)
    cluster = cluster_name(run_id)
    facts: dict[str, Any] = {"engine": remote.engine, "infra": infra, "accelerators": remote.accelerators, "cluster": cluster}
    estimate = seam.call("estimate", {"task": task}, timeout=600)
    hourly = estimate.get("hourly_usd")
    if remote.max_cost_usd is not None and (hourly is None or hourly * remote.max_hours > remote.max_cost_usd):
        shutil.rmtree(work)
        price = "an unknown price" if hourly is None else f"${hourly:.2f}/h x {remote.max_hours} h = ${hourly * remote.max_hours:.2f}"
        ctx.audit.append("remote", "over_budget", details={**facts, "hourly_usd": hourly}, actor=actor, level="warning")
        raise MhError(f"{estimate.get('resources') or remote.accelerators} costs {price}, over the ceiling of ${remote.max_cost_usd:.2f}",
                      fix="raise remote.max_cost_usd, lower remote.max_hours, or pick cheaper accelerators")
    log = work / "skypilot.log"
    started = time.monotonic()
    deadline = started + remote.max_hours * 3600 + SETUP_ALLOWANCE_S
    problem: MhError | None = None
    result: RemoteResult | None = None
    with _Stop() as stop:
        try:
            ctx.audit.append("remote", "launch", details={**facts, "run": run_id, "hourly_usd": hourly}, actor=actor, level="security")
            job_id = _op(seam, "launch", {"task": task, "cluster": cluster, "autostop_minutes": remote.autostop_minutes},
                         log, stop, deadline)["job_id"]
            ctx.audit.append("remote", "upload", details={"run": run_id, "cluster": cluster, "job": job_id,
                             "bundle_files": len(json.loads((work / "bundle" / "manifest.json").read_text())["files"])}, actor=actor)
            status = _op(seam, "wait", {"cluster": cluster, "job_id": job_id}, log, stop, deadline)["status"]
            ctx.audit.append("remote", "train", details={"run": run_id, "cluster": cluster, "status": status}, actor=actor)
            back = work / "back"
            _op(seam, "download", {"cluster": cluster, "remote": f"{REMOTE_OUT}/{JOURNAL_DIR}", "local": str(back / JOURNAL_DIR)}, log, stop, deadline)
            refused = _refusal(back / JOURNAL_DIR / JOURNAL)
            if refused:
                raise BundleRefused(f"the worker refused the run: {refused}", fix="see the journal in " + str(back / JOURNAL_DIR))
            _op(seam, "download", {"cluster": cluster, "remote": f"{REMOTE_OUT}/state/runs/{run_id}", "local": str(back / run_id)},
                log, stop, deadline)
            ctx.audit.append("remote", "download", details={"run": run_id, "cluster": cluster}, actor=actor)
            facts["wall_s"] = round(time.monotonic() - started, 1)
            facts["cost_estimate_usd"] = None if hourly is None else round(hourly * facts["wall_s"] / 3600, 4)
            result = bring_back(ctx, config, spec.base.sha256, back, run_id, facts, actor=actor)
        except MhError as exc:
            problem = exc
        finally:
            confirmed, why = _teardown(seam, cluster)
            if not confirmed:  # said at once, whatever else went wrong: it may be billing
                sys.stderr.write(f"\n!!! TEARDOWN NOT CONFIRMED for cluster {cluster}: {why}. Run `sky down {cluster}` now.\n")
            ctx.audit.append("remote", "teardown", details={"cluster": cluster, "confirmed": confirmed, "why": why},
                             actor=actor, level="info" if confirmed else "error", sync=True)
    if not confirmed:
        before = f" (and before that: {problem.message})" if problem else ""
        raise TeardownUnconfirmed(f"TEARDOWN NOT CONFIRMED for cluster {cluster}: {why}; it may still be running and billing{before}",
                                  fix=f"run `sky down {cluster}` and check `sky status` until it is gone")
    if problem is not None:
        raise problem
    assert result is not None
    return result


def _refusal(journal: Path) -> str | None:
    if not journal.exists():
        return None
    for line in journal.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("event") == "refused":
            return str(entry.get("details", {}).get("reason"))
    return None


def _teardown(seam: SeamClient, cluster: str) -> tuple[bool, str]:
    """(confirmed, why not): `down`, then `status` must no longer list the cluster."""
    try:
        seam.call("down", {"cluster": cluster}, timeout=1800)
        left = seam.call("exists", {"cluster": cluster}, timeout=600)
    except SeamFailed as exc:
        return False, exc.message
    if left["exists"]:
        return False, f"`sky status` still lists it ({left.get('status')})"
    return True, "gone"


def bring_back(ctx: SkillContext, config: RunConfig, base_sha256: str, back: Path, run_id: str, facts: dict[str, Any],
               *, actor: str) -> RemoteResult:
    """Verify what came back (every sha256 against the manifest, the adapter against the base),
    then register it under state/runs/ like a local run, report.json saying where it ran."""
    folder = back / run_id
    try:
        check_manifest(folder, NOT_OUTPUTS)
        base, base_path = base_ref(config)
        if base.sha256 != base_sha256:
            raise BundleRefused("the base changed here while the run was away", fix="train again")
        check_adapter(folder, config, base_sha256, base_sizes(base_path))
    except BundleRefused as exc:
        ctx.audit.append("remote", "verify", details={"run": run_id, "ok": False, "reason": exc.message}, actor=actor,
                         level="security", sync=True)
        raise
    ctx.audit.append("remote", "verify", details={"run": run_id, "ok": True}, actor=actor)
    target = ctx.home.runs_dir / run_id
    if target.exists():
        raise MhError(f"a run {run_id} exists here already", fix=f"the brought-back copy stays in {folder}")
    for marker in NOT_OUTPUTS:
        (folder / marker).unlink(missing_ok=True)
    journal = back / JOURNAL_DIR / JOURNAL
    if journal.exists():
        shutil.copyfile(journal, folder / "logs" / "worker-journal.jsonl")
    if (back.parent / "skypilot.log").exists():
        shutil.copyfile(back.parent / "skypilot.log", folder / "logs" / "skypilot.log")
    run = RunDir(folder)
    report = run.read_json("report.json")
    report["remote"] = facts
    run.write_json("report.json", report)
    ctx.home.runs_dir.mkdir(parents=True, exist_ok=True)
    folder.rename(target)
    code = ExitCode(report["exit_code"])
    summary = RunDir(target).read_json("metrics/summary.json") or {}
    ctx.audit.append("train", code.name.lower(), details={"run": run_id, "exit_code": int(code), "steps": report.get("steps"),
                     "final_loss": report.get("final_loss"), "remote": facts["cluster"]}, actor=actor,
                     level="info" if code is ExitCode.OK else "warning")
    shutil.rmtree(back.parent, ignore_errors=True)  # the bundle and the staging: the run is home now
    return RemoteResult(run_id, code, report.get("final_loss"), int(report.get("steps") or 0), summary.get("tokens_per_second"), facts)
