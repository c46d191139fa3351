"""`mh audit`: verify, tail, seal, replay."""

from __future__ import annotations

import json

import typer

from .. import queries
from .common import console, counted, err_console, get_runtime, print_json

app = typer.Typer(help="The hash-chained, signed audit log in logs/audit/.", no_args_is_help=True)


@app.command()
def verify(ctx: typer.Context) -> None:
    """Check every entry's hash, the chain across files, the pinned key, every signed checkpoint, and
    the log against its witness outside the home ($MH_WITNESS_DIR, else ~/.local/state/mh/witness).

    Exits 0 only when all hold; otherwise prints the first bad file:line and why: edited, inserted,
    deleted, reordered, truncated, bad signature, malformed, re-keyed, rewritten, rolled back, log
    deleted, log replaced, checkpoints deleted or no checkpoint.
    """
    report = queries.verify_audit(get_runtime(ctx))
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    if report.ok:
        console.print(
            f"ok: {counted(report.entries, 'entry')} in {counted(report.files, 'file')}, {counted(report.checkpoints, 'signed checkpoint')}, "
            f"head seq {report.head_seq} {report.head_hash[:16]}"
        )
        return
    problem = report.problem
    where = f"logs/audit/{problem.file}" if problem.file.endswith(".ndjson") else problem.file
    where += f":{problem.line}" if problem.line else ""
    err_console.print(f"[bold red]FAILED[/] {where}: {problem.reason}: {problem.detail}")
    raise typer.Exit(1)


@app.command()
def tail(
    ctx: typer.Context,
    n: int = typer.Option(20, "-n", min=1, help="How many entries."),
    category: str | None = typer.Option(None, "--category", "-c", help="Only this category (skill, approval, trust, ...)."),
    level: str | None = typer.Option(None, "--level", help="Only this level (info, warning, error, security)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON entry per line."),
) -> None:
    """Show the last entries, oldest first."""
    for entry in queries.audit_tail(get_runtime(ctx), n, category=category, level=level):
        if as_json:
            typer.echo(json.dumps(entry.model_dump(mode="json"), ensure_ascii=False))
        else:
            details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
            console.print(f"{entry.ts} #{entry.seq} {entry.level:<8} {entry.category}.{entry.event} {entry.actor} {details}", soft_wrap=True)


@app.command()
def seal(ctx: typer.Context) -> None:
    """Sign a checkpoint at the head now and update the witness (also done every N entries, N seconds
    after an entry, and when a process closes)."""
    checkpoint = get_runtime(ctx).seal_audit()
    if checkpoint is None:
        console.print("the log is empty; nothing to seal")
    else:
        console.print(f"sealed seq {checkpoint.seq} {checkpoint.hash[:16]} with key {checkpoint.key_id}")


@app.command()
def replay(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print state and differences as JSON.")) -> None:
    """Rebuild trust level, approval states, dataset stages and active adapter from the log; report
    differences from disk.

    Exits 1 when the files on disk disagree with the log.
    """
    report = queries.replay_audit(get_runtime(ctx))
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        console.print(f"replayed {counted(report.entries, 'entry')}")
        console.print(f"  trust level: {report.trust_level}")
        console.print(f"  approvals: {len(report.approvals)} ({', '.join(sorted(set(report.approvals.values()))) or 'none'})")
        console.print(f"  datasets: {len(report.datasets)} ({', '.join(sorted(set(report.datasets.values()))) or 'none'})")
        console.print(f"  active adapter: {report.active_adapter or 'none (the base model)'}")
        for difference in report.differences:
            err_console.print(f"[bold red]difference:[/] {difference}")
        if report.ok:
            console.print("the files on disk match the log")
    if not report.ok:
        raise typer.Exit(1)
