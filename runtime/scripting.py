"""The Python API for scripts and notebooks (`import mh`): train, evaluate, promote and read runs
with typed results, as Helix's `run_training(config_path=...)` and `promote_model(...)` do.

Nothing here has a door of its own: each change is a skill call through `Runtime.call` (trust
gate, audit log) as `person@python`, the person at this surface (their own approver, stopped at
`observe` like every surface), and the reads are the typed read models of `runtime.queries`. A call
that is denied raises `Denied`; one that fails raises `SkillFailed` with its fix. A run that ends
with a training exit code (NaN, interrupted, ...) is a result, not an exception: its `status` and
`exit_code` say so."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .errors import Denied, SkillFailed
from .home import Home
from .queries import RunRow, RunView
from .queries import list_runs as query_runs
from .queries import show_run as query_run
from .runtime import CallStatus, Runtime

SURFACE = "python"  # the actor in the audit log: person@python

HomeLike = Home | str | Path | None


class TrainingResult(BaseModel):
    """How a run ended, and where its files are."""

    run_id: str
    status: str = Field(description="its exit code's name: ok, config, training_failed, nan, inf, interrupted")
    exit_code: int
    artifacts_dir: Path = Field(description="state/runs/RUN: adapter/, checkpoints/, exports/, metrics/, eval/, logs/")
    steps: int
    final_loss: float | None
    tokens_per_second: float | None
    metrics: dict[str, Any] = Field(default_factory=dict, description="metrics/summary.json, when training got that far")
    error: str | None = None
    fix: str | None = None


class Evaluation(BaseModel):
    run_id: str
    passed: bool = Field(description="every gate passed (an empty gate set fails)")
    base_eval_loss: float
    adapter_eval_loss: float
    gates: list[dict[str, Any]]
    exit_code: int = Field(description="0, or 14 when a gate failed")


class PromotedModel(BaseModel):
    """The signed training receipt of a promoted adapter version."""

    name: str
    version: int
    run_id: str
    tags: list[str]
    adapter_sha256: str
    path: Path = Field(description="state/models/adapters/NAME/vN")


@contextmanager
def _runtime(home: HomeLike) -> Iterator[Runtime]:
    """The runtime of one call: the home initialised if it never was (as the CLI does), the audit
    log sealed at the end."""
    with Runtime(home if isinstance(home, Home) or home is None else Home.at(home), surface=SURFACE) as runtime:
        runtime.ensure_initialised()
        yield runtime


def _call(runtime: Runtime, skill: str, args: dict[str, Any]) -> Any:
    outcome = runtime.call(skill, args)
    if outcome.status is CallStatus.denied:
        raise Denied(f"{skill}: {outcome.reason}", fix=outcome.fix)
    if outcome.status is not CallStatus.ok:  # a person's call is never queued: they are their own approver
        raise SkillFailed(outcome.error or outcome.reason, fix=outcome.fix)
    return outcome.result


def _result(runtime: Runtime, trained: dict[str, Any]) -> TrainingResult:
    artifacts = runtime.home.runs_dir / trained["run_id"]
    summary = query_run(runtime.home, trained["run_id"]).summary
    return TrainingResult(run_id=trained["run_id"], status=trained["status"], exit_code=trained["exit_code"], artifacts_dir=artifacts,
                          steps=trained["steps"], final_loss=trained["final_loss"], tokens_per_second=trained["tokens_per_second"],
                          metrics=summary if isinstance(summary, dict) else {}, error=trained.get("error"), fix=trained.get("fix"))


def run_training(config_path: str | Path | None = None, home: HomeLike = None, *, dataset: str | None = None,
                 steps: int | None = None, seed: int | None = None) -> TrainingResult:
    """Train a LoRA adapter (`mh train`): etc/training.json, then `config_path` (YAML or JSON, `_base`
    inherits), then `steps`/`seed`; on `dataset` or the newest verified one."""
    with _runtime(home) as runtime:
        config = str(Path(config_path).expanduser().resolve()) if config_path is not None else None
        return _result(runtime, _call(runtime, "train", {"dataset": dataset, "config": config, "steps": steps, "seed": seed}))


def resume_training(run_id: str, checkpoint: int | str | None = None, home: HomeLike = None) -> TrainingResult:
    """Continue a run (`mh resume`) from its last checkpoint, or one named by step or by its path."""
    from .queries import checkpoint_step

    with _runtime(home) as runtime:
        step = checkpoint_step(runtime.home, run_id, str(checkpoint)) if checkpoint is not None else None
        return _result(runtime, _call(runtime, "run_resume", {"run": run_id, "checkpoint": step}))


def evaluate(run_id: str, home: HomeLike = None) -> Evaluation:
    """Base vs adapter on the held-out split, and the gates (`mh eval`)."""
    with _runtime(home) as runtime:
        outcome = _call(runtime, "run_eval", {"run": run_id})
    results, gates = outcome["results"], outcome["gates"]
    return Evaluation(run_id=run_id, passed=gates["passed"], base_eval_loss=results["base"]["eval_loss"],
                      adapter_eval_loss=results["adapter"]["eval_loss"], gates=gates["gates"], exit_code=outcome["exit_code"])


def promote(run_id: str, name: str, tags: list[str] | tuple[str, ...] = (), home: HomeLike = None) -> PromotedModel:
    """Register a run's adapter as NAME, a new version with a signed receipt (`mh promote`). Its
    gates must have passed (`evaluate`)."""
    with _runtime(home) as runtime:
        receipt = _call(runtime, "adapter_promote", {"run": run_id, "name": name, "tags": list(tags)})
        return PromotedModel(name=receipt["name"], version=receipt["version"], run_id=receipt["run_id"], tags=receipt["tags"],
                             adapter_sha256=receipt["adapter_sha256"], path=runtime.home.adapters_dir / name / f"v{receipt['version']}")


promote_model = promote  # Helix's name: promote_model(run_id=..., name=..., tags=[...])


def list_runs(status: str | None = None, home: HomeLike = None) -> list[RunRow]:
    """Every run, oldest first (`mh runs`); `status` is a run state or Helix's completed/failed."""
    with _runtime(home) as runtime:
        return query_runs(runtime.home, status)


def show_run(run_id: str, home: HomeLike = None) -> RunView:
    """A run's report, summary, gates, config and files (`mh runs show`)."""
    with _runtime(home) as runtime:
        return query_run(runtime.home, run_id)
