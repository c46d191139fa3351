"""`mh agent list|ps|status|logs|monitor|run`: the background agents (ingestor, organizer,
sleep-service, boredom-service). `mh start` / `mh stop` (runtime/cli/supervisor_cmd.py) run them all."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime

import typer

from ..queries.memory import memory_overview, service_log_file, service_status, service_statuses, service_table
from ..services import RUNNING_ELSEWHERE, AlreadyRunning, service, watch
from .common import EXIT_DENIED, console, counted, err_console, get_runtime, print_json

app = typer.Typer(help="Background agents: the inbox ingestor, the organizer, the sleep and boredom services.", no_args_is_help=True)
FOLLOW_POLL_S = 0.25


@app.command("list")
def list_agents(ctx: typer.Context) -> None:
    """The agents, what they do, and when each last ran."""
    for item in service_statuses(get_runtime(ctx).home):
        last = f"last run {item.last_run_at:%Y-%m-%d %H:%M}" if item.last_run_at else "never run"
        console.print(f"{item.name:<15} {item.state:<10} {item.description} ({last})")


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = (moment - datetime.now(UTC)).total_seconds()
    if abs(seconds) < 90:
        return f"in {seconds:.0f} s" if seconds >= 0 else "now"
    return f"{moment.astimezone():%Y-%m-%d %H:%M}"


@app.command()
def ps(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Each service: pid, state, last run, next run, failures (and the supervisor of `mh start`)."""
    table = service_table(get_runtime(ctx).home)
    if as_json:
        print_json(table.model_dump(mode="json"))
        return
    boss = table.supervisor
    console.print(f"supervisor: running, pid {boss.pid}, started by {boss.started_by}" if boss.running
                  else "supervisor: not running (`mh start` runs every enabled service)", markup=False)
    console.print(f"{'SERVICE':<16}{'PID':>8}  {'STATE':<11}{'LAST RUN':<18}{'NEXT RUN':<18}{'FAILURES':>8}{'RESTARTS':>9}  NOTE")
    for item in table.services:
        last = f"{item.last_run_at.astimezone():%Y-%m-%d %H:%M}" if item.last_run_at else "never"
        note = item.note if item.state in ("running", "paused", "error") else ""
        console.print(f"{item.name:<16}{item.pid or '-':>8}  {item.state:<11}{last:<18}{_when(item.next_run_at):<18}{item.failures:>8}"
                      f"{item.restarts:>9}  {note or ''}", markup=False)


@app.command()
def logs(ctx: typer.Context, name: str = typer.Argument(..., help="a service, or supervisor"),
         lines: int = typer.Option(20, "-n", min=0, help="How many lines from the end."),
         follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines until Ctrl-C.")) -> None:
    """The last lines of a service's log (logs/services/NAME.log, rotated at 1 MiB); -f follows it."""
    path = service_log_file(get_runtime(ctx).home, name)
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    for line in text.splitlines()[-lines:] if lines else []:
        console.print(line, markup=False, highlight=False)
    if not follow:
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    handle = open(path, "rb") if path.exists() else None  # kept open across polls, like tail -F
    if handle is not None:
        handle.seek(len(text.encode("utf-8")))
    try:
        while not stop.wait(FOLLOW_POLL_S):
            if handle is not None:
                _print_lines(handle.read())
            try:
                renamed = handle is None or os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                continue
            if renamed:  # rotated: the old file is read to its end, then the new one from its start
                if handle is not None:
                    _print_lines(handle.read())  # what was written to it between the read above and the rotation
                    handle.close()
                handle = open(path, "rb")
                _print_lines(handle.read())
    except KeyboardInterrupt:
        return
    finally:
        if handle is not None:
            handle.close()


def _print_lines(chunk: bytes) -> None:
    for line in chunk.decode("utf-8", "replace").splitlines():
        console.print(line, markup=False, highlight=False)


@app.command()
def status(ctx: typer.Context, name: str = typer.Argument(...), lines: int = typer.Option(10, "-n"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Runs, successes, failures, success rate, state, next run, the last error and the last log lines of one agent."""
    view = service_status(get_runtime(ctx).home, name, lines=lines)
    if as_json:
        print_json(view.model_dump(mode="json"))
        return
    rate = f"{view.success_rate:.0%}" if view.success_rate is not None else "-"
    console.print(f"{name}: {view.state}{f' (pid {view.pid})' if view.pid else ''}; {counted(view.runs, 'run')}, {view.successes} ok, "
                  f"{view.failures} with failures, success rate {rate}", markup=False)
    if view.note and view.running:
        console.print(f"  now: {view.note}; next run {_when(view.next_run_at)}", markup=False)
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
def run(ctx: typer.Context, name: str = typer.Argument(..., help="ingestor, organizer, sleep-service or boredom-service"),
        once: bool = typer.Option(False, "--once", help="Process what is there now and exit.")) -> None:
    """Run an agent: with --once a single pass, otherwise until Ctrl-C or SIGTERM."""
    runtime = get_runtime(ctx)
    worker = service(name).build(runtime)
    if once:
        result = worker.run_once()
        if isinstance(result, list):
            for outcome in result:
                console.print(f"{outcome.status:<9} {outcome.name}" + (f": {outcome.reason}" if outcome.reason else
                              f" -> {counted(len(outcome.memories), 'memory')} ({outcome.new} new)"))
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
    try:
        watch(worker, stop, lambda: console.print(f"{name} running; Ctrl-C stops it"))
    except AlreadyRunning as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        raise typer.Exit(RUNNING_ELSEWHERE) from None
