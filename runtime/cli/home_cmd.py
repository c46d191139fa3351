"""`mh init`."""

from __future__ import annotations

import typer

from .common import console, get_runtime


def init(ctx: typer.Context) -> None:
    """Create the home: folders, config templates (etc/*.json) and the Ed25519 signing key.

    Safe to run again: it only adds what is missing and never overwrites a file.
    """
    runtime = get_runtime(ctx, initialise=False)
    report = runtime.init()
    if not report.created_folders and not report.created_files:
        console.print(f"home {runtime.home.root} is complete; nothing to do")
        return
    console.print(f"home {runtime.home.root}")
    for name in report.created_folders + report.created_files:
        console.print(f"  created {name}")


def register(app: typer.Typer) -> None:
    app.command()(init)
