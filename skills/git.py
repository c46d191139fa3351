"""Git skills: read-only views of the home's repository."""

from __future__ import annotations

import os
import subprocess

from pydantic import BaseModel

from runtime.errors import SkillFailed
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill

from .phrasings import phrasings


class GitStatusInput(BaseModel):
    pass


class GitChange(BaseModel):
    status: str
    path: str


class GitStatusResult(BaseModel):
    branch: str
    changes: list[GitChange]
    clean: bool


def _say_status(r: dict) -> str:
    if r["clean"]:
        return f"On {r['branch']}: the working tree is clean."
    changes = ", ".join(f"{c['path']} ({c['status']})" for c in r["changes"][:25])
    return f"On {r['branch']}: {len(r['changes'])} changed: {changes}."


@skill(
    risk="read",
    describe=_say_status,
    examples=phrasings("git_status"),
)
def git_status(ctx: SkillContext, args: GitStatusInput) -> GitStatusResult:
    """Show the branch and the changed files of the git repository the home lives in."""
    root = ctx.sandbox.root
    # The ceiling keeps git from finding a repository above the home: that would be outside it.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_CEILING_DIRECTORIES": str(root.parent)}
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain=v1", "--branch"],
            capture_output=True, text=True, timeout=20, env=env, check=False,
        )
    except FileNotFoundError:
        raise SkillFailed("git is not installed", fix="install git (apt-get install git)") from None
    except subprocess.TimeoutExpired:
        raise SkillFailed("git status took longer than 20 s", fix="try again when the disk is less busy") from None
    if proc.returncode != 0:
        raise SkillFailed(
            f"git status failed: {proc.stderr.strip() or proc.returncode}",
            fix="the home must be a git repository (git init)",
        )
    lines = proc.stdout.splitlines()
    branch = lines[0][3:] if lines and lines[0].startswith("## ") else "(unknown)"
    changes = [GitChange(status=line[:2].strip(), path=line[3:]) for line in lines[1:] if line]
    return GitStatusResult(branch=branch, changes=changes, clean=not changes)


@hookimpl
def register_skills(register):
    register(git_status)
