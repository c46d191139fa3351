"""`mh console`."""

from __future__ import annotations

import typer

from .common import get_runtime


def console(ctx: typer.Context) -> None:
    """The operator console: status, approvals, audit, memory, training and chat, refreshed live
    as files change.

    Keys: t next trust level, a approve, r reject (asks why), enter show the request, ? help, q quit.

    f starts the nightly pipeline (asks first); x stops the training run in progress (checkpoint first).

    Actions are recorded as person@console in the audit log.
    """
    from ..console.app import run_console

    run_console(get_runtime(ctx))


def register(app: typer.Typer) -> None:
    app.command()(console)
