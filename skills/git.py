"""Git skills: read-only views of the home's repository."""

from __future__ import annotations

import os
import subprocess

from pydantic import BaseModel, Field

from runtime.errors import SkillFailed
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill
from runtime.words import counted

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
    upstream: str | None = Field(default=None, description="the branch it tracks, with git's [ahead N, behind M]")
    has_commits: bool = Field(default=True, description="false in a repository where nothing was committed yet")


def _say_status(r: dict) -> str:
    where = f"On {r['branch']}" if r.get("has_commits", True) else f"No commits yet on {r['branch']}"
    if r.get("upstream"):
        where += f" (tracking {r['upstream']})"
    if r["clean"]:
        return f"{where}: the working tree is clean."
    changes = ", ".join(f"{c['path']} ({c['status']})" for c in r["changes"][:25])
    return f"{where}: {counted(len(r['changes']), 'file')} changed: {changes}."


# How `git status --porcelain=v1 --branch` heads a repository with no commit (older gits: "Initial commit on").
UNBORN = ("No commits yet on ", "Initial commit on ")


def _branch(header: str) -> tuple[str, str | None, bool]:
    """(branch, upstream, has_commits) from the `## ...` line: `main...origin/main [ahead 1]`,
    `No commits yet on main`, `HEAD (no branch)`."""
    for unborn in UNBORN:
        if header.startswith(unborn):
            return header[len(unborn):], None, False
    name, _, upstream = header.partition("...")
    return name, upstream or None, True


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
    branch, upstream, has_commits = _branch(lines[0][3:]) if lines and lines[0].startswith("## ") else ("(unknown)", None, True)
    changes = [GitChange(status=line[:2].strip(), path=line[3:]) for line in lines[1:] if line]
    return GitStatusResult(branch=branch, changes=changes, clean=not changes, upstream=upstream, has_commits=has_commits)


@hookimpl
def register_skills(register):
    register(git_status)
