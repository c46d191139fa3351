"""Training skills: train (high), adapter_activate (high), adapter_rollback (low), and the person's own
operations on runs and adapters: train_remote and run_resume_remote (high: they spend money), run_resume (high), run_eval (low),
run_export (low), run_stop (low), adapter_promote (medium), nightly (high)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from runtime.errors import ConfigError, SkillFailed
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill
from runtime.training.export import ExportFormat
from runtime.training.registry import TrainingReceipt
from runtime.training.remote.launch import RemoteFacts, RemoteResult

from .phrasings import phrasings


class TrainInput(BaseModel):
    dataset: str | None = Field(default=None, description="a verified dataset id (default: the newest verified one)")
    config: str | None = Field(default=None, description="a YAML or JSON run-config file (`_base: other.yaml` inherits)")
    steps: int | None = Field(default=None, ge=1)
    seed: int | None = None


class TrainResultModel(BaseModel):
    run_id: str
    exit_code: int
    status: str  # the exit code's name: ok, config, training_failed, nan, inf, interrupted
    final_loss: float | None
    steps: int
    tokens_per_second: float | None
    error: str | None = None  # why training failed (exit 10)
    fix: str | None = None


class TrainRemoteResult(BaseModel):
    """A remote run's end: as a local run's, plus where it ran (engine, infra, accelerators, cluster,
    wall time, cost estimate). No run_id when nothing came back (interrupted, or teardown unconfirmed)."""

    run_id: str | None
    exit_code: int
    status: str
    final_loss: float | None = None
    steps: int = 0
    tokens_per_second: float | None = None
    error: str | None = None
    fix: str | None = None
    remote: RemoteFacts | None = None


class RunResumeInput(BaseModel):
    run: str = Field(description="the run id, e.g. run-20261122T201500-ab12")
    checkpoint: int | None = Field(default=None, ge=1, description="step of the checkpoint (default: the last)")


class RunInput(BaseModel):
    run: str = Field(description="the run id, e.g. run-20261122T201500-ab12")


class LossView(BaseModel):
    eval_loss: float
    perplexity: float


class Probe(BaseModel):
    prompt: str
    base: str
    adapter: str


class FactScore(BaseModel):
    closed_book: int  # held-out fact questions answered right with the question alone
    grounded: int  # ... with the note in the prompt
    answer_loss: float


class FactResults(BaseModel):
    probes: int
    base: FactScore
    adapter: FactScore
    rows: list[dict[str, str | list[str]]]  # each question, its key words and the four answers


class IdentityCheck(BaseModel):
    name: str
    base: str
    adapter: str


class EvalResults(BaseModel):
    run_id: str
    eval_pairs: int
    base: LossView
    adapter: LossView
    facts: FactResults | None  # None: the dataset holds no fact questions
    identity: IdentityCheck
    probes: list[Probe]


class GateCheck(BaseModel):
    gate: str
    limit: float
    value: float
    passed: bool


class GateSet(BaseModel):
    passed: bool
    gates: list[GateCheck]
    reason: str | None = None  # why an empty gate set failed


class EvalOutcome(BaseModel):
    results: EvalResults
    gates: GateSet
    exit_code: int  # 0, or 14 when a gate fails


class RunExportInput(BaseModel):
    run: str = Field(description="the run id, e.g. run-20261122T201500-ab12")
    format: ExportFormat = "gguf-lora"


class RunExportResult(BaseModel):
    run_id: str
    format: ExportFormat
    file: str


class AdapterPromoteInput(BaseModel):
    run: str = Field(description="the run id whose gates passed")
    name: str = Field(description="the adapter's name; each promotion is a new version")
    tags: list[str] = Field(default_factory=list)


class NightlyInput(BaseModel):
    steps: int | None = Field(default=None, ge=1, description="training steps (default: etc/training.json)")
    config: str | None = Field(default=None, description="a run-config file for this night (YAML or JSON, checked before anything runs)")
    remote: bool = Field(default=False, description="train on a rented machine (also when etc/training.json says remote.nightly)")


class NightlyStep(BaseModel):
    step: str
    status: str
    result: Any = None
    error: str | None = None


class NightlyReport(BaseModel):
    started_at: str
    ended_at: str | None = None
    steps: list[NightlyStep]
    run_id: str | None = None
    outcome: str


class NightlyOutcome(BaseModel):
    """The pipeline's report, also when a step failed (then `error` and `fix` say why)."""

    report: NightlyReport
    error: str | None = None
    fix: str | None = None
    exit_code: int = 0  # the failed step's own code when it has one (20: a remote teardown unconfirmed), else 1


