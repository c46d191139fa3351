"""Routes of the localhost API. Actions run as the person ("human", source "api") through
Runtime.call, with the same gate, sandbox and audit as the CLI; the chat's calls are the agent's,
and train-now runs the nightly pipeline."""

from __future__ import annotations

import glob
import json
import secrets
import threading
from collections.abc import AsyncIterator
from typing import Any, Literal

from litestar import Litestar, Request, Response, get, patch, post
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.response import ServerSentEvent
from pydantic import BaseModel, Field

from ..errors import ApprovalNotFound, MhError
from ..runtime import CallStatus, Runtime, Session
from ..trust import TrustLevel, Verdict
from .security import Guard

MAX_BODY = 1 << 20


def human(source: str = "api") -> Session:
    return Session(actor="human", id="api", source=source)


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
    path: str | None = None
    error: str | None = None
    content: str | None = None
    entries: list[dict[str, Any]] | None = None


class FileStatus(BaseModel):
    status: str
    trustLevel: str  # noqa: N815 - the seed's field name
    canWrite: bool  # noqa: N815
    canRead: bool  # noqa: N815
    basePath: str  # noqa: N815


def _inside_out(runtime: Runtime, filename: str) -> str:
    """`out/<filename>` if it stays inside out/ (the API's whole world, reads included)."""
    path = f"out/{filename.lstrip('/')}" if filename else "out"
    resolved = runtime.sandbox.readable(path)  # realpath; NUL, length and keys checks
    out = runtime.sandbox.out
    if resolved != out and out not in resolved.parents:
        raise MhError(f"{filename!r} is outside out/", fix="name a file inside out/, e.g. notes/today.txt")
    return path


def _outcome(runtime: Runtime, skill: str, args: dict[str, Any]) -> FileOperationResult:
    outcome = runtime.call(skill, args, session=human())
    if outcome.status is not CallStatus.ok:
        return FileOperationResult(success=False, error=outcome.error or outcome.reason)
    result = outcome.result
    return FileOperationResult(success=True, message=runtime.skills.get(skill).say(result), path=result.get("path"),
                               content=result.get("content"), entries=result.get("entries"))


@post("/api/file_operations", sync_to_thread=True, status_code=200)
def file_operations(data: FileOperation, runtime: Runtime) -> FileOperationResult:
    try:
        path = _inside_out(runtime, data.filename)
    except MhError as exc:
        runtime.audit.append("api", "refused", details={"action": data.action, "filename": data.filename[:200],
                             "error": exc.message, "source": "api"}, actor="human", level="warning")
        return FileOperationResult(success=False, error=exc.message)
    if data.action in ("create", "write"):
        if data.content is None:
            return FileOperationResult(success=False, error="content is required for create and write")
        return _outcome(runtime, "fs_write", {"path": path, "content": data.content,
                                              "overwrite": data.overwrite if data.action == "create" else True})
    if data.action == "read":
        return _outcome(runtime, "fs_read", {"path": path})
    if data.action == "delete":
        return _outcome(runtime, "fs_delete", {"path": path})
    if data.action == "list":
        return _outcome(runtime, "fs_list", {"path": path, "pattern": data.pattern})
    if data.action == "search":
        safe = "".join(c for c in data.query if c.isalnum() or c in "-_. ")
        return _outcome(runtime, "fs_list", {"path": path, "pattern": f"**/*{safe}*"})
    parent, _, name = path.rpartition("/")  # stat: the entry itself, from a listing of its folder
    result = _outcome(runtime, "fs_list", {"path": parent or ".", "pattern": glob.escape(name)})  # the name, not a pattern
    if result.success and not result.entries:
        return FileOperationResult(success=False, error=f"no file at {data.filename!r}")
    return result


@get("/api/file_operations", sync_to_thread=False)
def file_status(runtime: Runtime, action: str = "status") -> FileStatus:
    if action != "status":
        raise ValidationException(f"unknown action {action!r}; GET supports action=status")
    session = human()
    verdict = lambda skill: runtime.decide(runtime.skills.get(skill), {}, session).verdict  # noqa: E731
    return FileStatus(status="ok", trustLevel=str(runtime.trust_level()), canWrite=verdict("fs_write") is not Verdict.deny,
                      canRead=verdict("fs_read") is not Verdict.deny, basePath=str(runtime.sandbox.out))


