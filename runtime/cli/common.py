"""What every command group shares: the runtime of this invocation and the consoles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from .. import CallStatus, Runtime
from ..words import counted as counted  # re-exported: every command counts in words through here

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def root_callback(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", envvar="MH_HOME", help="The home folder. Default: $MH_HOME, else this checkout.",
        file_okay=False,
    ),
) -> None:
    runtime = Runtime(home, surface="cli")
    runtime.progress = console.is_terminal
    ctx.obj = runtime
    ctx.call_on_close(runtime.close)


def get_runtime(ctx: typer.Context, *, initialise: bool = True) -> Runtime:
    """The invocation's runtime. A home that was never initialised is initialised on first use."""
    runtime: Runtime = ctx.find_root().obj
    if initialise and runtime.ensure_initialised() is not None:
        err_console.print(f"mh: initialised the home at {runtime.home.root}")
    return runtime


class Waiting:
    """A spinner on stderr while the person waits (a terminal only; pipes and logs stay clean), gone at
    the first word of output or when the wait ends."""

    def __init__(self, message: str) -> None:
        self._status = err_console.status(message) if err_console.is_terminal else None

    def __enter__(self) -> Waiting:
        if self._status is not None:
            self._status.start()
        return self

    def done(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __exit__(self, *exc: object) -> None:
        self.done()


EXIT_DENIED = 3


def call_skill(ctx: typer.Context, skill: str, args: dict[str, Any]) -> Any:
    """Run a skill as the person; on failure print the error and its fix, and exit (3 if denied, else 1)."""
    outcome = get_runtime(ctx).call(skill, args)
    if outcome.status is not CallStatus.ok:
        err_console.print(f"[bold red]{outcome.status}:[/] {outcome.error or outcome.reason}")
        if outcome.fix:
            err_console.print(f"  [bold]fix:[/] {outcome.fix}")
        raise typer.Exit(EXIT_DENIED if outcome.status is CallStatus.denied else 1)
    return outcome.result


def say(ctx: typer.Context, skill: str, result: Any) -> None:
    """A skill's result in its own words."""
    console.print(get_runtime(ctx).skills.get(skill).say(result), markup=False)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))
