"""`mh train` and `mh resume`: TRL's SFTTrainer + a PEFT LoRA on CPU or CUDA, through the trainer
firewall, into a run directory. (Unsloth's QLoRA is not wired yet: asking for it is a clear error.)

Checkpoints are the Trainer's own (adapter safetensors, optimizer/scheduler/RNG state as torch
tensors), minus training_args.bin, a pickled Python object that resuming does not need. Resuming
restores the RNG and data order, so a resumed run ends where an uninterrupted one would.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import RunConfig
from ..datasets.firewall import open_for_training
from ..errors import MhError
from ..persona import load_persona
from .base import quiet_libraries, resolve_base
from .examples import SCHEDULES, prompt_messages, read_rows
from .runs import ExitCode, RunDir, environment

if TYPE_CHECKING:
    # what these functions take; a Runtime has the same members
    from ..skills import SkillContext


class TrainingFailed(MhError):
    exit_code = int(ExitCode.TRAINING_FAILED)


@dataclass
class TrainResult:
    run_id: str
    exit_code: ExitCode
    final_loss: float | None
    steps: int
    tokens_per_second: float | None
    path: Path
    error: str | None = None  # why, when training failed (exit 10)
    fix: str | None = None


def pick_backend(requested: str) -> str:
    """"auto" is TRL + PEFT (on CUDA when there is one): the Unsloth path is not wired yet."""
    if requested == "unsloth":
        raise TrainingFailed("the unsloth backend is not wired yet (it has not been proven on a CUDA machine)",
                             fix='use backend "trl" or "auto": TRL + PEFT, on CUDA when there is one')
    return "trl" if requested == "auto" else requested


def _examples(rows: list[dict[str, Any]], system: str) -> list[dict[str, Any]]:
    """Prompt-completion rows: TRL then puts the loss on the answer's tokens only."""
    return [{"prompt": prompt_messages(r, system), "completion": [{"role": "assistant", "content": r["output"]}]} for r in rows]


def knowledge_repeated(rows: list[dict[str, Any]], repeats: int) -> list[dict[str, Any]]:
    """Each fact question and identity pair `repeats` times (each repeat a whole round, so the copies
    of a pair are spread over the pass), the other pairs once."""
    knowledge = [r for r in rows if "fact" in r["meta"] or r["meta"].get("type") == "identity"]
    return rows + knowledge * (repeats - 1)


def planned_steps(config: RunConfig, train_pairs: int) -> int:
    """`steps` when set, else `epochs` passes over the training pairs."""
    return config.steps or max(1, math.ceil(config.epochs * train_pairs / config.batch_size))


class _Reporter:
    """Stages, loss and ETA to the terminal; metrics and events into the run; stop requests in."""

    def __init__(self, run: RunDir, total: int, quiet: bool) -> None:
        self.run, self.total, self.quiet = run, total, quiet
        self.started = time.monotonic()
        self.stop_requested = threading.Event()
        self.code: ExitCode | None = None
        self.last_loss: float | None = None
        self.tokens = 0

    def stage(self, name: str, message: str = "") -> None:
        self.run.event(name, message or name.lower())
        if not self.quiet:
            print(f"[{name}] {message}", flush=True)

    def step(self, step: int, loss: float | None) -> None:
        elapsed = time.monotonic() - self.started
        eta = elapsed / max(step, 1) * (self.total - step)
        if not self.quiet:
            width = 30
            done = int(width * step / self.total)
            shown = f"{loss:.4f}" if loss is not None else "-"
            print(f"\r[TRAINING] [{'#' * done}{'.' * (width - done)}] {step}/{self.total} loss {shown} eta {eta:5.0f}s",
                  end="" if step < self.total else "\n", flush=True)

    def stop_asked(self) -> bool:
        """At a step's end: a stop request (Ctrl-C, SIGTERM, `mh runs stop`) ends the run here."""
        if (self.stop_requested.is_set() or self.run.stop_requested()) and self.code is None:
            self.code = ExitCode.INTERRUPTED
            return True
        return False

    def took(self, loss: float) -> bool:
        """Take a step's logged loss; True when training must stop. The Trainer logs a step after its
        `on_step_end`, so the step a stop request ended on is logged after the stop: its loss is still
        the run's final loss. A NaN or infinite loss never is, and ends the run (the first code sticks)."""
        if self.code is None and math.isnan(loss):
            self.code = ExitCode.NAN
        elif self.code is None and math.isinf(loss):
            self.code = ExitCode.INF
        if math.isfinite(loss) and self.code not in (ExitCode.NAN, ExitCode.INF):
            self.last_loss = loss
        return self.code is not None


