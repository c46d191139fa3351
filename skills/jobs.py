"""The person's own operations on long work: job_start (high), job_stop (low). Never the agent's
tools; `observe` refuses them like any change."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from runtime.jobs import Job, Jobs
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill


class JobStartInput(BaseModel):
    kind: Literal["nightly"] = Field(default="nightly", description="nightly: build, clean, verify, train, eval, export, (activate)")
    steps: int | None = Field(default=None, ge=1, description="training steps (default: etc/training.json)")


class JobStopInput(BaseModel):
    id: str = Field(min_length=1, max_length=64, description="a job id, e.g. job-20261122T201500-ab12 (see `mh jobs`)")


def _say_job(job: dict) -> str:
    pid = f" (pid {job['pid']})" if job.get("pid") else ""
    return f"{job['id']}: {job['kind']} {job['state']}{pid}; output in {job['log']}"


@skill(risk="high", agent=False, describe=_say_job)
def job_start(ctx: SkillContext, args: JobStartInput) -> Job:
    """Start long work as a job: a child process that outlives the surface, listed by `mh jobs`."""
    return Jobs(ctx.home).start(args.kind, ctx.session, {"steps": args.steps})


@skill(risk="low", agent=False, describe=_say_job)
def job_stop(ctx: SkillContext, args: JobStopInput) -> Job:
    """Stop a running job (SIGTERM; a nightly that is training saves a checkpoint first)."""
    return Jobs(ctx.home).stop(args.id)


@hookimpl
def register_skills(register):
    for item in (job_start, job_stop):
        register(item)
