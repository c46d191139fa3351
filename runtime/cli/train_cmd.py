"""`mh train`, `resume`, `eval`, `export`, `promote`, `nightly`, `mh runs ...` and `mh adapter ...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .common import call_skill, console, err_console, get_runtime, print_json, say

runs_app = typer.Typer(help="Training runs in state/runs/.", invoke_without_command=True)
adapter_app = typer.Typer(help="Promoted adapters and which one the chat uses.", no_args_is_help=True)
FORMATS = ("gguf-lora", "gguf-merged", "peft", "modelfile")


def _show_result(result) -> None:
    loss = f"{result.final_loss:.4f}" if result.final_loss is not None else "-"
    console.print(f"{result.run_id}: exit {int(result.exit_code)} ({result.exit_code.name.lower()}), {result.steps} steps, final loss {loss}")


def train(
    ctx: typer.Context,
    dataset: Optional[str] = typer.Option(None, "--dataset", help="A verified dataset id (default: the newest verified one)."),
    config: Optional[Path] = typer.Option(None, "--config", exists=True, dir_okay=False, help="YAML or JSON; `_base: other.yaml` inherits."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1),
    seed: Optional[int] = typer.Option(None, "--seed"),
) -> None:
    """Train a LoRA adapter on a verified dataset, only through the trainer firewall.

    Exit codes: 0 ok, 1 config error, 10 training failed, 11 loss NaN, 12 loss Inf, 30 interrupted
    (Ctrl-C or SIGTERM: a checkpoint is saved; `mh resume RUN` continues).
    """
    from ..datasets.store import DatasetStore
    from ..training.settings import load_run_config
    from ..training.trainer import train as run_training

    runtime = get_runtime(ctx)
    settings = load_run_config(runtime.home, config, {"steps": steps, "seed": seed})  # a bad config fails first
    if dataset is None:
        store = DatasetStore(runtime.home)
        verified = [i for i in store.ids() if store.stage_of(i) == "verified"]
        if not verified:
            from ..errors import MhError

            raise MhError("no verified dataset", fix="mh dataset build, then clean ID and verify ID")
        dataset = verified[-1]
    result = run_training(runtime, settings, dataset)
    _show_result(result)
    raise typer.Exit(int(result.exit_code))


def resume(ctx: typer.Context, run_id: str = typer.Argument(..., metavar="RUN"),
           checkpoint: Optional[int] = typer.Option(None, "--checkpoint", help="Step of the checkpoint (default: the last).")) -> None:
    """Continue an interrupted run from its checkpoint, to the same result an uninterrupted run would reach."""
    from ..training.trainer import resume as resume_run

    result = resume_run(get_runtime(ctx), run_id, checkpoint=checkpoint)
    _show_result(result)
    raise typer.Exit(int(result.exit_code))


def eval_run(ctx: typer.Context, run_id: str = typer.Argument(..., metavar="RUN"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Base vs adapter on the held-out split (eval loss, perplexity), probe prompts, and the gates.
    Results go to eval/results.json and eval/gates.json. Exit 14 when a gate fails."""
    from ..training.evaluate import evaluate

    outcome = evaluate(get_runtime(ctx), run_id)
    if as_json:
        print_json(outcome)
    else:
        r = outcome["results"]
        console.print(f"eval loss: base {r['base']['eval_loss']:.4f} (ppl {r['base']['perplexity']:.1f}), "
                      f"adapter {r['adapter']['eval_loss']:.4f} (ppl {r['adapter']['perplexity']:.1f})")
        for gate in outcome["gates"]["gates"]:
            console.print(f"  {'pass' if gate['passed'] else 'FAIL'} {gate['gate']}: {gate['value']:.4f} (limit {gate['limit']})")
        if not outcome["gates"]["gates"]:
            console.print(f"  FAIL: {outcome['gates']['reason']}")
    raise typer.Exit(outcome["exit_code"])


def export(ctx: typer.Context, run_id: str = typer.Argument(..., metavar="RUN"),
           fmt: str = typer.Option("gguf-lora", "--format", help=f"One of: {', '.join(FORMATS)}.")) -> None:
    """Export a run's adapter: GGUF LoRA (llama.cpp/Ollama), merged GGUF (f16 or q8_0), PEFT folder, Ollama Modelfile."""
    from ..errors import MhError
    from ..persona import load_persona
    from ..training import export as exports
    from ..training.base import resolve_base
    from ..training.runs import RunDir

    if fmt not in FORMATS:
        raise MhError(f"unknown format {fmt!r}", fix=f"use one of {', '.join(FORMATS)}")
    runtime = get_runtime(ctx)
    run = RunDir.find(runtime.home.runs_dir, run_id)
    saved = run.read_json("resolved_config.json") or {}
    adapter = run.file("adapter")
    if not (adapter / "adapter_model.safetensors").exists():
        raise MhError(f"run {run_id} has no saved adapter", fix="export a run that completed (exit 0)")
    base = resolve_base(runtime.home.root, saved.get("base"))
    if base.sha256 != saved.get("base_sha256"):
        raise MhError(f"run {run_id} was trained on another base", fix="export with the base it was trained on")
    if fmt == "gguf-lora":
        target = exports.export_gguf_lora(adapter, base, run.file("exports/adapter.gguf"))
    elif fmt == "gguf-merged":
        kind = saved.get("merged_type", "f16")
        target = exports.export_gguf_merged(adapter, base, run.file(f"exports/merged-{kind}.gguf"), kind)
    elif fmt == "peft":
        target = exports.export_peft(adapter, run.file("exports/peft"))
    else:
        lora = run.file("exports/adapter.gguf")
        if not lora.exists():
            exports.export_gguf_lora(adapter, base, lora)
        target = exports.write_modelfile(base.gguf, lora, load_persona(runtime.home).system_prompt(), run.file("exports/Modelfile"))
    runtime.audit.append("train", "exported", details={"run": run_id, "format": fmt, "file": str(target)})
    console.print(f"wrote {target}")