# -- control ------------------------------------------------------------------------------------------


class TrustChange(BaseModel):
    level: TrustLevel


class ApprovalDecision(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=1000)


@get("/api/status", sync_to_thread=True)
def status(runtime: Runtime) -> dict[str, Any]:
    from ..services import SERVICES, ServiceBook
    from ..training.registry import active_record

    active = active_record(runtime.home)
    seq, head = runtime.audit.head()
    cfg = runtime.agent_config()
    return {"trust": str(runtime.trust_level()), "model": {"provider": cfg.provider, "model": cfg.model or "SmolLM2-135M (shipped)"},
            "active_adapter": active, "services": {name: ServiceBook(runtime.home, name).state().model_dump(mode="json") for name in SERVICES},
            "queue_depth": sum(1 for a in runtime.list_approvals().items if a.status == "pending"),
            "audit_head": {"seq": seq, "hash": head}}


@get("/api/trust", sync_to_thread=False)
def trust_get(runtime: Runtime) -> dict[str, str]:
    return {"level": str(runtime.trust_level())}


@post("/api/trust", sync_to_thread=True, status_code=200)
def trust_set(data: TrustChange, runtime: Runtime) -> dict[str, str]:
    runtime.set_trust(data.level, actor="human")
    return {"level": str(runtime.trust_level())}


@get("/api/approvals", sync_to_thread=True)
def approvals(runtime: Runtime, status: str | None = None) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json") for a in runtime.list_approvals().items if status is None or a.status == status]


@post("/api/approvals/{approval_id:str}", sync_to_thread=True, status_code=200)
def approval_decide(approval_id: str, data: ApprovalDecision, runtime: Runtime) -> dict[str, Any]:
    if data.decision == "approve":
        approval, outcome = runtime.approve(approval_id, by="human@api")
        return {"approval": approval.model_dump(mode="json"), "ran": outcome is not None}
    return {"approval": runtime.reject(approval_id, by="human@api", reason=data.reason).model_dump(mode="json"), "ran": False}


@get("/api/audit", sync_to_thread=True)
def audit(runtime: Runtime, date: str | None = None, category: str | None = None, level: str | None = None,
          page: int = 1, per_page: int = 50) -> dict[str, Any]:
    if page < 1 or not 1 <= per_page <= 500:
        raise ValidationException("page must be >= 1 and per_page 1..500")
    entries = [e for e in runtime.audit.entries()
               if (date is None or e.ts.startswith(date)) and (category is None or e.category == category)
               and (level is None or e.level == level)]
    entries.reverse()  # newest first
    chunk = entries[(page - 1) * per_page : page * per_page]
    return {"total": len(entries), "page": page, "per_page": per_page, "entries": [e.to_dict() for e in chunk]}


@get("/api/audit/verify", sync_to_thread=True)
def audit_verify(runtime: Runtime) -> dict[str, Any]:
    report = runtime.verify_audit()
    problem = report.problem
    return {"ok": report.ok, "entries": report.entries, "checkpoints": report.checkpoints, "warnings": report.warnings,
            "problem": {"file": problem.file, "line": problem.line, "reason": problem.reason, "detail": problem.detail} if problem else None}


_jobs: dict[str, dict[str, Any]] = {}


@post("/actions/train-now", sync_to_thread=False, status_code=202)
def train_now(runtime: Runtime) -> dict[str, str]:
    from ..training.nightly import NightlyFailed, nightly

    job_id = f"job-{secrets.token_hex(4)}"
    _jobs[job_id] = {"id": job_id, "status": "running", "report": None}
    runtime.audit.append("api", "train_now", details={"job": job_id, "source": "api"}, actor="human")

    def work() -> None:
        try:
            report = nightly(runtime)
            _jobs[job_id].update(status="done", report=report, run_id=report.get("run_id"))
        except NightlyFailed as exc:
            _jobs[job_id].update(status="failed", report=exc.report, error=exc.message)
        except Exception as exc:  # recorded so the job never reads "running" forever; re-raised for the log
            _jobs[job_id].update(status="failed", error=f"{type(exc).__name__}: {exc}")
            raise

    threading.Thread(target=work, name=job_id, daemon=True).start()
    return {"id": job_id, "status": "running"}