class RunStopInput(BaseModel):
    run: str | None = Field(default=None, description="the run id (default: the run training now)")


class RunStopResult(BaseModel):
    run_id: str
    pid: int | None


class AdapterActivateInput(BaseModel):
    adapter: str = Field(description="NAME or NAME@VERSION of a promoted adapter")


class AdapterRollbackInput(BaseModel):
    pass


def _trained(result) -> TrainResultModel:
    return TrainResultModel(run_id=result.run_id, exit_code=int(result.exit_code), status=result.exit_code.name.lower(),
                            final_loss=result.final_loss, steps=result.steps, tokens_per_second=result.tokens_per_second,
                            error=result.error, fix=result.fix)


def _run_config(ctx: SkillContext, args: TrainInput):
    """The run config (a bad one fails first) and the dataset to train on."""
    from runtime.datasets.store import DatasetStore
    from runtime.training.settings import load_run_config

    config_file = None
    if args.config is not None:
        # A config file is read from anywhere on disk (and its `_base` chain further): the person's choice only.
        if not (ctx.session.is_person or ctx.session.is_service):
            raise SkillFailed("only the person names a run-config file", fix="train without `config`, or ask the person")
        config_file = Path(args.config).expanduser()
        if not config_file.is_file():
            raise ConfigError(str(config_file), None, "no such file", fix="name an existing YAML or JSON file")
    config = load_run_config(ctx.home, config_file, {"steps": args.steps, "seed": args.seed})
    return config, args.dataset or DatasetStore(ctx.home).newest_verified()


def _say_trained(r: dict) -> str:
    if r.get("error"):
        return f"Run {r['run_id']} failed (exit code {r['exit_code']}): {r['error']}"
    return f"Run {r['run_id']} ended with exit code {r['exit_code']} after {r['steps']} steps (loss {r['final_loss']})."


@skill(
    risk="high",
    asks=(
        "train", "fine-tune", "finetune", "fine tune", "retrain", "learn from", "start training", "start a training",
        "start a lora training", "kick off", "run a training",
    ),
    describe=_say_trained,
    examples=phrasings("train"),
)
def train(ctx: SkillContext, args: TrainInput) -> TrainResultModel:
    """Train a LoRA adapter on a verified dataset (only through the trainer firewall)."""
    from runtime.training.trainer import train as run_training

    config, dataset = _run_config(ctx, args)
    return _trained(run_training(ctx, config, dataset, actor=ctx.actor, quiet=not ctx.progress))


@skill(risk="high", agent=False, describe=_say_trained)
def train_remote(ctx: SkillContext, args: TrainInput) -> TrainRemoteResult:
    """Train on a machine SkyPilot rents (it spends money): bundle, launch, bring the run back, verify
    every sha256, register it, and tear the machine down on every way out."""
    from runtime.training.remote.launch import train_remote as run_remote

    config, dataset = _run_config(ctx, args)
    return _remote_outcome(lambda: run_remote(ctx, config, dataset, actor=ctx.actor))


@skill(risk="high", agent=False, describe=_say_trained)
def run_resume_remote(ctx: SkillContext, args: RunInput) -> TrainRemoteResult:
    """Continue an interrupted run from its last checkpoint on a machine SkyPilot rents (it spends
    money): the run travels in the bundle, and the whole run that comes back replaces it once verified."""
    from runtime.training.remote.launch import resume_remote

    return _remote_outcome(lambda: resume_remote(ctx, args.run, actor=ctx.actor))


def _remote_outcome(train_there: Callable[[], RemoteResult]) -> TrainRemoteResult:
    from runtime.training.remote.launch import RemoteInterrupted, TeardownUnconfirmed

    try:
        r = train_there()
    except RemoteInterrupted as exc:  # exit codes of their own (30, 20), not a plain failure
        return TrainRemoteResult(run_id=None, exit_code=exc.exit_code, status="interrupted", error=exc.message, fix=exc.fix)
    except TeardownUnconfirmed as exc:  # the run may have come back and been registered all the same
        return TrainRemoteResult(run_id=exc.run_id, exit_code=exc.exit_code, status="teardown_unconfirmed", error=exc.message, fix=exc.fix)
    return TrainRemoteResult(run_id=r.run_id, exit_code=int(r.exit_code), status=r.exit_code.name.lower(), final_loss=r.final_loss,
                             steps=r.steps, tokens_per_second=r.tokens_per_second, remote=r.remote)


