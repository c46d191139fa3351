"""`mh nightly`: build -> clean -> verify -> train -> eval -> export and, when etc/auto-approval.json
allows, promote + activate. It runs as the `nightly` skill, and each step is a skill called through
`ctx.call`: gated and audited as the same session as the person who started it. The report says what
each step did. With `remote` (or remote.nightly in etc/training.json) the train step is
`train_remote`: the same run, trained on a rented machine and brought back verified."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import AutoApprovalConfig, load_config
from ..errors import MhError
from ..runtime import CallStatus
from .runs import ExitCode
from .settings import load_run_config

if TYPE_CHECKING:
    from ..skills import SkillContext


STAGES = {
    "build": "memories -> instruction pairs",
    "clean": "normalise, drop duplicates, redact secrets",
    "verify": "thresholds, held-out split, signed receipt",
    "train": "a LoRA adapter on the verified pairs",
    "eval": "base vs adapter, gates",
    "export": "GGUF LoRA for llama.cpp",
    "promote": "a signed training receipt, then activate",
}


def nightly(ctx: SkillContext, *, steps: int | None = None, remote: bool = False, config: str | None = None) -> dict[str, Any]:
    """The report of a pipeline that reached its outcome; NightlyFailed (with the report so far) when a
    step failed or was refused. The night's run config (etc/training.json, or the `config` file over
    it) is checked strictly before the first step: a bad key fails before a dataset is built."""
    night = load_run_config(ctx.home, Path(config).expanduser() if config else None, {"steps": steps})
    report: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "steps": []}

    def call(name: str, skill: str, args: dict, *, record: bool = True) -> dict:
        """One step as a skill call. Its outcome goes into the report's steps (on success only when
        `record`: eval and export say it in their own words, promote is part of activating)."""
        if ctx.progress and name in STAGES:  # the train step then shows its own steps, loss and ETA
            print(f"[NIGHTLY] {list(STAGES).index(name) + 1}/{len(STAGES)} {name}: {STAGES[name]}", flush=True)
        outcome = ctx.call(skill, args)
        if record or outcome.status is not CallStatus.ok:
            report["steps"].append({"step": name, "status": str(outcome.status), "result": outcome.result, "error": outcome.error})
        if outcome.status is not CallStatus.ok:
            raise MhError(f"nightly stopped at {name}: {outcome.error or outcome.reason}", fix=outcome.fix or "see the report")
        return outcome.result

    # Read before the first step, so a bad etc/auto-approval.json fails before a dataset is built.
    auto = load_config(ctx.home, "auto-approval.json")
    ctx.audit.append("nightly", "started", actor=ctx.actor)
    try:
        built = call("build", "dataset_build", {})
        dataset_id = built["id"]
        if built["pairs"] < auto.dataset.min_pairs:  # said before anything is cleaned or trained
            raise MhError(f"your memories give {built['pairs']} pairs before cleaning ({built['memories']} memories used), "
                          f"fewer than min_pairs {auto.dataset.min_pairs}",
                          fix='add notes (`mh remember "..."`, or files dropped in memory/inbox/) and run it again, '
                              "or lower dataset.min_pairs in etc/auto-approval.json")
        call("clean", "dataset_clean", {"id": dataset_id})
        call("verify", "dataset_verify", {"id": dataset_id})
        remote = remote or night.remote.nightly
        trained = call("train", "train_remote" if remote else "train", {"dataset": dataset_id, "steps": steps, "config": config})
        run_id = trained["run_id"]
        if run_id:
            report["run_id"] = run_id
        if trained["exit_code"] != ExitCode.OK:
            why = f" ({trained['error']})" if trained.get("error") else ""
            # the step's own fix first: an unconfirmed teardown's says which cluster to `sky down`
            fix = trained.get("fix") or (f"see `mh runs show {run_id}`" if run_id else "see the error above")
            raise TrainingStepFailed(f"nightly stopped: training exited {trained['exit_code']}{why}", fix=fix, exit_code=trained["exit_code"])
        evaluation = call("eval", "run_eval", {"run": run_id}, record=False)
        gates = evaluation["gates"]
        report["steps"].append({"step": "eval", "status": "ok" if gates["passed"] else "gates failed", "result": gates})
        exported = call("export", "run_export", {"run": run_id, "format": "gguf-lora"}, record=False)
        report["steps"].append({"step": "export", "status": "ok", "result": {"gguf-lora": exported["file"]}})
        report["run_id"] = run_id
        if not gates["passed"]:
            report["outcome"] = "gates failed: nothing activated"
        elif (held := held_back(auto)) is not None:
            report["outcome"] = f"trained and evaluated; activating it is yours (`mh promote` + `mh adapter activate`): {held}"
        else:
            promoted = call("promote", "adapter_promote", {"run": run_id, "name": "nightly", "tags": ["nightly"]}, record=False)
            call("activate", "adapter_activate", {"adapter": f"nightly@{promoted['version']}"})
            report["outcome"] = f"activated nightly@{promoted['version']}"
    except MhError as exc:
        report["outcome"] = f"failed: {exc.message}"
        report["ended_at"] = datetime.now(UTC).isoformat()
        ctx.audit.append("nightly", "failed", details={"reason": exc.message}, actor=ctx.actor, level="warning")
        raise NightlyFailed(exc.message, fix=exc.fix, report=report, exit_code=exc.exit_code) from None
    report["ended_at"] = datetime.now(UTC).isoformat()
    ctx.audit.append("nightly", "finished", details={"outcome": report["outcome"]}, actor=ctx.actor)
    return report


def held_back(auto: AutoApprovalConfig) -> str | None:
    """Why the nightly leaves a passed adapter for the person to promote and activate, or None when it
    activates it itself. `enabled: false` is MetaHuman's "stop automation": nothing is approved automatically."""
    if not auto.enabled:
        return "etc/auto-approval.json: enabled is false (no automatic approvals)"
    if not auto.activate_adapter:
        return "etc/auto-approval.json: activate_adapter is false"
    return None


class TrainingStepFailed(MhError):
    def __init__(self, message: str, *, fix: str, exit_code: int) -> None:
        super().__init__(message, fix=fix)
        self.exit_code = exit_code


class NightlyFailed(MhError):
    def __init__(self, message: str, *, fix: str | None, report: dict, exit_code: int = 1) -> None:
        super().__init__(message, fix=fix)
        self.report = report
        self.exit_code = exit_code  # a step's own code (20: teardown unconfirmed) survives the pipeline
