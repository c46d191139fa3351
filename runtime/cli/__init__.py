"""The `mh` command line. Each command group lives in its own module; all of them only call Runtime."""

from __future__ import annotations

import sys

import typer

from ..errors import MhError
from . import (
    agent_cmd,
    api_cmd,
    approvals_cmd,
    audit_cmd,
    chat_cmd,
    console_cmd,
    dataset_cmd,
    home_cmd,
    jobs_cmd,
    memory_cmd,
    skills_cmd,
    supervisor_cmd,
    task_cmd,
    train_cmd,
    trust_cmd,
    worker_cmd,
)
from .common import err_console, root_callback

app = typer.Typer(
    name="mh",
    help="mh: a local-first personal agent runtime that lives in one folder.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold secrets
    add_completion=False,
    callback=root_callback,
)
home_cmd.register(app)
chat_cmd.register(app)
trust_cmd.register(app)
skills_cmd.register(app)
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(approvals_cmd.app, name="approvals")
memory_cmd.register(app)
task_cmd.register(app)
app.add_typer(agent_cmd.app, name="agent")
app.add_typer(dataset_cmd.app, name="dataset")
train_cmd.register(app)
api_cmd.register(app)
console_cmd.register(app)
jobs_cmd.register(app)
app.add_typer(worker_cmd.app, name="worker")
supervisor_cmd.register(app)


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, prog_name="mh")
    except MhError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.fix:
            err_console.print(f"  [bold]fix:[/] {exc.fix}", highlight=False)
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
