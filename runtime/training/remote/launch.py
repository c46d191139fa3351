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
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ...config import RunConfig
from ...datasets.firewall import open_for_training
from ...datasets.store import DatasetStore
from ...errors import MhError
from ...home import CHECKOUT
from ...jsonio import read_json_file
from ...keys import load_verifier
from ..runs import STOP_REQUEST, ExitCode, RunDir, new_run_id
from ..trainer import checkpoint_path, saved_config
from .bundle import MANIFEST, BundleRefused, base_ref, build_bundle, check_manifest, write_manifest
from .client import SeamClient, SeamFailed
from .task import REMOTE_OUT, build_task, cloud_of, cluster_name
from .worker import JOURNAL, JOURNAL_DIR, NOT_OUTPUTS

if TYPE_CHECKING:
    from ...skills import SkillContext

POLL_S = 0.2
ASK_TO_STOP_S = 300  # for the small job that creates the stop request on the machine
STOP_GRACE_S = 900  # for the run on the machine to finish its step, checkpoint and end, once asked to stop
SETUP_ALLOWANCE_S = 1800  # provisioning and installing, on top of the job's own max_hours
# What a run brought back may hold at its top level: what the trainer writes there. Gates and the
# GGUF llama.cpp loads are never taken from the remote (a hostile machine could write
# {"passed": true} and any GGUF): eval/ must come back empty, exports/ is rebuilt here from the
# checked adapter.
RUN_ENTRIES = frozenset({"adapter", "checkpoints", "logs", "metrics", "report.json", "resolved_config.json", "env.json", MANIFEST})
EVAL = "eval"
REBUILT = "exports"
MAX_JOURNAL_BYTES = 16 << 20
MAX_FILE_BYTES = 8 << 30  # rsync --max-size: no single file of a LoRA run comes near it
MAX_BACK_BYTES = 32 << 30  # the whole run: checked after the copy (rsync has no total cap)


class RemoteNotReady(MhError):
    """SkyPilot cannot use the infra asked for (no credentials, or not installed)."""


class RemoteInterrupted(MhError):
    exit_code = int(ExitCode.INTERRUPTED)


