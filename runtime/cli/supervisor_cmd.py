"""`mh start` and `mh stop`: every service of the home under one supervisor (runtime/supervisor.py)."""

from __future__ import annotations

import typer

from ..supervisor import Supervisor, start, stop
from .common import console, get_runtime


def register(app: typer.Typer) -> None:
    app.command("start")(start_services)
    app.command("stop")(stop_services)


def start_services(ctx: typer.Context, foreground: bool = typer.Option(
        False, "--foreground", help="Run the supervisor in this process until Ctrl-C or SIGTERM (for systemd and the like).")) -> None:
    """Run every service (ingestor, organizer, sleep-service, boredom-service) in the background,
    restarted with backoff when one crashes; `mh agent ps` shows them, `mh stop` ends them."""
    runtime = get_runtime(ctx)
    if foreground:
        raise typer.Exit(Supervisor(runtime.home, started_by=runtime.person.actor).run())
    view = start(runtime.home, started_by=runtime.person.actor)
    console.print(f"supervisor running (pid {view.pid}): {', '.join(child.name for child in view.children)}", markup=False)
    idle = [f"{child.name} ({child.why})" for child in view.children if child.why]
    if idle:
        console.print(f"  off by their config, waiting until it says otherwise: {', '.join(idle)}", markup=False)
    console.print("  `mh agent ps` shows them; `mh stop` ends them", markup=False)


def stop_services(ctx: typer.Context) -> None:
    """Stop the supervisor and every service it runs (SIGTERM; each finishes its pass first)."""
    pid = stop(get_runtime(ctx).home)
    console.print("no supervisor is running" if pid is None else f"stopped the supervisor (pid {pid}) and its services", markup=False)