def _callback(reporter: _Reporter, config: RunConfig):
    from transformers import TrainerCallback

    class MhCallback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = dict(logs or {})
            if "loss" not in logs:
                return
            loss = float(logs["loss"])
            fault = config.fault
            if fault is not None and state.global_step >= fault.at_step:
                loss = math.nan if fault.loss == "nan" else math.inf
            reporter.tokens = int(logs.get("num_tokens", reporter.tokens) or reporter.tokens)
            reporter.run.append("metrics/metrics.jsonl", {"step": state.global_step, "loss": loss,
                                "learning_rate": logs.get("learning_rate"), "num_tokens": reporter.tokens,
                                "elapsed_s": round(time.monotonic() - reporter.started, 3)})
            if reporter.took(loss):
                control.should_training_stop = True
            reporter.step(state.global_step, loss)

        def on_step_end(self, args, state, control, **kwargs):
            if reporter.stop_asked():
                control.should_save = True  # the checkpoint that `mh resume` continues from
                control.should_training_stop = True

        def on_save(self, args, state, control, **kwargs):
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            (checkpoint / "training_args.bin").unlink(missing_ok=True)  # pickled code: not kept
            reporter.run.event("TRAINING", f"checkpoint at step {state.global_step}", checkpoint=checkpoint.name)

    return MhCallback()


def _trainer(config: RunConfig, run: RunDir, base, train_rows, reporter: _Reporter):
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    quiet_libraries()

    if config.threads:
        torch.set_num_threads(config.threads)
    reporter.stage("MODEL_LOAD", f"base {base.hf_dir.name}")
    tokenizer = AutoTokenizer.from_pretrained(base.hf_dir)
    model = AutoModelForCausalLM.from_pretrained(base.hf_dir, dtype=torch.float32)
    reporter.stage("PREPROCESSING", f"{len(train_rows)} pairs, chat template of the base")
    dataset = Dataset.from_list(train_rows)
    reporter.stage("LORA_SETUP", f"r={config.lora.r} alpha={config.lora.alpha} on {', '.join(config.lora.target_modules)}")
    lora = LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                      target_modules=config.lora.target_modules, task_type="CAUSAL_LM")
    cuda = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(run.file("checkpoints")), max_steps=config.steps, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, lr_scheduler_type=SCHEDULES[config.schedule][0],
        lr_scheduler_kwargs=SCHEDULES[config.schedule][1], warmup_steps=max(1, config.steps // 20),
        logging_steps=1, save_strategy="steps", save_steps=config.checkpoint_every,
        seed=config.seed, data_seed=config.seed, report_to=[], max_length=config.max_seq_len,
        use_cpu=not cuda, disable_tqdm=True, save_only_model=False, dataloader_num_workers=0,
        # TRL's defaults (bf16, gradient checkpointing) are for GPUs: on this CPU, without native
        # bf16, they made a step 18x slower (52.8 s against 2.9 s, measured).
        bf16=cuda and torch.cuda.is_bf16_supported(), gradient_checkpointing=cuda,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, peft_config=lora, processing_class=tokenizer,
                         callbacks=[_callback(reporter, config)])
    trainer.remove_callback(PrinterCallback)  # our reporter prints; the default one would print raw dicts
    return trainer


