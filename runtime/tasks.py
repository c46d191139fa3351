"""Tasks: one JSON file each, in memory/tasks/active/ until done or cancelled, then memory/tasks/completed/."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import MhError
from .home import Home
from .jsonio import atomic_write, pretty, read_json_file


class TaskStatus(StrEnum):
    todo = "todo"
    in_progress = "in_progress"
    blocked = "blocked"
    done = "done"
    cancelled = "cancelled"


CLOSED = frozenset({TaskStatus.done, TaskStatus.cancelled})


class Priority(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


class TaskNotFound(MhError):
    """No task with that id (or the prefix matches several)."""


class Task(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^task-[0-9a-z-]+$")
    title: str = Field(min_length=1, max_length=300)
    description: str = ""
    status: TaskStatus = TaskStatus.todo
    priority: Priority = Priority.P2
    due: date | None = None
    tags: list[str] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None


class TaskStore:
    def __init__(self, home: Home) -> None:
        self.active = home.tasks_active
        self.completed = home.tasks_completed

    def _folder(self, task: Task) -> Path:
        return self.completed if task.status in CLOSED else self.active

    def _write(self, task: Task) -> None:
        folder = self._folder(task)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / f"{task.id}.json", pretty(task.model_dump(mode="json")))
        # Written in its new folder first, removed from the old one second: a crash in between
        # leaves two copies, and `all()` keeps the newer one. Never zero.
        other = (self.active if folder == self.completed else self.completed) / f"{task.id}.json"
        other.unlink(missing_ok=True)

    def create(self, *, title: str, description: str = "", priority: Priority | str = Priority.P2,
               due: date | None = None, tags: list[str] | None = None, dependencies: list[str] | None = None) -> Task:
        now = datetime.now(UTC)
        for dependency in dependencies or []:
            self.get(dependency)  # a dependency must exist
        task = Task(id=f"task-{now:%Y%m%d}-{secrets.token_hex(3)}", title=title, description=description,
                    priority=Priority(priority), due=due, tags=tags or [], dependencies=dependencies or [],
                    created_at=now, updated_at=now)
        self._write(task)
        return task

    def all(self) -> tuple[list[Task], list[str]]:
        """(tasks, problems): every readable task, newest copy of each; unreadable files named."""
        found: dict[str, Task] = {}
        problems = []
        for folder in (self.active, self.completed):
            for path in sorted(folder.glob("task-*.json")):
                try:
                    task = Task.model_validate(read_json_file(path))
                except (OSError, ValueError, ValidationError) as exc:
                    problems.append(f"memory/tasks/{folder.name}/{path.name}: {str(exc).splitlines()[0]}")
                    continue
                if task.id not in found or task.updated_at > found[task.id].updated_at:
                    found[task.id] = task
        order = {p: i for i, p in enumerate(Priority)}
        tasks = sorted(found.values(), key=lambda t: (t.status in CLOSED, order[t.priority], t.due or date.max, t.created_at))
        return tasks, problems

    def get(self, task_id: str) -> Task:
        tasks, _ = self.all()
        matches = [t for t in tasks if t.id == task_id] or [t for t in tasks if t.id.startswith(task_id)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise TaskNotFound(f"no task {task_id}", fix="list them with `mh task list --all`")
        raise TaskNotFound(f"{task_id!r} matches {len(matches)} tasks", fix="give more of the id")

    def set_status(self, task_id: str, status: TaskStatus | str) -> Task:
        task = self.get(task_id)
        status = TaskStatus(status)
        now = datetime.now(UTC)
        changes: dict = {"status": status, "updated_at": now}
        if status is TaskStatus.in_progress and task.started_at is None:
            changes["started_at"] = now
        if status in CLOSED:
            changes["completed_at"] = now
        elif task.status in CLOSED:
            changes["completed_at"] = None
        if status is TaskStatus.in_progress:
            open_deps = [d for d in task.dependencies if self.get(d).status not in CLOSED]
            if open_deps:
                raise MhError(f"{task.id} waits for {', '.join(open_deps)}", fix="finish those first, or mark this one blocked")
        updated = task.model_copy(update=changes)
        self._write(updated)
        return updated

    def find(self, query: str) -> list[Task]:
        words = query.lower().split()
        tasks, _ = self.all()
        return [t for t in tasks if all(w in f"{t.title} {t.description} {' '.join(t.tags)}".lower() for w in words)]
