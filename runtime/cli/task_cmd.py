"""`mh task add|list|start|done|show`."""

from __future__ import annotations

from datetime import date

import typer

from .. import Priority, TaskStatus, queries
from ..errors import MhError
from .common import call_skill, console, err_console, get_runtime, print_json

app = typer.Typer(help="Tasks in memory/tasks/active/ and memory/tasks/completed/.", no_args_is_help=True)


def _line(t: dict) -> str:
    due = f" due {t['due']}" if t.get("due") else ""
    return f"{t['id']}  [{t['status']}] {t['priority']} {t['title']}{due}"


@app.command()
def add(
    ctx: typer.Context,
    title: str = typer.Argument(...),
    description: str = typer.Option("", "--description", "-d"),
    priority: Priority = typer.Option(Priority.P2, "--priority", "-p"),
    due: str | None = typer.Option(None, "--due", help="YYYY-MM-DD"),
    tag: list[str] = typer.Option([], "--tag", "-t"),
    depends: list[str] = typer.Option([], "--depends", help="Id of a task this one waits for; repeatable."),
) -> None:
    """Add a task."""
    try:
        due_date = date.fromisoformat(due) if due else None
    except ValueError:
        raise MhError(f"--due {due!r} is not a date", fix="write it as YYYY-MM-DD, e.g. 2027-01-31") from None
    task = call_skill(ctx, "task_create", {"title": title, "description": description, "priority": priority,
                                      "due": due_date, "tags": tag, "dependencies": depends})
    console.print(f"added {_line(task)}", markup=False)


@app.command("list")
def list_tasks(
    ctx: typer.Context,
    show_all: bool = typer.Option(False, "--all", help="Include done and cancelled tasks."),
    status: TaskStatus | None = typer.Option(None, "--status"),
    tag: str | None = typer.Option(None, "--tag", "-t"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List tasks: open ones first, by priority and due date."""
    found = queries.list_tasks(get_runtime(ctx).home, status=status, tag=tag, include_closed=show_all)
    for problem in found.skipped:
        err_console.print(f"[yellow]skipped:[/] {problem}")
    if as_json:
        print_json([t.model_dump(mode="json") for t in found.items])
        return
    for task in found.items:
        console.print(_line(task.model_dump(mode="json")), markup=False)
    if not found.items:
        console.print("no tasks")


def _set(ctx: typer.Context, task_id: str, status: TaskStatus) -> None:
    task = call_skill(ctx, "task_update_status", {"id": task_id, "status": status})
    console.print(_line(task), markup=False)


@app.command()
def start(ctx: typer.Context, task_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Mark a task in progress (its dependencies must be done)."""
    _set(ctx, task_id, TaskStatus.in_progress)


@app.command()
def done(ctx: typer.Context, task_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Mark a task done (it moves to memory/tasks/completed/)."""
    _set(ctx, task_id, TaskStatus.done)


@app.command()
def show(ctx: typer.Context, task_id: str = typer.Argument(..., metavar="ID"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Show a task in full (an id, or a unique start of one)."""
    task = queries.get_task(get_runtime(ctx).home, task_id).model_dump(mode="json")
    if as_json:
        print_json(task)
        return
    console.print(_line(task), markup=False)
    for key in ("description", "tags", "dependencies", "created_at", "started_at", "completed_at"):
        if task[key]:
            console.print(f"  {key}: {task[key]}", markup=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="task")
