"""`mh agent list|status|monitor|run`: the background agents (ingestor, organizer)."""

from __future__ import annotations

import signal
import threading

import typer

from ..queries.memory import memory_overview, service_status, service_statuses
from ..services import service, watch
from .common import EXIT_DENIED, console, err_console, get_runtime, print_json

app = typer.Typer(help="Background agents: the inbox ingestor and the memory organizer.", no_args_is_help=True)


@app.command("list")
def list_agents(ctx: typer.Context) -> None:
    """The agents, what they do, and when each last ran."""
    for item in service_statuses(get_runtime(ctx).home):
        last = f"last run {item.last_run_at:%Y-%m-%d %H:%M}" if item.last_run_at else "never run"
        console.print(f"{item.name:<10} {'running' if item.running else 'stopped':<8} {item.description} ({last})")


@app.command()
def status(ctx: typer.Context, name: str = typer.Argument(...), lines: int = typer.Option(10, "-n"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Runs, successes, failures, the last error and the last log lines of one agent."""
    view = service_status(get_runtime(ctx).home, name, lines=lines)
    if as_json:
        print_json(view.model_dump(mode="json"))
        return
    console.print(f"{name}: {'running' if view.running else 'stopped'}; {view.runs} runs, {view.successes} ok, {view.failures} with failures")
    if view.last_error:
        console.print(f"  last error: {view.last_error}")
    for line in view.log:
        console.print(f"  {line}", markup=False)


@app.command()
def monitor(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Memories (total, processed, unprocessed), inbox depth and failed files."""
    view = memory_overview(get_runtime(ctx).memory)
    if as_json:
        print_json({**view.model_dump(), "failed": len(view.failed)})
        return
    console.print(f"memories {view.memories} (processed {view.processed}, unprocessed {view.unprocessed}); "
                  f"inbox {view.inbox} waiting, {len(view.failed)} failed")


@app.command()
def run(ctx: typer.Context, name: str = typer.Argument(..., help="ingestor or organizer"),
        once: bool = typer.Option(False, "--once", help="Process what is there now and exit.")) -> None:
    """Run an agent: with --once a single pass, otherwise until Ctrl-C or SIGTERM."""
    runtime = get_runtime(ctx)
    worker = service(name).build(runtime)
    if once:
        result = worker.run_once()
        if isinstance(result, list):
            for outcome in result:
                console.print(f"{outcome.status:<9} {outcome.name}" + (f": {outcome.reason}" if outcome.reason else
                              f" -> {len(outcome.memories)} memories ({outcome.new} new)"))
            if any(o.status == "failed" for o in result):
                raise typer.Exit(1)
        else:
            console.print(", ".join(f"{key} {value}" for key, value in result.items()))
        if worker.door.paused:
            err_console.print(f"[bold red]paused:[/] {name} changes nothing: {worker.door.paused}")
            err_console.print("  [bold]fix:[/] raise the trust level (`mh trust`); a running agent resumes by itself")
            raise typer.Exit(EXIT_DENIED)
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    watch(worker, stop, lambda: console.print(f"{name} running; Ctrl-C stops it"))
