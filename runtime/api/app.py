"""Routes of the localhost API, a thin surface over Runtime. A route is a skill call as the person at
the API (`person@api`: gate, sandbox and audit as anywhere else), a person operation (trust,
approvals) or a query from runtime.queries; the chat's calls are the agent's. Long work (train-now)
is a job. Routes return pydantic models, so the OpenAPI schema is typed, and bodies of skill routes
are the skills' own input models."""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import AsyncIterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import anyio
from litestar import Litestar, Request, Response, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import ServerSentEvent
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from skills.memory import MemoryCaptureInput, MemoryCaptureResult, MemorySearchResult
from skills.tasks import TaskCreateInput, TaskListResult, TaskUpdateStatusInput

from ..errors import ApprovalNotFound, Denied, MhError, SandboxError
from ..jobs import Job, JobNotFound, JobState
from ..queries import AuditCheck, AuditEntryView, HomeStatus, RunView, audit_tail, get_job, home_status, list_approvals, list_jobs, show_run, verify_audit
from ..queries.approvals import Approval
from ..queries.status import TrustLevel
from ..queries.tasks import Task, TaskStatus
from ..runtime import CallStatus, Runtime, Session
from .security import Guard
from .sessions import ChatSessions

MAX_BODY = 1 << 20
MAX_AUDIT_WINDOW = 50_000  # page * per_page: /api/audit reads the log from its end, never all of it


class Conflict(MhError):
    """The request collides with work in progress (a second nightly)."""


def person() -> Session:
    """The person at the API: their own approver, and `person@api` in the audit log."""
    return Session.person_at("api")


def _skill(runtime: Runtime, skill: str, args: dict[str, Any]) -> Any:
    """A skill's result, called as the person; refused -> 403, failed -> 400 (with the fix)."""
    outcome = runtime.call(skill, args, session=person())
    if outcome.status is CallStatus.denied:
        raise Denied(outcome.reason, fix=outcome.fix)
    if outcome.status is not CallStatus.ok:
        raise MhError(outcome.error or outcome.reason, fix=outcome.fix)
    return outcome.result


# -- file_operations (the seed's contract, and more) --------------------------------------------------


class FileOperation(BaseModel):
    action: Literal["create", "write", "read", "list", "delete", "stat", "search"]
    filename: str = Field(default="", max_length=4096, description="a path inside out/")
    content: str | None = Field(default=None, max_length=MAX_BODY)
    overwrite: bool = False
    pattern: str = Field(default="*", max_length=256, description="for list: a glob")
    query: str = Field(default="", max_length=256, description="for search: part of a file name")


class FileOperationResult(BaseModel):
    success: bool
    message: str | None = None
    path: str | None = Field(default=None, description="the absolute path of the file (the seed's contract), always inside basePath")
    relative_path: str | None = Field(default=None, description="the same path from the home, as the audit log names it (out/...)")
    error: str | None = None
    content: str | None = None
    entries: list[dict[str, Any]] | None = None


class FileStatus(BaseModel):
    status: str
    trustLevel: str  # noqa: N815 - the seed's field name
    canWrite: bool  # noqa: N815
    canRead: bool  # noqa: N815
    basePath: str  # noqa: N815


def _file_skill(runtime: Runtime, skill: str, args: dict[str, Any]) -> FileOperationResult:
    """The seed's answer: a skill's failure is `success: false` (200); a refusal by the gate is 403."""
    outcome = runtime.call(skill, args, session=person())
    if outcome.status is CallStatus.denied:
        raise Denied(outcome.reason, fix=outcome.fix)
    if outcome.status is not CallStatus.ok:
        return FileOperationResult(success=False, error=outcome.error or outcome.reason)
    result = outcome.result
    walked = result.get("path")
    return FileOperationResult(success=True, message=runtime.skills.get(skill).say(result), path=_absolute_in_out(runtime, walked),
                               relative_path=walked, content=result.get("content"), entries=result.get("entries"))


def _absolute_in_out(runtime: Runtime, walked: str | None) -> str | None:
    """The absolute path of an entry the sandbox walked from the home (no symlink on the way, so
    this is where it is); by spelling, never resolved, and never a path outside out/."""
    if walked is None:
        return None
    absolute = Path(os.path.normpath(runtime.sandbox.root / walked))
    return str(absolute) if absolute.is_relative_to(runtime.sandbox.out) else None


