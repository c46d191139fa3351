"""The home at a glance, for `/api/status` and the console's Status tab alike, and the jobs. Read-only:
a part that cannot be read (a damaged config, an unreadable adapter record) becomes a problem line
and the rest is still reported."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from ..errors import MhError
from ..home import Home
from ..jobs import Job, Jobs
from ..supervisor import SupervisorView, supervisor_view
from ..training.registry import active_record
from ..trust import TrustLevel
from .memory import ServiceStatus, service_statuses

__all__ = ["AuditHead", "HomeStatus", "ModelInfo", "TrustLevel", "get_job", "home_status", "list_jobs"]

RECENT_JOBS = 5


class ModelInfo(BaseModel):
    provider: str
    model: str


class AuditHead(BaseModel):
    seq: int
    hash: str


class HomeStatus(BaseModel):
    trust: TrustLevel | None = Field(
        description="None when etc/trust.json is missing or cannot be read: mh then acts at observe (problems says why)")
    model: ModelInfo | None = Field(description="the chat model; None when etc/agent.json cannot be read")
    active_adapter: dict[str, Any] | None = Field(
        description="persona/overrides/active-adapter.json; None while the base model is in use, {'unreadable': why} when damaged")
    services: list[ServiceStatus] = Field(description="each background service: state, pid, next run, counters")
    supervisor: SupervisorView = Field(description="the `mh start` supervisor, when it runs")
    queue_depth: int = Field(description="approvals pending now")
    stalled: list[str] = Field(description="approved requests whose run was cut off")
    jobs: list[Job] = Field(description=f"the {RECENT_JOBS} newest jobs")
    audit_head: AuditHead | None
    chain: str | None = Field(default=None, description="the audit chain's check, when the caller ran one")
    problems: list[str]


def home_status(runtime, *, chain: str | None = None) -> HomeStatus:
    problems: list[str] = []

    def part(read):
        try:
            return read()
        except MhError as exc:
            problems.append(exc.message)
            return None

    trust_cfg = runtime.trust_config()
    if trust_cfg.fallback:  # the gate acts at observe; the file's own level is unknown
        problems.append(f"{trust_cfg.fallback} (fix: {trust_cfg.fallback_fix})")
    trust = None if trust_cfg.fallback else trust_cfg.level
    cfg = part(runtime.agent_config)
    model = ModelInfo(provider=cfg.provider, model=cfg.model or "SmolLM2-135M (shipped)") if cfg else None
    try:
        adapter = active_record(runtime.home)
    except MhError as exc:
        adapter = {"unreadable": exc.message}
        problems.append(exc.message)
    scan = runtime.approvals.scan()
    problems += scan.broken
    now = datetime.now(UTC)
    head = part(runtime.audit.head)
    return HomeStatus(
        trust=trust, model=model, active_adapter=adapter, services=service_statuses(runtime.home), supervisor=supervisor_view(runtime.home),
        queue_depth=sum(1 for a in scan.items if a.status == "pending" and a.expires_at > now),
        stalled=runtime.approvals.stalled_notes(scan), jobs=part(lambda: list_jobs(runtime.home, RECENT_JOBS)) or [],
        audit_head=AuditHead(seq=head[0], hash=head[1]) if head else None, chain=chain, problems=problems,
    )


def list_jobs(home: Home, limit: int | None = None) -> list[Job]:
    """Jobs, newest first (a job whose process died reads `gone`)."""
    return Jobs(home).list(limit)


def get_job(home: Home, job_id: str) -> Job:
    return Jobs(home).get(job_id)