def train(ctx: SkillContext, config: RunConfig, dataset_id: str, *, actor: str, quiet: bool = False,
          resume_run: RunDir | None = None, checkpoint: int | None = None, run_id: str | None = None) -> TrainResult:
    """One attempt of a run (a new one, or a resumed one). Returns its exit code, training failures
    (10) included, with the error; raises when the run was refused before training (exit 1: config,
    firewall, base). Never half-registers. The run is marked running for exactly as long as this
    process works on it. `run_id` names a new run (the remote worker uses the id its bundle chose)."""
    run = resume_run or RunDir.create(ctx.home.runs_dir, run_id)
    with run.running.hold():
        run.begin_attempt()
        try:
            return _attempt(ctx, config, dataset_id, run, actor=actor, quiet=quiet, resume_run=resume_run,
                            checkpoint=checkpoint)
        except TrainingFailed as exc:
            report = run.read_json("report.json")
            if report["status"] == "running":  # refused before training began (e.g. the backend)
                report = run.finish(ExitCode.TRAINING_FAILED, error=exc.message)
            return TrainResult(run.id, ExitCode.TRAINING_FAILED, None, int(report.get("steps") or 0), None, run.path,
                               error=exc.message, fix=exc.fix)
        except Exception as exc:
            if run.read_json("report.json")["status"] == "running":  # refused before training began
                run.finish(ExitCode.CONFIG if isinstance(exc, MhError) else ExitCode.TRAINING_FAILED,
                           error=exc.message if isinstance(exc, MhError) else f"{type(exc).__name__}: {exc}")
            raise


def _attempt(ctx: SkillContext, config: RunConfig, dataset_id: str, run: RunDir, *, actor: str, quiet: bool,
             resume_run: RunDir | None, checkpoint: int | None) -> TrainResult:
    reporter = _Reporter(run, config.steps or 0, quiet)
    reporter.stage("INIT", f"run {run.id}" + (" (resumed)" if resume_run else ""))
    # The persona it trains with is saved with the run: a resume and the eval use the very same prompt.
    system = saved_system_prompt(run) if resume_run else load_persona(ctx.home).system_prompt()
    run.write_json("resolved_config.json", {**config.model_dump(mode="json"), "dataset": dataset_id, "system_prompt": system})
    run.write_json("env.json", environment())
    backend = pick_backend(config.backend)
    reporter.stage("DATASET", f"{dataset_id} through the trainer firewall")
    dataset = open_for_training(ctx, dataset_id, actor=actor)
    rows = knowledge_repeated(read_rows(dataset.train), config.knowledge_repeats)
    config = config.model_copy(update={"steps": planned_steps(config, len(rows))})  # saved: a resume plans the same
    reporter.total = config.steps
    base = resolve_base(config.base)
    run.write_json("resolved_config.json", {**config.model_dump(mode="json"), **_resolved(dataset_id, dataset, base, backend),
                                            "system_prompt": system})
    resume_from = checkpoint_path(run, checkpoint) if resume_run else None
    trainer = _trainer(config, run, base, _examples(rows, system), reporter)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    if threading.current_thread() is threading.main_thread():
        for sig in previous:
            signal.signal(sig, lambda *_: reporter.stop_requested.set())
    ctx.audit.append("train", "started", details={"run": run.id, "dataset": dataset_id, "backend": backend,
                         "resumed_from": resume_from.name if resume_from else None}, actor=actor)
    started = time.monotonic()
    try:
        reporter.stage("TRAINING", f"{config.steps} steps, batch {config.batch_size}, lr {config.learning_rate}")
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except Exception as exc:
        report = run.finish(ExitCode.TRAINING_FAILED, error=f"{type(exc).__name__}: {exc}", steps=trainer.state.global_step)
        ctx.audit.append("train", "failed", details={"run": run.id, "error": report["error"]}, actor=actor, level="error")
        raise TrainingFailed(f"training failed: {type(exc).__name__}: {exc}", fix=f"see {run.file('logs/train.log')}") from exc
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    seconds = time.monotonic() - started
    step = trainer.state.global_step
    tokens_per_second = reporter.tokens / seconds if reporter.tokens and seconds else None
    code = reporter.code or ExitCode.OK
    if code is ExitCode.OK:
        reporter.stage("SAVE_ADAPTER", "adapter/ (PEFT safetensors)")
        trainer.model.save_pretrained(run.file("adapter"))
        trainer.processing_class.save_pretrained(run.file("adapter"))
        if base.gguf is not None:
            from .export import export_gguf_lora

            reporter.stage("GGUF_EXPORT", "exports/adapter.gguf")
            export_gguf_lora(run.file("adapter"), base, run.file("exports/adapter.gguf"))
        reporter.stage("COMPLETE", f"final loss {reporter.last_loss:.4f}" if reporter.last_loss is not None else "done")
    summary = {"run_id": run.id, "steps": step, "final_loss": reporter.last_loss, "seconds": round(seconds, 3),
               "tokens": reporter.tokens, "tokens_per_second": tokens_per_second, "exit_code": int(code)}
    run.write_json("metrics/summary.json", summary)
    run.finish(code, final_loss=reporter.last_loss, steps=step)
    ctx.audit.append("train", code.name.lower(), details={"run": run.id, "exit_code": int(code), "steps": step,
                         "final_loss": reporter.last_loss}, actor=actor, level="info" if code is ExitCode.OK else "warning")
    return TrainResult(run.id, code, reporter.last_loss, step, tokens_per_second, run.path)