def _name_in_out(runtime: Runtime, filename: str) -> str:
    """A name inside out/. The absolute `path` this API answers (basePath/...) names the same file;
    any other absolute path is refused rather than read as a name inside out/."""
    base = str(runtime.sandbox.out)
    if not filename.startswith("/"):
        return filename
    if filename == base or filename.startswith(f"{base}/"):
        return filename[len(base):].lstrip("/")
    raise SandboxError(f"{filename[:200]!r} is outside basePath ({base})", fix=f"name a file inside {base}/, or relative to it, e.g. notes/today.txt")


@post("/api/file_operations", sync_to_thread=True, status_code=200)
def file_operations(data: JSONBody[FileOperation], runtime: NamedDependency[Runtime]) -> FileOperationResult:
    try:
        path = runtime.sandbox.in_out(_name_in_out(runtime, data.filename))  # the API's whole world is out/, reads included
    except MhError as exc:
        runtime.audit.append("api", "refused", details={"action": data.action, "filename": data.filename[:200],
                             "error": exc.message, "source": "api"}, actor=person().actor, level="warning")
        return FileOperationResult(success=False, error=exc.message)
    if data.action in ("create", "write"):
        if data.content is None:
            return FileOperationResult(success=False, error="content is required for create and write")
        return _file_skill(runtime, "fs_write", {"path": path, "content": data.content,
                                                 "overwrite": data.overwrite if data.action == "create" else True})
    if data.action == "read":
        return _file_skill(runtime, "fs_read", {"path": path})
    if data.action == "delete":
        return _file_skill(runtime, "fs_delete", {"path": path})
    if data.action == "list":
        return _file_skill(runtime, "fs_list", {"path": path, "pattern": data.pattern})
    if data.action == "search":
        safe = "".join(c for c in data.query if c.isalnum() or c in "-_. ")
        return _file_skill(runtime, "fs_list", {"path": path, "pattern": f"**/*{safe}*"})
    # stat: the entry itself, from a listing of its folder; `path` is as walked, so "." is out/ itself.
    parent, _, name = path.rpartition("/")
    result = _file_skill(runtime, "fs_list", {"path": parent or ".", "pattern": glob.escape(name)})  # the name, not a pattern
    if result.success and not result.entries:
        return FileOperationResult(success=False, error=f"no file at {data.filename!r}")
    if result.success:  # the entry's path, not its folder's
        walked = result.entries[0]["path"]
        return result.model_copy(update={"path": _absolute_in_out(runtime, walked), "relative_path": walked})
    return result


@get("/api/file_operations", sync_to_thread=False)
def file_status(runtime: NamedDependency[Runtime], action: FromQuery[str] = "status") -> FileStatus:
    if action != "status":
        raise ValidationException(f"unknown action {action!r}; GET supports action=status")
    session = person()
    allowed = lambda skill: runtime.decide(runtime.skills.get(skill), {}, session).verdict != "deny"  # noqa: E731
    return FileStatus(status="online", trustLevel=str(runtime.trust_level()), canWrite=allowed("fs_write"),
                      canRead=allowed("fs_read"), basePath=str(runtime.sandbox.out))


# -- control ------------------------------------------------------------------------------------------


class TrustView(BaseModel):
    level: TrustLevel


class ApprovalDecision(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=1000)


class ApprovalDecisionById(BaseModel):
    """MetaHuman's shape: the id in the body, `action` (mh's `decision` is accepted too)."""

    id: str = Field(min_length=1, max_length=200, description="the approval's id (`mh approvals` lists them)")
    action: Literal["approve", "reject"] = Field(validation_alias=AliasChoices("action", "decision"))
    reason: str | None = Field(default=None, max_length=1000)


class ApprovalDecided(BaseModel):
    approval: Approval
    ran: bool = Field(description="whether this request ran the skill (false when it had run already)")


