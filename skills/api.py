"""The API's bearer token: api_token_rotate (medium), the person's own operation (never the agent's;
`observe` refuses it, and nothing is written)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from runtime.api_token import rotate_token
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill


class ApiTokenRotateInput(BaseModel):
    pass


class ApiToken(BaseModel):
    token: str = Field(description="shown this once: only its sha256 is kept")
    created_at: datetime


@skill(risk="medium", agent=False, describe=lambda r: "A new API token; the old one no longer works.")
def api_token_rotate(ctx: SkillContext, args: ApiTokenRotateInput) -> ApiToken:
    """Create (or replace) the API's bearer token; it is returned once, only its sha256 is stored."""
    token, created_at = rotate_token(ctx.home)
    # The skill's own entries keep the result's token out (a secret-named key); this one says what happened.
    ctx.audit.append("api", "token_rotated", details={"source": ctx.session.source}, actor=ctx.actor, level="security")
    return ApiToken(token=token, created_at=created_at)


@hookimpl
def register_skills(register):
    register(api_token_rotate)
