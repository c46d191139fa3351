"""`mh agent list|status|monitor|run`: the background agents (ingestor, organizer)."""

from __future__ import annotations

import signal
import threading

import typer

from ..services import SERVICES, ServiceBook, memory_overview, service, watch
from .common import console, get_runtime, print_json

app = typer.Typer(help="Background agents: the inbox ingestor and the memory organizer.", no_args_is_help=True)


@app.command("list")
def list_agents(ctx: typer.Context) -> None:
    """The agents, what they do, and when each last ran."""
    runtime = get_runtime(ctx)
    for name, spec in SERVICES.items():
        book = ServiceBook(runtime.home, name)
        state = book.state()
        last = f"last run {state.last_run_at:%Y-%m-%d %H:%M}" if state.last_run_at else "never run"
        console.print(f"{name:<10} {'running' if book.running.is_held() else 'stopped':<8} {spec.description} ({last})")


@app.command()
def status(ctx: typer.Context, name: str = typer.Argument(...), lines: int = typer.Option(10, "-n"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Runs, successes, failures, the last error and the last log lines of one agent."""
    runtime = get_runtime(ctx)
    service(name)
    book = ServiceBook(runtime.home, name)
    state, running = book.state(), book.running.is_held()
    if as_json:
        print_json({**state.model_dump(mode="json"), "running": running, "log": book.last_lines(lines)})
        return
    console.print(f"{name}: {'running' if running else 'stopped'}; {state.runs} runs, {state.successes} ok, {state.failures} with failures")
    if state.last_error:
        console.print(f"  last error: {state.last_error}")
    for line in book.last_lines(lines):
        console.print(f"  {line}", markup=False)


@app.command()
def monitor(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Memories (total, processed, unprocessed), inbox depth and failed files."""
    view = memory_overview(get_runtime(ctx))
    if as_json:
        print_json({**view, "failed": len(view["failed"])})
        return
    console.print(f"memories {view['memories']} (processed {view['processed']}, unprocessed {view['unprocessed']}); "
                  f"inbox {view['inbox']} waiting, {len(view['failed'])} failed")


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
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    watch(worker, stop, lambda: console.print(f"{name} running; Ctrl-C stops it"))
