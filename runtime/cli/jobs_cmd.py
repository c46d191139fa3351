"""`mh jobs`: long work started from a surface (the nightly pipeline), listed, started and stopped."""

from __future__ import annotations

import typer

from .common import call_skill, console, get_runtime, print_json, say

app = typer.Typer(help="Jobs: long work (the nightly pipeline) running as a child process, one of a kind at a time.")


@app.callback(invoke_without_command=True)
def list_jobs(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List jobs, newest first: running, done, failed, stopped or gone (its process died)."""
    if ctx.invoked_subcommand is not None:
        return
    from ..queries.status import list_jobs as jobs_of

    jobs = jobs_of(get_runtime(ctx).home)
    if as_json:
        print_json([job.model_dump(mode="json") for job in jobs])
        return
    for job in jobs:
        code = "" if job.exit_code is None else f" exit {job.exit_code}"
        pid = f" pid {job.pid}" if job.pid else ""
        console.print(f"{job.id}  {job.kind:<8} {job.state:<8}{pid}{code}  by {job.started_by}  {job.started_at:%Y-%m-%d %H:%M}  {job.log}",
                      markup=False)
        if job.error:
            console.print(f"  {job.error}", markup=False)
    if not jobs:
        console.print("no jobs")


@app.command("start")
def start(ctx: typer.Context, kind: str = typer.Argument("nightly", help="nightly"),
          steps: int | None = typer.Option(None, "--steps", min=1, help="Training steps (default: etc/training.json).")) -> None:
    """Start a job in the background (output in logs/services/JOB.log); `mh jobs` follows it."""
    say(ctx, "job_start", call_skill(ctx, "job_start", {"kind": kind, "steps": steps}))


@app.command("stop")
def stop(ctx: typer.Context, job_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Stop a running job (SIGTERM; a nightly that is training saves a checkpoint first)."""
    say(ctx, "job_stop", call_skill(ctx, "job_stop", {"id": job_id}))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="jobs")