class AuditPage(BaseModel):
    total: int = Field(description="matching entries counted from the newest back to this page (one more when `more`)")
    more: bool = Field(description="older matching entries exist beyond this page")
    page: int
    per_page: int
    entries: list[AuditEntryView] = Field(description="newest first")


@get("/api/status", sync_to_thread=True)
def status(runtime: NamedDependency[Runtime]) -> HomeStatus:
    return home_status(runtime)


@get("/api/trust", sync_to_thread=False)
def trust_get(runtime: NamedDependency[Runtime]) -> TrustView:
    return TrustView(level=runtime.trust_level())


@post("/api/trust", sync_to_thread=True, status_code=200)
def trust_set(data: JSONBody[TrustView], runtime: NamedDependency[Runtime]) -> TrustView:
    runtime.set_trust(data.level, actor=person().actor)
    return TrustView(level=runtime.trust_level())


@get("/api/approvals", sync_to_thread=True)
def approvals(runtime: NamedDependency[Runtime], status: FromQuery[str | None] = None) -> list[Approval]:
    return list_approvals(runtime, status).items


def _decide(runtime: Runtime, approval_id: str, decision: Literal["approve", "reject"], reason: str | None) -> ApprovalDecided:
    if decision == "approve":
        approval, outcome = runtime.approve(approval_id, by=person().actor)
        return ApprovalDecided(approval=approval, ran=outcome is not None)
    return ApprovalDecided(approval=runtime.reject(approval_id, by=person().actor, reason=reason), ran=False)


@post("/api/approvals/{approval_id:str}", sync_to_thread=True, status_code=200)
def approval_decide(approval_id: FromPath[str], data: JSONBody[ApprovalDecision], runtime: NamedDependency[Runtime]) -> ApprovalDecided:
    return _decide(runtime, approval_id, data.decision, data.reason)


@post("/api/approvals", sync_to_thread=True, status_code=200)
def approval_decide_by_body(data: JSONBody[ApprovalDecisionById], runtime: NamedDependency[Runtime]) -> ApprovalDecided:
    """MetaHuman's `POST /api/approvals {"id", "action"}`: the same decision as /api/approvals/{id}."""
    return _decide(runtime, data.id, data.action, data.reason)


# The forms `date` takes: a prefix of an entry's timestamp, as the log's day files are named.
AUDIT_DATE_FORMATS = {4: "%Y", 7: "%Y-%m", 10: "%Y-%m-%d", 13: "%Y-%m-%dT%H"}
AUDIT_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2}(T\d{2})?)?)?")
YES, NO = frozenset({"", "1", "true", "yes"}), frozenset({"0", "false", "no"})


def _audit_date(value: str) -> str:
    """A date the log can match, or a 400 that says the form (a typo once answered an empty list)."""
    try:
        if AUDIT_DATE.fullmatch(value):
            datetime.strptime(value, AUDIT_DATE_FORMATS[len(value)])
            return value
    except ValueError:
        pass
    raise MhError(f"date {value[:40]!r} is not a date", fix="use date=YYYY-MM-DD, e.g. date=2026-11-23 (or YYYY-MM for a month, YYYY for a year)")


def _audit_level(level: str | None, category: str | None, security: str | None) -> tuple[str | None, str | None]:
    """MetaHuman's `?security` (and its category `security`) is mh's level `security`: trust changes,
    approvals, token rotations, refusals of the dataset firewall, key rotations, an unsealed tail."""
    wanted = category == "security"
    if security is not None:
        if security.lower() not in YES | NO:
            raise MhError(f"security={security[:40]!r} is neither true nor false", fix="use ?security (or security=true)")
        wanted = wanted or security.lower() in YES
    if not wanted:
        return level, category
    if level not in (None, "security"):
        raise MhError(f"security entries are those of level security, not {level[:40]!r}", fix="drop level= or security")
    return "security", None if category == "security" else category


