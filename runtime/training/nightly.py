"""`mh nightly`: build -> clean -> verify -> train -> eval -> export and, when etc/auto-approval.json
allows, activate. The person starts it, so it acts as `person@nightly`: build, clean, verify, train
and activate go through their skills (gate + audit), eval and promote are called directly; the
report says what each step did."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..config import load_config
from ..errors import MhError
from ..runtime import CallStatus, Session
from .runs import ExitCode, RunDir


def nightly(runtime, *, steps: int | None = None) -> dict[str, Any]:
    # The person started this pipeline, so it runs as the person: queued steps would stall a night run.
    session = Session(actor="person@nightly")
    report: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "steps": []}

    def step(name: str, skill: str, args: dict) -> dict:
        outcome = runtime.call(skill, args, session=session)
        entry = {"step": name, "status": str(outcome.status), "result": outcome.result, "error": outcome.error}
        report["steps"].append(entry)
        if outcome.status is not CallStatus.ok:
            raise MhError(f"nightly stopped at {name}: {outcome.error or outcome.reason}", fix=outcome.fix or "see the report")
        return outcome.result

    runtime.audit.append("nightly", "started", actor=session.actor)
    try:
        dataset_id = step("build", "dataset_build", {})["id"]
        step("clean", "dataset_clean", {"id": dataset_id})
        step("verify", "dataset_verify", {"id": dataset_id})
        trained = step("train", "train", {"dataset": dataset_id, "steps": steps})
        if trained["exit_code"] != ExitCode.OK:
            raise MhError(f"nightly stopped: training exited {trained['exit_code']}", fix=f"see `mh runs show {trained['run_id']}`")
        from .evaluate import evaluate

        evaluation = evaluate(runtime, trained["run_id"], actor=session.actor)
        report["steps"].append({"step": "eval", "status": "ok" if evaluation["gates"]["passed"] else "gates failed",
                                "result": evaluation["gates"]})
        report["steps"].append({"step": "export", "status": "ok",
                                "result": {"gguf-lora": str(RunDir.find(runtime.home.runs_dir, trained["run_id"]).file("exports/adapter.gguf"))}})
        report["run_id"] = trained["run_id"]
        if not evaluation["gates"]["passed"]:
            report["outcome"] = "gates failed: nothing activated"
        elif not load_config(runtime.home, "auto-approval.json").activate_adapter:
            report["outcome"] = "trained and evaluated; activation needs `mh promote` + `mh adapter activate` (auto-approval is off)"
        else:
            from .registry import promote

            receipt = promote(runtime, trained["run_id"], "nightly", ["nightly"])
            step("activate", "adapter_activate", {"adapter": f"nightly@{receipt.version}"})
            report["outcome"] = f"activated nightly@{receipt.version}"
    except MhError as exc:
        report["outcome"] = f"failed: {exc.message}"
        report["ended_at"] = datetime.now(UTC).isoformat()
        runtime.audit.append("nightly", "failed", details={"reason": exc.message}, actor=session.actor, level="warning")
        raise NightlyFailed(exc.message, fix=exc.fix, report=report) from None
    report["ended_at"] = datetime.now(UTC).isoformat()
    runtime.audit.append("nightly", "finished", details={"outcome": report["outcome"]}, actor=session.actor)
    return report


class NightlyFailed(MhError):
    def __init__(self, message: str, *, fix: str | None, report: dict) -> None:
        super().__init__(message, fix=fix)
        self.report = report
