"""`mh console`."""

from __future__ import annotations

import typer

from .common import get_runtime


def console(ctx: typer.Context) -> None:
    """The operator console: status, approvals, audit, memory, training and chat, live. `?` lists the keys."""
    from ..console.app import run_console

    run_console(get_runtime(ctx))


def register(app: typer.Typer) -> None:
    app.command()(console)
