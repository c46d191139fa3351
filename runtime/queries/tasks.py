"""Tasks, read: the list (`mh task list`) and one task (`mh task show`). Reads only."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..home import Home
from ..tasks import CLOSED, Task, TaskStatus, TaskStore

__all__ = ["Task", "TaskList", "get_task", "list_tasks"]


class TaskList(BaseModel):
    items: list[Task] = Field(description="open ones first, by priority and due date")
    skipped: list[str] = Field(description="task files that cannot be read, and why")


def list_tasks(home: Home, *, status: TaskStatus | None = None, tag: str | None = None,
               include_closed: bool = False) -> TaskList:
    """Open tasks; done and cancelled ones too with `include_closed`, or when `status` asks for one of them."""
    tasks, problems = TaskStore(home).all()
    chosen = [t for t in tasks if (status is None or t.status == status) and (tag is None or tag in t.tags)
              and (include_closed or status in CLOSED or t.status not in CLOSED)]
    return TaskList(items=chosen, skipped=problems)


def get_task(home: Home, task_id: str) -> Task:
    """A task by id or by a unique start of one (TaskNotFound otherwise)."""
    return TaskStore(home).get(task_id)
