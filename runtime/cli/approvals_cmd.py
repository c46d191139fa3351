"""`mh approvals`: list, approve and reject queued skill calls."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from .. import ApprovalStatus, queries
from .common import console, err_console, get_runtime, print_json

app = typer.Typer(help="The approval queue: calls the agent may not make alone wait here for you.")


@app.callback(invoke_without_command=True)
def list_approvals(
    ctx: typer.Context,
    show_all: bool = typer.Option(False, "--all", help="Include resolved requests."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List pending approvals (with --all, every request and its outcome)."""
    if ctx.invoked_subcommand is not None:
        return
    found = queries.list_approvals(get_runtime(ctx), None if show_all else ApprovalStatus.pending)
    for problem in [*found.broken, *found.stalled]:
        err_console.print(f"[yellow]warning:[/] {problem}", markup=True, highlight=False)
    if as_json:
        print_json([a.model_dump(mode="json") for a in found.items])
        return
    if not found.items:
        console.print("no pending approvals" if not show_all else "no approvals")
        return
    now = datetime.now(UTC)
    table = Table()
    # The id is what `approve` and `reject` take: never cut, however narrow the terminal.
    table.add_column("id", no_wrap=True, min_width=max(len(a.id) for a in found.items))
    for column in ("status", "skill", "risk", "args", "requested by", "age"):
        table.add_column(column)
    for a in found.items:
        args = ", ".join(f"{k}={v!r}"[:60] for k, v in a.args.items())
        table.add_row(a.id, str(a.status), a.skill, str(a.risk), args, a.requested_by, queries.short_age(now - a.created_at))
    console.print(table)


@app.command()
def approve(ctx: typer.Context, approval_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Approve a pending request and run it now (the gate is checked again first).

    Approving twice, or from two places at once, runs it once; the second gets the first outcome.
    """
    runtime = get_runtime(ctx)
    approval, outcome = runtime.approve(approval_id, by="person@cli")
    if outcome is None:
        console.print(f"{approval.id} was already approved by {approval.resolved_by}; status {approval.status}")
        return
    if approval.status is ApprovalStatus.executed:
        console.print(f"{approval.id} approved and executed ({approval.skill})")
        if approval.result is not None:
            print_json(approval.result)
    else:
        err_console.print(f"{approval.id} approved but failed: {approval.error}")
        raise typer.Exit(1)


@app.command()
def reject(
    ctx: typer.Context,
    approval_id: str = typer.Argument(..., metavar="ID"),
    reason: str | None = typer.Option(None, "--reason", help="Why; kept with the request and in the audit log."),
) -> None:
    """Reject a pending request; it will never run."""
    runtime = get_runtime(ctx)
    approval = runtime.reject(approval_id, by="person@cli", reason=reason)
    console.print(f"{approval.id} rejected")
