"""Task skills: list, find, create, update status."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill
from runtime.tasks import CLOSED, Priority, Task, TaskStatus

from .phrasings import phrasings


class TaskListInput(BaseModel):
    status: TaskStatus | None = Field(default=None, description="only tasks with this status")
    tag: str | None = None
    include_closed: bool = Field(default=False, description="also done and cancelled tasks")


class TaskFindInput(BaseModel):
    query: str = Field(min_length=1, max_length=300, description="words in the title, description or tags")


class TaskCreateInput(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    description: str = ""
    priority: Priority = Priority.P2
    due: date | None = None
    tags: list[str] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)


class TaskUpdateStatusInput(BaseModel):
    id: str = Field(min_length=1, description="task id, or a unique start of it")
    status: TaskStatus


class TaskListResult(BaseModel):
    tasks: list[Task]


def _say_tasks(r: dict) -> str:
    if not r["tasks"]:
        return "No tasks."
    return "\n".join(f"- {t['id']} [{t['status']}] {t['priority']} {t['title']}" + (f" (due {t['due']})" if t["due"] else "")
                     for t in r["tasks"])


def _say_task(t: dict) -> str:
    return f"{t['id']} [{t['status']}] {t['priority']} {t['title']}"


@skill(
    risk="read",
    describe=_say_tasks,
    examples=phrasings("task_list"),
)
def task_list(ctx: SkillContext, args: TaskListInput) -> TaskListResult:
    """List tasks, open ones first by priority and due date."""
    tasks, _ = ctx.tasks.all()
    chosen = [
        t for t in tasks
        if (args.status is None or t.status is args.status)
        and (args.tag is None or args.tag in t.tags)
        and (args.include_closed or args.status in CLOSED or t.status not in CLOSED)
    ]
    return TaskListResult(tasks=chosen)


@skill(
    risk="read",
    describe=_say_tasks,
    examples=phrasings("task_find"),
)
def task_find(ctx: SkillContext, args: TaskFindInput) -> TaskListResult:
    """Find tasks whose title, description or tags contain all the words."""
    return TaskListResult(tasks=ctx.tasks.find(args.query))


@skill(
    risk="low",
    asks=(
        "add a task", "remind me", "add", "create", "new task", "put", "make", "schedule", "todo", "to-do", "task",
        "reminder",
    ),
    describe=lambda t: f"Added {_say_task(t)}.",
    examples=phrasings("task_create"),
)
def task_create(ctx: SkillContext, args: TaskCreateInput) -> Task:
    """Create a task (title, optional description, priority P0-P3, due date, tags, dependencies)."""
    return ctx.tasks.create(**args.model_dump())


@skill(
    risk="low",
    asks=(
        "mark", "done", "finished", "finish", "complete", "completed", "start", "started", "begin", "cancel",
        "cancelled", "canceled", "block", "blocked", "reopen", "working on", "close", "set", "move", "drop",
    ),
    describe=lambda t: f"Now {_say_task(t)}.",
    examples=phrasings("task_update_status"),
)
def task_update_status(ctx: SkillContext, args: TaskUpdateStatusInput) -> Task:
    """Change a task's status: todo, in_progress, blocked, done or cancelled."""
    return ctx.tasks.set_status(args.id, args.status)


@hookimpl
def register_skills(register):
    for item in (task_list, task_find, task_create, task_update_status):
        register(item)
