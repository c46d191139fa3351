"""`mh train`, `resume`, `eval`, `export`, `promote`, `nightly`, `mh runs ...` and `mh adapter ...`.

Every change is a skill call as the person (`call_skill`: gate + audit; denied exits 3); the lists
come from `runtime.queries`. Helix's spellings work too: `--run RUN` wherever a run is named,
`--status completed|failed`, `resume --checkpoint PATH`, `nightly --config FILE`, and
`train --output DIR` (a copy of the finished run; the run itself stays in the home)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import call_skill, console, err_console, get_runtime, print_json, say

runs_app = typer.Typer(help="Training runs in state/runs/.", invoke_without_command=True)
adapter_app = typer.Typer(help="Promoted adapters and which one the chat uses.", no_args_is_help=True)
FORMATS = ("gguf-lora", "gguf-merged", "peft", "modelfile")  # for --help; the run_export skill checks the value


RUN_OPTION = typer.Option(None, "--run", metavar="RUN", help="The run, as Helix writes it (the same as the RUN argument).")


def _run_id(argument: str | None, option: str | None) -> str:
    """RUN given as the argument or as `--run RUN` (Helix's form): one of them, or both the same."""
    if argument and option and argument != option:
        raise typer.BadParameter(f"two runs named: {argument} and --run {option}", param_hint="RUN")
    if not (argument or option):
        raise typer.BadParameter("name the run: RUN or --run RUN (`mh runs` lists them)", param_hint="RUN")
    return argument or option  # type: ignore[return-value]


def _trained(result: dict) -> None:
    """A run's end in the words of `mh train` and `mh resume`; exits with the run's exit code."""
    code = result["exit_code"]
    if result.get("error"):  # training failed (10): the error and its fix, as for any error
        err_console.print(f"[bold red]error:[/] {result['error']}", highlight=False)
        if result.get("fix"):
            err_console.print(f"  [bold]fix:[/] {result['fix']}", highlight=False)
    else:
        loss = f"{result['final_loss']:.4f}" if result["final_loss"] is not None else "-"
        console.print(f"{result['run_id']}: exit {code} ({result['status']}), {result['steps']} steps, final loss {loss}")
        if result.get("remote"):
            r = result["remote"]
            console.print(f"  trained on {r['infra']} ({r['accelerators']}, cluster {r['cluster']}, torn down) in {r['wall_s']} s, "
                          f"cost estimate {r['cost_estimate_usd'] if r['cost_estimate_usd'] is not None else '?'} USD", markup=False)
        if result["status"] == "interrupted":
            console.print(f"  go on from its last checkpoint: mh resume {result['run_id']}{' --remote' if result.get('remote') else ''}",
                          markup=False)
    raise typer.Exit(code)


def train(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset", help="A verified dataset id (default: the newest verified one)."),
    config: Path | None = typer.Option(None, "--config", exists=True, dir_okay=False, help="YAML or JSON; `_base: other.yaml` inherits."),
    steps: int | None = typer.Option(None, "--steps", min=1),
    seed: int | None = typer.Option(None, "--seed"),
    remote: bool = typer.Option(False, "--remote", help="Train on a machine SkyPilot rents (remote section of the run config)."),
    output: Path | None = typer.Option(None, "--output", file_okay=False,
                                       help="Also copy the finished run to DIR/RUN (the run stays in state/runs/)."),
) -> None:
    """Train a LoRA adapter on a verified dataset, only through the trainer firewall.

    Exit codes: 0 ok, 1 config error, 3 denied (trust level), 10 training failed, 11 loss NaN, 12 loss Inf,
    20 (--remote) the machine's teardown could not be confirmed, 30 interrupted (Ctrl-C or SIGTERM: a
    checkpoint is saved; `mh resume RUN` continues; --remote: the machine is torn down).
    """
    result = call_skill(ctx, "train_remote" if remote else "train", {"dataset": dataset, "config": str(config.resolve()) if config else None,
                                                                       "steps": steps, "seed": seed})
    if output is not None and result.get("run_id"):
        target = get_runtime(ctx).copy_run(result["run_id"], output)
        console.print(f"copied to {target} (mh keeps the run in state/runs/{result['run_id']})", markup=False)
    _trained(result)


def resume(ctx: typer.Context, run_id: str | None = typer.Argument(None, metavar="RUN"), run: str | None = RUN_OPTION,
           checkpoint: str | None = typer.Option(None, "--checkpoint", metavar="STEP|PATH",
                                                 help="Its step, or its folder (checkpoints/checkpoint-STEP, relative to the run); default: the last."),
           remote: bool = typer.Option(False, "--remote", help="Go on on a rented machine (the run config's `remote`), from the last checkpoint.")
           ) -> None:
    """Continue an interrupted run from its checkpoint, to the same result an uninterrupted run would reach.
    With --remote, on a machine SkyPilot rents: the run travels there and comes back verified."""
    from ..queries import checkpoint_step

    run_id = _run_id(run_id, run)
    if remote and checkpoint is not None:
        raise typer.BadParameter("a remote resume goes on from the last checkpoint", param_hint="--checkpoint")
    if remote:
        result = call_skill(ctx, "run_resume_remote", {"run": run_id})
    else:
        step = checkpoint_step(get_runtime(ctx).home, run_id, checkpoint) if checkpoint is not None else None
        result = call_skill(ctx, "run_resume", {"run": run_id, "checkpoint": step})
    _trained(result)


def eval_run(ctx: typer.Context, run_id: str | None = typer.Argument(None, metavar="RUN"), run: str | None = RUN_OPTION,
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Base vs adapter: the loss on held-out pairs (the person's own words), the held-out fact
    questions (answered right closed book, and with the note in the prompt), who it says it is, the
    probe prompts, and the gates. Results go to eval/results.json and eval/gates.json. Exit 14 when a
    gate fails."""
    outcome = call_skill(ctx, "run_eval", {"run": _run_id(run_id, run)})
    if as_json:
        print_json(outcome)
    else:
        r = outcome["results"]
        console.print(f"eval loss: base {r['base']['eval_loss']:.4f} (ppl {r['base']['perplexity']:.1f}), "
                      f"adapter {r['adapter']['eval_loss']:.4f} (ppl {r['adapter']['perplexity']:.1f})")
        if facts := r.get("facts"):
            console.print(f"facts ({facts['probes']} held-out questions) answered right: closed book base {facts['base']['closed_book']}, "
                          f"adapter {facts['adapter']['closed_book']}; with the note base {facts['base']['grounded']}, "
                          f"adapter {facts['adapter']['grounded']}", markup=False)
        console.print(f"who are you? {r['identity']['adapter']}", markup=False)
        for gate in outcome["gates"]["gates"]:
            value = int(gate["value"]) if float(gate["value"]).is_integer() else f"{gate['value']:.4f}"
            console.print(f"  {'pass' if gate['passed'] else 'FAIL'} {gate['gate']}: {value} (limit {gate['limit']})", markup=False)
        if not outcome["gates"]["gates"]:
            console.print(f"  FAIL: {outcome['gates']['reason']}")
    raise typer.Exit(outcome["exit_code"])


def export(ctx: typer.Context, run_id: str | None = typer.Argument(None, metavar="RUN"), run: str | None = RUN_OPTION,
           fmt: str = typer.Option("gguf-lora", "--format", help=f"One of: {', '.join(FORMATS)}.")) -> None:
    """Export a run's adapter: GGUF LoRA (llama.cpp/Ollama), merged GGUF (f16 or q8_0), PEFT folder, Ollama Modelfile."""
    say(ctx, "run_export", call_skill(ctx, "run_export", {"run": _run_id(run_id, run), "format": fmt}))


def promote(ctx: typer.Context, run_id: str | None = typer.Argument(None, metavar="RUN"), run: str | None = RUN_OPTION,
            name: str = typer.Option(..., "--name"), tags: str = typer.Option("", "--tags", help="Comma-separated.")) -> None:
    """Register a run's adapter as NAME (a new version), with the sha256 of every file and a signed
    training receipt. The run's gates must have passed (`mh eval RUN`)."""
    args = {"run": _run_id(run_id, run), "name": name, "tags": [t for t in tags.split(",") if t]}
    say(ctx, "adapter_promote", call_skill(ctx, "adapter_promote", args))


def nightly(ctx: typer.Context, report: Path | None = typer.Option(None, "--report", help="Write the JSON report here too."),
            steps: int | None = typer.Option(None, "--steps", min=1),
            config: Path | None = typer.Option(None, "--config", exists=True, dir_okay=False,
                                               help="This night's run config (YAML or JSON over etc/training.json), checked before anything runs."),
            remote: bool = typer.Option(False, "--remote", help="Train on a machine SkyPilot rents.")) -> None:
    """Build -> clean -> verify -> train -> eval -> export and, if etc/auto-approval.json allows, activate."""
    outcome = call_skill(ctx, "nightly", {"steps": steps, "remote": remote, "config": str(config.resolve()) if config else None})
    if report:
        report.write_text(json.dumps(outcome["report"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if outcome["error"]:
        err_console.print(f"[bold red]error:[/] {outcome['error']}", highlight=False)
        if outcome["fix"]:
            err_console.print(f"  [bold]fix:[/] {outcome['fix']}", highlight=False)
        raise typer.Exit(outcome.get("exit_code") or 1)  # 20: a rented machine whose teardown is not confirmed
    console.print(outcome["report"]["outcome"])


STATUS_HELP = ("ok, config, training_failed, nan, inf, interrupted, running, gone (its process died), unreadable; "
               "or Helix's completed (ok) and failed (config, training_failed, nan, inf)")


@runs_app.callback()
def runs(ctx: typer.Context, status: str | None = typer.Option(None, "--status", help=STATUS_HELP),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """List training runs (newest last)."""
    if ctx.invoked_subcommand is None:
        _list_runs(ctx, status, as_json)


@runs_app.command("list")
def runs_list(ctx: typer.Context, status: str | None = typer.Option(None, "--status", help=STATUS_HELP),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """The same as `mh runs` (Helix's `list`)."""
    _list_runs(ctx, status, as_json)


def _list_runs(ctx: typer.Context, status: str | None, as_json: bool) -> None:
    from ..queries import list_runs

    rows = list_runs(get_runtime(ctx).home, status)
    if as_json:
        print_json([row.model_dump(mode="json") for row in rows])
    elif rows:
        table = [("RUN", "STATUS", "EXIT", "STEPS", "LOSS", "GATES", "STARTED", "TOOK")]
        table += [(row.run_id, row.status or "new", _or_dash(row.exit_code), _or_dash(row.steps),
                   f"{row.final_loss:.4g}" if row.final_loss is not None else "-",
                   {True: "passed", False: "failed", None: "-"}[row.gates_passed],
                   f"{row.started_at.astimezone():%Y-%m-%d %H:%M}" if row.started_at else "-",
                   _took(row.duration_s) if row.duration_s is not None else "-") for row in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        for line in table:
            console.print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip(), markup=False, soft_wrap=True)
    else:
        console.print(f"no {status} runs" if status else "no runs yet: `mh train` (or `mh nightly`) starts one", markup=False)


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _took(seconds: float) -> str:
    """A duration as a person says it: 42 s, 3 min 5 s, 2 h 4 min."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


@runs_app.command("stop")
def runs_stop(ctx: typer.Context, run_id: str | None = typer.Argument(None, metavar="RUN", help="Default: the run training now.")) -> None:
    """Ask a training run to save a checkpoint and stop after its current step (it exits 30;
    `mh resume RUN` continues). Works whichever process or surface started it."""
    say(ctx, "run_stop", call_skill(ctx, "run_stop", {"run": run_id}))


@runs_app.command("show")
def runs_show(ctx: typer.Context, run_id: str | None = typer.Argument(None, metavar="RUN"), run: str | None = RUN_OPTION,
              as_json: bool = typer.Option(False, "--json")) -> None:
    """A run's report, summary, gates and files."""
    from ..queries import show_run

    view = show_run(get_runtime(ctx).home, _run_id(run_id, run)).model_dump(mode="json")
    if as_json:
        print_json(view)
    else:
        console.print_json(json.dumps(view, default=str))


def _adapter_call(ctx: typer.Context, skill: str, args: dict) -> None:
    say(ctx, skill, call_skill(ctx, skill, args))


@adapter_app.command("list")
def adapter_list(ctx: typer.Context) -> None:
    """Promoted adapters, their versions, and which one is active."""
    from ..queries import list_adapters

    adapters = list_adapters(get_runtime(ctx).home)
    for problem in adapters.skipped:
        err_console.print(f"[yellow]skipped:[/] {problem}")
    for item in adapters.items:
        mark = "*" if item.active else " "
        console.print(f"{mark} {item.name}@{item.version}  run {item.run_id}  dataset {item.dataset_id}  tags {','.join(item.tags) or '-'}", markup=False)
    if not adapters.items:
        console.print("no adapters promoted yet: `mh nightly` trains and activates one; by hand, `mh train`, "
                      "`mh eval RUN` (its gates must pass), then `mh promote RUN --name NAME`", markup=False)


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