@get("/api/runs/{run_id:str}", sync_to_thread=True)
def run_status(run_id: str, runtime: Runtime) -> dict[str, Any]:
    if run_id in _jobs:
        return _jobs[run_id]
    from ..training.runs import RunDir

    run = RunDir.find(runtime.home.runs_dir, run_id)
    return {"id": run_id, "report": run.report(), "summary": run.read_json("metrics/summary.json"),
            "gates": run.gates()}


# -- memories, tasks, chat ---------------------------------------------------------------------------------


class MemoryIn(BaseModel):
    content: str = Field(min_length=1, max_length=100_000)
    type: str = "note"
    tags: list[str] = Field(default_factory=list)


class TaskIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    description: str = ""
    priority: Literal["P0", "P1", "P2", "P3"] = "P2"
    tags: list[str] = Field(default_factory=list)


class TaskStatusIn(BaseModel):
    status: Literal["todo", "in_progress", "blocked", "done", "cancelled"]


class ChatIn(BaseModel):
    message: str = Field(min_length=1, max_length=20_000)
    session: str | None = Field(default=None, max_length=64)


def _skill(runtime: Runtime, skill: str, args: dict[str, Any]) -> Any:
    outcome = runtime.call(skill, args, session=human())
    if outcome.status is not CallStatus.ok:
        raise MhError(outcome.error or outcome.reason, fix=outcome.fix)
    return outcome.result


@post("/api/memories", sync_to_thread=True, status_code=201)
def memory_capture(data: MemoryIn, runtime: Runtime) -> dict[str, Any]:
    return _skill(runtime, "memory_capture", data.model_dump())


@get("/api/memories", sync_to_thread=True)
def memory_search(runtime: Runtime, q: str, limit: int = 10) -> dict[str, Any]:
    return _skill(runtime, "memory_search", {"query": q, "limit": max(1, min(limit, 100))})


@get("/api/tasks", sync_to_thread=True)
def task_list(runtime: Runtime, include_closed: bool = False) -> dict[str, Any]:
    return _skill(runtime, "task_list", {"include_closed": include_closed})


@post("/api/tasks", sync_to_thread=True, status_code=201)
def task_create(data: TaskIn, runtime: Runtime) -> dict[str, Any]:
    return _skill(runtime, "task_create", data.model_dump())


@patch("/api/tasks/{task_id:str}", sync_to_thread=True)
def task_update(task_id: str, data: TaskStatusIn, runtime: Runtime) -> dict[str, Any]:
    return _skill(runtime, "task_update_status", {"id": task_id, "status": data.status})


_agents: dict[str, Any] = {}


@post("/api/chat")
async def chat(data: ChatIn, runtime: Runtime) -> ServerSentEvent:
    from ..agent import ChatAgent

    key = data.session or f"api-{secrets.token_hex(4)}"
    agent = _agents.get(key) or ChatAgent(runtime, session=Session(actor="agent", id=key, source="api"))
    if data.session:  # kept only when the client named it (to continue it); a one-off agent, and its model, go
        _agents[key] = agent

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
        elif isinstance(exc, ValidationException):
            body = {"success": False, "error": "the request does not fit the schema", "detail": exc.extra or exc.detail}
        else:
            body = {"success": False, "error": getattr(exc, "detail", "error")}
        return Response(body, status_code=status if not isinstance(exc, HTTPException) or isinstance(exc, MhError) else exc.status_code)

    return handler


def create_app(runtime: Runtime, *, extra_hosts: frozenset[str] = frozenset()) -> Litestar:
    handlers = [file_operations, file_status, status, trust_get, trust_set, approvals, approval_decide, audit, audit_verify,
                train_now, run_status, memory_capture, memory_search, task_list, task_create, task_update, chat]
    return Litestar(
        route_handlers=handlers,
        dependencies={"runtime": Provide(lambda: runtime, use_cache=True, sync_to_thread=False)},
        middleware=[lambda app: Guard(app, home=runtime.home, extra_hosts=extra_hosts)],
        request_max_body_size=MAX_BODY,
        openapi_config=OpenAPIConfig(title="mh", version="0.1.0", path="/schema", enabled_endpoints={"openapi.json"}),
        exception_handlers={MhError: _error(400), ApprovalNotFound: _error(404), ValidationException: _error(400),
                            NotFoundException: _error(404), HTTPException: _error(500)},
        debug=False,
    )