class TeardownUnconfirmed(MhError):
    exit_code = int(ExitCode.TEARDOWN_UNCONFIRMED)

    def __init__(self, message: str, *, fix: str | None = None, run_id: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.run_id = run_id  # the run, when it came back and was registered before teardown failed


class RemoteFacts(BaseModel):
    """Where a remote run ran, as report.json's "remote" and the train_remote result say it."""

    model_config = ConfigDict(extra="forbid")

    engine: str
    infra: str
    accelerators: str
    cluster: str
    wall_s: float | None = None
    cost_estimate_usd: float | None = None


@dataclass
class RemoteResult:
    run_id: str
    exit_code: ExitCode
    final_loss: float | None
    steps: int
    tokens_per_second: float | None
    remote: RemoteFacts


class _Stop:
    """SIGINT/SIGTERM while mh waits on SkyPilot (main thread only). The first asks the run on the
    machine to checkpoint and stop, so it comes back resumable; a second one stops waiting at once
    (then the machine is torn down, and what it trained since its last download is lost)."""

    def __init__(self) -> None:
        self.event = threading.Event()  # a stop was asked for
        self.now = threading.Event()  # asked for twice: no more waiting
        self.graceful = False  # the run on the machine was asked to stop: wait for it to come back
        self.previous: dict[int, Any] = {}

    def _signal(self, *_: object) -> None:
        (self.now if self.event.is_set() else self.event).set()

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _op(seam: SeamClient, op: str, request: dict, log: Path, stop: _Stop, deadline: float,
        ask_to_stop: Callable[[], bool] | None = None) -> dict:
    """One seam op that may take long, given up (its process ended) on a stop request or the
    deadline, unless `ask_to_stop` got the run on the machine to stop by itself: then it is given
    STOP_GRACE_S to checkpoint and end (a second signal still ends the wait at once)."""
    proc = seam.start(op, request, log)
    while proc.poll() is None:
        stopping = stop.now.is_set() or (stop.event.is_set() and not stop.graceful) or time.monotonic() > deadline
        if stopping and ask_to_stop is not None and not stop.graceful and not stop.now.is_set() and ask_to_stop():
            stop.graceful = True
            deadline = time.monotonic() + STOP_GRACE_S
            continue
        if stopping:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
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


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class BackReport(_Loose):
    """The fields of a brought-back report.json mh acts on (a remote wrote it: nothing else is trusted)."""

    exit_code: ExitCode
    steps: int | None = None
    final_loss: float | None = None


class BackResolved(_Loose):
    base_sha256: str


class BackLora(_Loose):
    r: int
    target_modules: list[str]


class TensorInfo(_Loose):
    shape: list[int]


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape, from the file's JSON header (no tensor is loaded)."""
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if not 0 < size < 1 << 26:
            raise BundleRefused(f"{path.name} is not a safetensors file", fix="train again")
        header = json.loads(handle.read(size))
    if not isinstance(header, dict):
        raise BundleRefused(f"{path.name} has no tensor table", fix="train again")
    return {name: TensorInfo.model_validate(info).shape for name, info in header.items() if name != "__metadata__"}


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


def check_adapter(run: Path, config: RunConfig, base_sha256: str, sizes: set[int]) -> BackReport:
    """The run holds only what a trainer writes, was trained on this base with these LoRA settings,
    and its adapter (whenever there is one, whatever the report says) fits the base; its report.
    Anything unreadable (too big, not JSON, not the expected shape) is a refusal, not a crash."""
    try:
        return _check_adapter(run, config, base_sha256, sizes)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # ValueError covers pydantic's ValidationError
        why = str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else f"{exc.error_count()} invalid field(s)"
        raise BundleRefused(f"the run that came back cannot be read: {type(exc).__name__}: {why}", fix="train again") from None


def _check_adapter(run: Path, config: RunConfig, base_sha256: str, sizes: set[int]) -> BackReport:
    extra = sorted(p.name for p in run.iterdir() if p.name not in RUN_ENTRIES | {EVAL, REBUILT} | NOT_OUTPUTS)
    if extra:
        raise BundleRefused(f"the run that came back holds {', '.join(extra)}, which no trainer writes",
                            fix="do not trust this machine's output; train again")
    if (run / EVAL).exists() and any((run / EVAL).iterdir()):
        raise BundleRefused("the run that came back holds eval/ results: gates are made here, by `mh eval`, never taken from the machine",
                            fix="do not trust this machine's output; train again")
    saved = BackResolved.model_validate(read_json_file(run / "resolved_config.json"))
    if saved.base_sha256 != base_sha256:
        raise BundleRefused(f"the run was trained on another base (sha256 {saved.base_sha256[:12]}…)", fix="train again")
    report = BackReport.model_validate(read_json_file(run / "report.json"))
    adapter = run / "adapter"
    if not adapter.exists():
        if report.exit_code is ExitCode.OK:
            raise BundleRefused("the run says it finished but brought no adapter back", fix="train again")
        return report  # the run ended early without an adapter, and is registered as it ended
    lora = BackLora.model_validate(read_json_file(adapter / "adapter_config.json"))
    if lora.r != config.lora.r or sorted(lora.target_modules) != sorted(config.lora.target_modules):
        raise BundleRefused("the adapter's LoRA settings are not the run's", fix="train again")
    for name, shape in _safetensors_shapes(adapter / "adapter_model.safetensors").items():
        if len(shape) != 2:
            raise BundleRefused(f"adapter tensor {name} {shape} does not fit the base", fix="train again on this base")
        rank, outer = (shape[0], shape[1]) if "lora_A" in name else (shape[1], shape[0])
        if rank != config.lora.r or outer not in sizes:
            raise BundleRefused(f"adapter tensor {name} {shape} does not fit the base", fix="train again on this base")
    return report


def worst_case_hours(remote) -> float:
    """The longest mh may rent the machine: the job's limit, setup and provisioning, and the idle
    time before autostop takes it down if mh's own teardown never comes."""
    return remote.max_hours + SETUP_ALLOWANCE_S / 3600 + remote.autostop_minutes / 60


def resume_remote(ctx: SkillContext, run_id: str, *, actor: str, seam: SeamClient | None = None) -> RemoteResult:
    """Continue an interrupted run (trained here or on a rented machine) on a rented machine, from its
    last checkpoint: the run folder travels in the bundle, the worker resumes it, and what comes back
    replaces the run here once verified. The checkpoint is checked whole before anything is rented."""
    run = RunDir.find(ctx.home.runs_dir, run_id)
    status = run.report().get("status")
    if status not in ("interrupted", "gone"):
        raise MhError(f"run {run_id} is {status}, not interrupted: there is nothing to resume",
                      fix="`mh runs` lists the runs; only an interrupted one can be resumed")
    checkpoint_path(run, None)
    config, dataset_id = saved_config(run)
    return train_remote(ctx, config, dataset_id, actor=actor, seam=seam, resume_from=run)


def train_remote(ctx: SkillContext, config: RunConfig, dataset_id: str, *, actor: str, seam: SeamClient | None = None,
                 resume_from: RunDir | None = None) -> RemoteResult:
    remote = config.remote
    home = ctx.home
    dataset = open_for_training(ctx, dataset_id, actor=actor)  # the firewall holds here before anything leaves
    run_id = resume_from.id if resume_from else new_run_id()
    attempt = len(resume_from.report().get("attempts") or []) + 1 if resume_from else 1
    work = home.remote_dir / run_id
    key_id = load_verifier(home).key_id
    task = build_task(remote, run_id=run_id, bundle=work / "bundle", pyproject=CHECKOUT / "pyproject.toml", key_id=key_id)
    infra = str(remote.infra)
    seam = seam or SeamClient.default()
    try:
        check_ready(seam, infra)
    except (RemoteNotReady, SeamFailed) as exc:
        ctx.audit.append("remote", "not_ready", details={"infra": infra, "reason": exc.message}, actor=actor, level="warning")
        raise
    cluster = cluster_name(run_id, attempt)
    facts = RemoteFacts(engine=remote.engine, infra=infra, accelerators=remote.accelerators, cluster=cluster)
    estimate = seam.call("estimate", {"task": task}, timeout=600)  # priced before anything is copied
    hourly = estimate.get("hourly_usd")
    hours = worst_case_hours(remote)
    if remote.max_cost_usd is not None and (hourly is None or hourly * hours > remote.max_cost_usd):
        price = "an unknown price" if hourly is None else f"${hourly:.2f}/h x {hours:.2f} h (job, setup, autostop) = ${hourly * hours:.2f}"
        ctx.audit.append("remote", "over_budget", details={**facts.model_dump(exclude_none=True), "hourly_usd": hourly}, actor=actor, level="warning")
        raise MhError(f"{estimate.get('resources') or remote.accelerators} costs {price}, over the ceiling of ${remote.max_cost_usd:.2f}",
                      fix="raise remote.max_cost_usd, lower remote.max_hours or remote.autostop_minutes, or pick cheaper accelerators")
    try:
        return _launch_and_bring_back(ctx, config, dataset, dataset_id, run_id, task, cluster, facts, hourly, seam, actor=actor,
                                      resume_from=resume_from)
    finally:  # a copy of the dataset (and maybe a base) must not stay behind: only SkyPilot's log and the worker's journal do
        shutil.rmtree(work / "bundle", ignore_errors=True)
        shutil.rmtree(work / "back", ignore_errors=True)
        if work.is_dir() and not any(work.iterdir()):
            work.rmdir()


def _launch_and_bring_back(ctx: SkillContext, config: RunConfig, dataset, dataset_id: str, run_id: str, task: dict, cluster: str,
                           facts: RemoteFacts, hourly: float | None, seam: SeamClient, *, actor: str,
                           resume_from: RunDir | None) -> RemoteResult:
    remote = config.remote
    work = ctx.home.remote_dir / run_id
    spec = build_bundle(work / "bundle", run_id=run_id, dataset_id=dataset_id, dataset_dir=dataset.train.parent,
                        receipt=DatasetStore(ctx.home).receipt(dataset_id), dataset_sha256=dataset.receipt.sha256,
                        public_key=ctx.home.public_key_file, key_id=load_verifier(ctx.home).key_id, config=config,
                        run_folder=resume_from.path if resume_from else None, run_skip=NOT_OUTPUTS | {EVAL, REBUILT, MANIFEST})
    log = work / "skypilot.log"
    started = time.monotonic()
    deadline = started + worst_case_hours(remote) * 3600
    problem: BaseException | None = None
    result: RemoteResult | None = None
    with _Stop() as stop:
        try:
            ctx.audit.append("remote", "launch", details={**facts.model_dump(exclude_none=True), "run": run_id, "hourly_usd": hourly},
                             actor=actor, level="security")
            job_id = _op(seam, "launch", {"task": task, "cluster": cluster, "autostop_minutes": remote.autostop_minutes},
                         log, stop, deadline)["job_id"]
            ctx.audit.append("remote", "upload", details={"run": run_id, "cluster": cluster, "job": job_id,
                             "bundle_files": len(read_json_file(work / "bundle" / MANIFEST)["files"])}, actor=actor)
            status = _op(seam, "wait", {"cluster": cluster, "job_id": job_id}, log, stop, deadline,
                         ask_to_stop=lambda: _ask_to_stop(ctx, seam, cluster, run_id, log, stop, actor=actor))["status"]
            ctx.audit.append("remote", "train", details={"run": run_id, "cluster": cluster, "status": status}, actor=actor)
            if stop.graceful:  # stopped on request (or at the deadline): its checkpoint comes back all the same
                deadline = time.monotonic() + STOP_GRACE_S
            back = work / "back"
            try:
                _download(seam, cluster, JOURNAL_DIR, back / JOURNAL_DIR, log, stop, deadline)
                refused = _refusal(back / JOURNAL_DIR / JOURNAL, work)
                if refused:
                    raise BundleRefused(f"the worker refused the run: {refused}", fix=f"see {work / 'worker-journal.jsonl'}")
                _download(seam, cluster, f"state/runs/{run_id}", back / run_id, log, stop, deadline)
            except SeamFailed as exc:
                if status == "SUCCEEDED":
                    raise
                raise MhError(f"the remote job ended {status} and no run came back ({exc.message})",
                              fix=f"see what the machine printed in {log}") from None
            ctx.audit.append("remote", "download", details={"run": run_id, "cluster": cluster}, actor=actor)
            wall_s = round(time.monotonic() - started, 1)
            facts = facts.model_copy(update={"wall_s": wall_s, "cost_estimate_usd": None if hourly is None else round(hourly * wall_s / 3600, 4)})
            result = bring_back(ctx, config, spec.base.sha256, back, run_id, facts, actor=actor, replace=resume_from is not None)
        except BaseException as exc:  # whatever ends it (an error, a bug, Ctrl-C), the machine is torn down first, then it is raised
            problem = exc
        confirmed, why = _teardown(seam, cluster)
        if not confirmed:  # said at once, whatever else went wrong: it may be billing
            sys.stderr.write(f"\n!!! TEARDOWN NOT CONFIRMED for cluster {cluster}: {why}. Run `sky down {cluster}` now.\n")
        ctx.audit.append("remote", "teardown", details={"cluster": cluster, "confirmed": confirmed, "why": why},
                         actor=actor, level="info" if confirmed else "error", sync=True)
    if not confirmed:
        before = f" (and before that: {_said(problem)})" if problem else ""
        raise TeardownUnconfirmed(f"TEARDOWN NOT CONFIRMED for cluster {cluster}: {why}; it may still be running and billing{before}",
                                  fix=f"run `sky down {cluster}` and check `sky status` until it is gone",
                                  run_id=result.run_id if result else None) from problem
    if problem is not None:
        raise problem
    assert result is not None
    return result


def _said(exc: BaseException) -> str:
    return exc.message if isinstance(exc, MhError) else f"{type(exc).__name__}: {exc}"


def _ask_to_stop(ctx: SkillContext, seam: SeamClient, cluster: str, run_id: str, log: Path, stop: _Stop, *, actor: str) -> bool:
    """Ask the run on the machine to checkpoint and stop after its step (its stop-request file, as
    `mh runs stop` at home); whether it was asked. Not when training has not begun (nothing to
    keep), the machine does not answer, or a second signal comes first."""
    request = {"cluster": cluster, "run_dir": f"{REMOTE_OUT.removeprefix('~/')}/state/runs/{run_id}", "marker": STOP_REQUEST}
    proc = seam.start("stop", request, log)
    limit = time.monotonic() + ASK_TO_STOP_S
    while proc.poll() is None and not stop.now.is_set() and time.monotonic() < limit:
        time.sleep(POLL_S)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
        requested, why = False, "no answer in time" if not stop.now.is_set() else "a second signal"
    else:
        try:
            requested, why = bool(seam.finish("stop", proc, log).get("requested")), "training has not begun"
        except SeamFailed as exc:
            requested, why = False, exc.message
    ctx.audit.append("remote", "stop_requested", details={"run": run_id, "cluster": cluster, "asked": requested,
                     **({} if requested else {"why_not": why})}, actor=actor, level="warning")
    if requested:
        sys.stderr.write(f"\nAsked run {run_id} on {cluster} to save a checkpoint and stop; it comes back resumable. "
                         "Stop again to tear the machine down at once.\n")
    return requested


def _download(seam: SeamClient, cluster: str, remote: str, local: Path, log: Path, stop: _Stop, deadline: float) -> None:
    """One folder from the machine, no file over MAX_FILE_BYTES, and the whole no larger than MAX_BACK_BYTES."""
    _op(seam, "download", {"cluster": cluster, "remote": f"{REMOTE_OUT}/{remote}", "local": str(local), "max_file_bytes": MAX_FILE_BYTES},
        log, stop, deadline)
    total = sum(p.lstat().st_size for p in local.rglob("*"))
    if total > MAX_BACK_BYTES:
        raise BundleRefused(f"{remote} came back {total >> 20} MiB, over the {MAX_BACK_BYTES >> 20} MiB a run may be", fix="train again")


def _refusal(journal: Path, work: Path) -> str | None:
    """The worker's own refusal, if its journal (kept beside skypilot.log) records one."""
    if not journal.exists():
        return None
    if journal.stat().st_size > MAX_JOURNAL_BYTES:
        raise BundleRefused(f"the worker's journal is over {MAX_JOURNAL_BYTES >> 20} MiB", fix="do not trust this machine's output")
    shutil.copyfile(journal, work / "worker-journal.jsonl")
    try:
        for line in journal.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry.get("event") == "refused":
                return str(entry.get("details", {}).get("reason"))
    except (ValueError, AttributeError) as exc:  # not UTF-8, not JSON, not an object
        raise BundleRefused(f"the worker's journal cannot be read: {type(exc).__name__}", fix="do not trust this machine's output") from None
    return None


def _teardown(seam: SeamClient, cluster: str) -> tuple[bool, str]:
    """(confirmed, why not): `down`, then `status` must no longer list the cluster. Any failure here,
    whatever its kind (a timeout, a reply that is not JSON, a bug), means: not confirmed."""
    try:
        seam.call("down", {"cluster": cluster}, timeout=1800)
        left = seam.call("exists", {"cluster": cluster}, timeout=600)
        if left["exists"]:
            return False, f"`sky status` still lists it ({left.get('status')})"
    except Exception as exc:  # unconfirmed is the safe answer to every failure, said loudly by the caller
        return False, _said(exc)
    return True, "gone"


def bring_back(ctx: SkillContext, config: RunConfig, base_sha256: str, back: Path, run_id: str, facts: RemoteFacts,
               *, actor: str, replace: bool = False) -> RemoteResult:
    """Verify what came back (every sha256 against the manifest, only what a trainer writes, the
    adapter against the base), rebuild exports/adapter.gguf here from that checked adapter, then
    register it under state/runs/ like a local run, report.json saying where it ran and
    manifest.json written again for the run as registered."""
    folder = back / run_id
    try:
        check_manifest(folder, NOT_OUTPUTS)
        base, base_path = base_ref(config)
        if base.sha256 != base_sha256:
            raise BundleRefused("the base changed here while the run was away", fix="train again")
        back_report = check_adapter(folder, config, base_sha256, base_sizes(base_path))
    except BundleRefused as exc:
        ctx.audit.append("remote", "verify", details={"run": run_id, "ok": False, "reason": exc.message}, actor=actor,
                         level="security", sync=True)
        raise
    ctx.audit.append("remote", "verify", details={"run": run_id, "ok": True}, actor=actor)
    target = ctx.home.runs_dir / run_id
    if target.exists() and not replace:
        raise MhError(f"a run {run_id} exists here already", fix=f"the brought-back copy stays in {folder}")
    for marker in NOT_OUTPUTS:
        (folder / marker).unlink(missing_ok=True)
    shutil.rmtree(folder / REBUILT, ignore_errors=True)
    if (folder / "adapter").is_dir():
        from ..base import resolve_base
        from ..export import export_gguf_lora

        (folder / REBUILT).mkdir()
        export_gguf_lora(folder / "adapter", resolve_base(config.base), folder / REBUILT / "adapter.gguf")
    journal = back / JOURNAL_DIR / JOURNAL
    (folder / "logs").mkdir(exist_ok=True)
    if journal.exists():
        shutil.copyfile(journal, folder / "logs" / "worker-journal.jsonl")
    if (back.parent / "skypilot.log").exists():
        shutil.copyfile(back.parent / "skypilot.log", folder / "logs" / "skypilot.log")
    run = RunDir(folder)
    report = run.read_json("report.json")
    report["remote"] = facts.model_dump()
    if report.get("attempts"):
        report["attempts"][-1]["remote"] = facts.model_dump()  # each attempt's machine, wall time and cost
    run.write_json("report.json", report)
    resolved = run.read_json("resolved_config.json")
    resolved["base"] = config.base  # the base as it is found here (the machine's path to it is of no use here)
    run.write_json("resolved_config.json", resolved)
    write_manifest(folder, NOT_OUTPUTS)  # the run as registered: its report, the logs added, the GGUF made here
    ctx.home.runs_dir.mkdir(parents=True, exist_ok=True)
    if target.exists():  # a resumed run: the whole run that came back replaces the interrupted one
        before = target.with_name(f".{run_id}.replaced")
        target.rename(before)
        folder.rename(target)
        shutil.rmtree(before)
    else:
        folder.rename(target)
    code = back_report.exit_code
    try:
        summary = RunDir(target).read_json("metrics/summary.json")
    except ValueError:  # the remote's numbers: shown when readable, never needed
        summary = None
    ctx.audit.append("train", code.name.lower(), details={"run": run_id, "exit_code": int(code), "steps": back_report.steps,
                     "final_loss": back_report.final_loss, "remote": facts.cluster}, actor=actor,
                     level="info" if code is ExitCode.OK else "warning")
    shutil.rmtree(back.parent, ignore_errors=True)  # the bundle and the staging: the run is home now
    tokens_per_second = summary.get("tokens_per_second") if isinstance(summary, dict) else None
    return RemoteResult(run_id, code, back_report.final_loss, int(back_report.steps or 0),
                        tokens_per_second if isinstance(tokens_per_second, (int, float)) else None, facts)