@get("/api/audit", sync_to_thread=True)
def audit(runtime: NamedDependency[Runtime], date: FromQuery[str | None] = None, category: FromQuery[str | None] = None,
          level: FromQuery[str | None] = None, security: FromQuery[str | None] = None, page: FromQuery[int] = 1,
          per_page: FromQuery[int] = 50) -> AuditPage:
    if page < 1 or not 1 <= per_page <= 500 or page * per_page > MAX_AUDIT_WINDOW:
        raise ValidationException(f"page must be >= 1, per_page 1..500 and page * per_page at most {MAX_AUDIT_WINDOW}")
    date = None if date is None else _audit_date(date)
    level, category = _audit_level(level, category, security)
    window = page * per_page
    found = audit_tail(runtime, window + 1, category=category, level=level, date=date)  # oldest first
    return AuditPage(total=len(found), more=len(found) > window, page=page, per_page=per_page,
                     entries=found[::-1][(page - 1) * per_page : window])


@get("/api/audit/verify", sync_to_thread=True)
def audit_verify(runtime: NamedDependency[Runtime]) -> AuditCheck:
    return verify_audit(runtime)


# -- jobs and runs ------------------------------------------------------------------------------------


class JobStatus(BaseModel):
    """A job, as /api/runs/{id} answers for a job id (the id train-now returns)."""

    id: str
    status: JobState
    error: str | None
    job: Job


@post("/actions/train-now", sync_to_thread=True, status_code=202)
def train_now(runtime: NamedDependency[Runtime]) -> Job:
    """Start the nightly pipeline as a job (`job_start`); /api/runs/{id} and /api/jobs/{id} follow it."""
    try:
        return Job.model_validate(_skill(runtime, "job_start", {"kind": "nightly"}))
    except Denied:
        raise
    except MhError as exc:
        if any(job.kind == "nightly" and job.state in ("queued", "running") for job in list_jobs(runtime.home)):
            raise Conflict(exc.message, fix=exc.fix) from None
        raise


@get("/api/jobs", sync_to_thread=True)
def jobs(runtime: NamedDependency[Runtime]) -> list[Job]:
    return list_jobs(runtime.home)


@get("/api/jobs/{job_id:str}", sync_to_thread=True)
def job(job_id: FromPath[str], runtime: NamedDependency[Runtime]) -> Job:
    return get_job(runtime.home, job_id)


@post("/api/jobs/{job_id:str}/stop", sync_to_thread=True, status_code=200)
def job_stop(job_id: FromPath[str], runtime: NamedDependency[Runtime]) -> Job:
    return Job.model_validate(_skill(runtime, "job_stop", {"id": job_id}))


@get("/api/runs/{run_id:str}", sync_to_thread=True)
def run_status(run_id: FromPath[str], runtime: NamedDependency[Runtime]) -> JobStatus | RunView:
    """A training run, or the job that train-now started."""
    if run_id.startswith("job-"):
        found = get_job(runtime.home, run_id)
        return JobStatus(id=found.id, status=found.state, error=found.error, job=found)
    return show_run(runtime.home, run_id)


# -- memories, tasks, chat ---------------------------------------------------------------------------------


class TaskStatusChange(BaseModel):
    status: TaskStatus


class ChatIn(BaseModel):
    message: str = Field(min_length=1, max_length=20_000)
    session: str | None = Field(default=None, max_length=64, description="name it to continue it (kept 30 minutes idle)")


@post("/api/memories", sync_to_thread=True, status_code=201)
def memory_capture(data: JSONBody[MemoryCaptureInput], runtime: NamedDependency[Runtime]) -> MemoryCaptureResult:
    return MemoryCaptureResult.model_validate(_skill(runtime, "memory_capture", data.model_dump()))


@get("/api/memories", sync_to_thread=True)
def memory_search(runtime: NamedDependency[Runtime], q: FromQuery[str], limit: FromQuery[int] = 10) -> MemorySearchResult:
    return MemorySearchResult.model_validate(_skill(runtime, "memory_search", {"query": q, "limit": max(1, min(limit, 100))}))


@get("/api/tasks", sync_to_thread=True)
def task_list(runtime: NamedDependency[Runtime], include_closed: FromQuery[bool] = False) -> TaskListResult:
    return TaskListResult.model_validate(_skill(runtime, "task_list", {"include_closed": include_closed}))


@post("/api/tasks", sync_to_thread=True, status_code=201)
def task_create(data: JSONBody[TaskCreateInput], runtime: NamedDependency[Runtime]) -> Task:
    return Task.model_validate(_skill(runtime, "task_create", data.model_dump(mode="json")))