RESOLVED_KEYS = ("dataset", "dataset_sha256", "base_sha256", "base_gguf", "backend_used", "system_prompt")


def _resolved(dataset_id: str, dataset, base, backend: str) -> dict[str, Any]:
    """What the run actually used, beside its settings (the keys of RESOLVED_KEYS)."""
    return {"dataset": dataset_id, "dataset_sha256": dataset.receipt.sha256, "base_sha256": base.sha256,
            "base_gguf": str(base.gguf) if base.gguf else None, "backend_used": backend}


def checkpoint_path(run: RunDir, step: int | None) -> Path:
    found = sorted((p for p in run.file("checkpoints").glob("checkpoint-*") if p.is_dir()),
                   key=lambda p: int(p.name.split("-")[1]))
    if step is not None:
        found = [p for p in found if p.name == f"checkpoint-{step}"]
    if not found:
        raise MhError(f"run {run.id} has no checkpoint{f' at step {step}' if step else ''}",
                      fix="resume needs a checkpoint: list them in state/runs/<run>/checkpoints/")
    chosen = found[-1]
    for name in ("adapter_model.safetensors", "trainer_state.json", "optimizer.pt"):
        if not (chosen / name).exists():
            raise MhError(f"checkpoint {chosen.name} of {run.id} is incomplete: {name} is missing",
                          fix="resume from an earlier checkpoint with --checkpoint STEP")
    try:
        json.loads((chosen / "trainer_state.json").read_text())
        from safetensors import safe_open

        with safe_open(str(chosen / "adapter_model.safetensors"), "pt") as handle:
            list(handle.keys())
    except Exception as exc:  # any decoding failure means the checkpoint cannot be trusted
        raise MhError(f"checkpoint {chosen.name} of {run.id} is corrupt: {type(exc).__name__}: {exc}",
                      fix="resume from an earlier checkpoint with --checkpoint STEP") from None
    return chosen


def saved_system_prompt(run: RunDir) -> str:
    """The system prompt a run trained with (before this was saved: none)."""
    return (run.read_json("resolved_config.json") or {}).get("system_prompt") or ""


def saved_config(run: RunDir) -> tuple[RunConfig, str]:
    """The run config a run was started with, and its dataset id (from its resolved_config.json)."""
    saved = run.read_json("resolved_config.json")
    if not saved:
        raise MhError(f"run {run.id} has no resolved_config.json", fix="it never got past INIT; start a new run")
    dataset_id = saved["dataset"]
    for key in RESOLVED_KEYS:
        saved.pop(key, None)
    return RunConfig.model_validate(saved), dataset_id


def resume(ctx: SkillContext, run_id: str, *, actor: str, checkpoint: int | None = None, quiet: bool = False) -> TrainResult:
    run = RunDir.find(ctx.home.runs_dir, run_id)
    config, dataset_id = saved_config(run)
    checkpoint_path(run, checkpoint)  # fail before anything starts
    return train(ctx, config, dataset_id, actor=actor, quiet=quiet, resume_run=run, checkpoint=checkpoint)