def promote(ctx: typer.Context, run_id: str = typer.Argument(..., metavar="RUN"), name: str = typer.Option(..., "--name"),
            tags: str = typer.Option("", "--tags", help="Comma-separated.")) -> None:
    """Register a run's adapter as NAME (a new version), with the sha256 of every file and a signed
    training receipt. The run's gates must have passed (`mh eval RUN`)."""
    from ..training.registry import promote as promote_run

    receipt = promote_run(get_runtime(ctx), run_id, name, [t for t in tags.split(",") if t])
    console.print(f"promoted {receipt.name}@{receipt.version} (adapter sha256 {receipt.adapter_sha256[:16]}…)")


def nightly(ctx: typer.Context, report: Optional[Path] = typer.Option(None, "--report", help="Write the JSON report here too."),
            steps: Optional[int] = typer.Option(None, "--steps", min=1)) -> None:
    """Build -> clean -> verify -> train -> eval -> export and, if etc/auto-approval.json allows, activate."""
    from ..jsonio import pretty
    from ..training.nightly import NightlyFailed
    from ..training.nightly import nightly as run_nightly

    try:
        result = run_nightly(get_runtime(ctx), steps=steps)
    except NightlyFailed as exc:
        if report:
            report.write_text(pretty(exc.report))
        raise
    if report:
        report.write_text(pretty(result))
    console.print(result["outcome"])


@runs_app.callback()
def runs(ctx: typer.Context, status: Optional[str] = typer.Option(None, "--status", help="ok, nan, inf, interrupted, training_failed, config, running, gone (its process died), unreadable"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """List training runs (newest last)."""
    if ctx.invoked_subcommand is not None:
        return
    from ..training.runs import RunDir

    runtime = get_runtime(ctx)
    rows = []
    for path in sorted((runtime.home.runs_dir).glob("run-*")):
        run = RunDir(path)
        report = run.report()
        if status and report.get("status") != status:
            continue
        rows.append({"run_id": path.name, "status": report.get("status"), "exit_code": report.get("exit_code"),
                     "final_loss": report.get("final_loss"), "gates_passed": (run.gates() or {}).get("passed")})
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(f"{row['run_id']}  {row['status']:<12} exit {row['exit_code']}  loss {row['final_loss']}  gates {row['gates_passed']}", markup=False)
    if not rows:
        console.print("no runs")


def _readable(run, name: str):
    try:
        return run.read_json(name)
    except ValueError as exc:
        return {"unreadable": str(exc)}


@runs_app.command("stop")
def runs_stop(ctx: typer.Context, run_id: Optional[str] = typer.Argument(None, metavar="RUN", help="Default: the run training now.")) -> None:
    """Ask a training run to save a checkpoint and stop after its current step (it exits 30;
    `mh resume RUN` continues). Works whichever process or surface started it."""
    from ..training.runs import stop_run

    run = stop_run(get_runtime(ctx).home.runs_dir, run_id)
    console.print(f"asked {run.id} (pid {run.running.holder()}) to stop after its current step")


@runs_app.command("show")
def runs_show(ctx: typer.Context, run_id: str = typer.Argument(..., metavar="RUN"), as_json: bool = typer.Option(False, "--json")) -> None:
    """A run's report, summary, gates and files."""
    from ..training.runs import RunDir

    run = RunDir.find(get_runtime(ctx).home.runs_dir, run_id)
    view = {"report.json": run.report(), "eval/gates.json": run.gates(),
            **{name: _readable(run, name) for name in ("metrics/summary.json", "resolved_config.json")}}
    view["files"] = sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file() and "checkpoint-" not in str(p))
    view["checkpoints"] = sorted(p.name for p in run.file("checkpoints").glob("checkpoint-*"))
    if as_json:
        print_json(view)
    else:
        console.print_json(json.dumps(view, default=str))


def _adapter_call(ctx: typer.Context, skill: str, args: dict) -> None:
    say(ctx, skill, call_skill(ctx, skill, args))


@adapter_app.command("list")
def adapter_list(ctx: typer.Context) -> None:
    """Promoted adapters, their versions, and which one is active."""
    from ..training.registry import active_record, list_adapters

    runtime = get_runtime(ctx)
    active = active_record(runtime.home) or {}
    for item in list_adapters(runtime.home.root):
        if isinstance(item, str):
            err_console.print(f"[yellow]skipped:[/] {item}")
            continue
        mark = "*" if (active.get("name"), active.get("version")) == (item.name, item.version) else " "
        console.print(f"{mark} {item.name}@{item.version}  run {item.run_id}  dataset {item.dataset_id}  tags {','.join(item.tags) or '-'}", markup=False)


@adapter_app.command("activate")
def adapter_activate(ctx: typer.Context, spec: str = typer.Argument(..., metavar="NAME[@VERSION]")) -> None:
    """Use a promoted adapter in the embedded chat model from the next turn (receipt and base checked)."""
    _adapter_call(ctx, "adapter_activate", {"adapter": spec})


@adapter_app.command("rollback")
def adapter_rollback(ctx: typer.Context) -> None:
    """Stop using the active adapter: the chat returns to the base model."""
    _adapter_call(ctx, "adapter_rollback", {})


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(resume)
    app.command("eval")(eval_run)
    app.command()(export)
    app.command()(promote)
    app.command()(nightly)
    app.add_typer(runs_app, name="runs")
    app.add_typer(adapter_app, name="adapter")