@patch("/api/tasks/{task_id:str}", sync_to_thread=True)
def task_update(task_id: FromPath[str], data: JSONBody[TaskStatusChange], runtime: NamedDependency[Runtime]) -> Task:
    return Task.model_validate(_skill(runtime, "task_update_status", {"id": task_id, "status": data.status}))


class TaskStatusById(TaskUpdateStatusInput):
    """MetaHuman's `PATCH /api/tasks {"id", "status"}`; a key it does not know (a new title) is refused, not dropped."""

    model_config = ConfigDict(extra="forbid")


@patch("/api/tasks")
async def task_update_by_body(data: JSONBody[TaskStatusById], runtime: NamedDependency[Runtime]) -> Task:
    """Async, and registered before the two others of /api/tasks, on purpose: Litestar 2.25 wraps
    the first handler of a path again for each handler registered after it, and a sync_to_thread
    handler wrapped a third time returns a coroutine (GET /api/tasks answered 500)."""
    result = await anyio.to_thread.run_sync(partial(_skill, runtime, "task_update_status", data.model_dump(mode="json")))
    return Task.model_validate(result)


@post("/api/chat")
async def chat(data: JSONBody[ChatIn], chats: NamedDependency[ChatSessions]) -> ServerSentEvent:
    agent = chats.agent(data.session)

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            async for event in agent.stream(data.message):
                if event.kind == "text":
                    yield {"event": "delta", "data": event.text}
                elif event.kind == "done":
                    yield {"event": "done", "data": event.result.model_dump_json()}
        except MhError as exc:
            yield {"event": "error", "data": json.dumps({"error": exc.message, "fix": exc.fix})}

    return ServerSentEvent(events())


# -- the app --------------------------------------------------------------------------------------


def _error(status: int):
    def handler(request: Request, exc: Exception) -> Response:
        if isinstance(exc, MhError):
            body = {"success": False, "error": exc.message, "fix": exc.fix}
        elif isinstance(exc, RecursionError):  # the JSON decoder gave up on a body nested too deeply
            body = {"success": False, "error": "the request does not fit the schema", "detail": "the JSON is nested too deeply"}
        elif isinstance(exc, ValidationException):
            body = {"success": False, "error": "the request does not fit the schema", "detail": exc.extra or exc.detail}
        else:
            body = {"success": False, "error": getattr(exc, "detail", "error")}
        return Response(body, status_code=status if not isinstance(exc, HTTPException) or isinstance(exc, MhError) else exc.status_code)

    return handler


def create_app(runtime: Runtime, *, extra_hosts: frozenset[str] = frozenset()) -> Litestar:
    def chat_agent(name: str):
        from ..agent import ChatAgent  # the model stack loads with the first chat, not with the server

        # The agent's calls are gated as `agent`; what it saves of each exchange is the person's.
        return ChatAgent(runtime, session=Session(actor="agent", id=name, source="api"), person=person())

    chats = ChatSessions(chat_agent)  # the app's only state
    handlers = [file_operations, file_status, status, trust_get, trust_set, approvals, approval_decide, approval_decide_by_body, audit,
                audit_verify, train_now, jobs, job, job_stop, run_status, memory_capture, memory_search, task_update_by_body, task_list,
                task_create, task_update, chat]
    return Litestar(
        route_handlers=handlers,
        dependencies={"runtime": Provide(lambda: runtime, use_cache=True, sync_to_thread=False),
                      "chats": Provide(lambda: chats, use_cache=True, sync_to_thread=False)},
        middleware=[lambda app: Guard(app, home=runtime.home, extra_hosts=extra_hosts)],
        request_max_body_size=MAX_BODY,
        openapi_config=OpenAPIConfig(title="mh", version="0.1.0", path="/schema", render_plugins=[JsonRenderPlugin()]),
        exception_handlers={MhError: _error(400), Denied: _error(403), Conflict: _error(409), ApprovalNotFound: _error(404),
                            JobNotFound: _error(404), ValidationException: _error(400),
                            NotFoundException: _error(404), HTTPException: _error(500), RecursionError: _error(400)},
        debug=False,
    )