@skill(risk="high", agent=False, describe=_say_trained)
def run_resume(ctx: SkillContext, args: RunResumeInput) -> TrainResultModel:
    """Continue an interrupted run from its checkpoint, to the same result an uninterrupted run would reach."""
    from runtime.training.trainer import resume

    return _trained(resume(ctx, args.run, checkpoint=args.checkpoint, actor=ctx.actor, quiet=not ctx.progress))


@skill(
    risk="low", agent=False,
    describe=lambda r: (f"Evaluated {r['results']['run_id']}: adapter eval loss {r['results']['adapter']['eval_loss']:.4f} "
                        f"(base {r['results']['base']['eval_loss']:.4f}); gates {'passed' if r['gates']['passed'] else 'failed'}."),
)
def run_eval(ctx: SkillContext, args: RunInput) -> EvalOutcome:
    """Base vs adapter on the held-out split (eval loss, perplexity), probe prompts, and the gates."""
    from runtime.training.evaluate import evaluate

    return EvalOutcome.model_validate(evaluate(ctx, args.run, actor=ctx.actor))


@skill(risk="low", agent=False, describe=lambda r: f"wrote {r['file']}")
def run_export(ctx: SkillContext, args: RunExportInput) -> RunExportResult:
    """Export a run's adapter: GGUF LoRA (llama.cpp/Ollama), merged GGUF, PEFT folder, or an Ollama Modelfile."""
    from runtime.training.export import export_run

    target = export_run(ctx, args.run, args.format, actor=ctx.actor)
    return RunExportResult(run_id=args.run, format=args.format, file=str(target))


@skill(
    risk="medium", agent=False,
    describe=lambda r: f"promoted {r['name']}@{r['version']} (adapter sha256 {r['adapter_sha256'][:16]}…)",
)
def adapter_promote(ctx: SkillContext, args: AdapterPromoteInput) -> TrainingReceipt:
    """Register a run's adapter as NAME (a new version) with a signed training receipt; its gates must have passed."""
    from runtime.training.registry import promote

    return promote(ctx, args.run, args.name, args.tags, actor=ctx.actor)


@skill(risk="high", agent=False, describe=lambda r: r["report"]["outcome"])
def nightly(ctx: SkillContext, args: NightlyInput) -> NightlyOutcome:
    """Build -> clean -> verify -> train -> eval -> export and, if etc/auto-approval.json allows, activate."""
    from runtime.training.nightly import NightlyFailed
    from runtime.training.nightly import nightly as run_nightly

    try:
        return NightlyOutcome(report=NightlyReport.model_validate(run_nightly(ctx, steps=args.steps, remote=args.remote, config=args.config)))
    except NightlyFailed as exc:  # the report of what ran is the answer too, not only the error
        return NightlyOutcome(report=NightlyReport.model_validate(exc.report), error=exc.message, fix=exc.fix, exit_code=exc.exit_code)


@skill(risk="low", agent=False, describe=lambda r: f"asked {r['run_id']} (pid {r['pid']}) to stop after its current step")
def run_stop(ctx: SkillContext, args: RunStopInput) -> RunStopResult:
    """Ask a training run (default: the one training now) to save a checkpoint and stop after its current step."""
    from runtime.training.runs import stop_run

    run = stop_run(ctx.home.runs_dir, args.run)
    return RunStopResult(run_id=run.id, pid=run.running.holder())


@skill(
    risk="high",
    asks=(
        "activate", "switch", "use", "load", "enable", "turn on", "apply",
    ),
    describe=lambda r: f"Activated {r['name']}@{r['version']}: the chat uses it from the next turn.",
    examples=phrasings("adapter_activate"),
)
def adapter_activate(ctx: SkillContext, args: AdapterActivateInput) -> dict:
    """Activate a promoted adapter for the embedded chat model (its signed training receipt is checked)."""
    from runtime.training.registry import activate

    return activate(ctx, args.adapter, actor=ctx.actor)


@skill(
    risk="low",
    asks=(
        "roll back", "rollback", "go back", "turn off", "disable", "deactivate", "revert", "stop using", "unload",
        "undo",
    ),
    describe=lambda r: ("No adapter was active: the chat already uses the base model." if not r
                        else f"Deactivated {r['name']}: back to the base model."),
    examples=phrasings("adapter_rollback"),
)
def adapter_rollback(ctx: SkillContext, args: AdapterRollbackInput) -> dict:
    """Stop using the active adapter: the chat returns to the base model."""
    from runtime.training.registry import rollback

    return rollback(ctx, actor=ctx.actor) or {}


@hookimpl
def register_skills(register):
    for item in (train, train_remote, run_resume, run_resume_remote, run_eval, run_export, adapter_promote, nightly, run_stop,
                 adapter_activate, adapter_rollback):
        register(item)
