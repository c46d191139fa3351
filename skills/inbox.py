"""Inbox skills: copy files into memory/inbox/ (`mh ingest`) and take a batch of them (the ingestor).

Both are the person's own operations (never the agent's tools): a path outside the home is read by
`inbox_add` on the person's word only, and `inbox_ingest` is what the ingestor service does with the
person's authority.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from runtime.inbox import FileReport, copy_into_inbox, ingest_batch
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill

# A plain name of a file waiting in the inbox: no folder, not hidden, not the _archive/_failed folders.
INBOX_NAME = r"^[^/\x00._][^/\x00]*$"


class InboxAddInput(BaseModel):
    paths: list[str] = Field(min_length=1, max_length=10_000, description="files to copy into memory/inbox/")


class InboxAddResult(BaseModel):
    queued: list[str] = Field(description="their names in the inbox")


@skill(risk="low", agent=False, describe=lambda r: f"Queued {', '.join(r['queued'])} in memory/inbox/.")
def inbox_add(ctx: SkillContext, args: InboxAddInput) -> InboxAddResult:
    """Copy files into memory/inbox/ (under a temporary name, then renamed: no half file is ever seen)."""
    return InboxAddResult(queued=copy_into_inbox(ctx.home, [Path(p) for p in args.paths]))


class InboxIngestInput(BaseModel):
    files: list[Annotated[str, Field(pattern=INBOX_NAME, max_length=255)]] = Field(
        max_length=10_000,
        description="names of files waiting in memory/inbox/ (none: only finish what a killed batch left half done)")


class InboxIngestResult(BaseModel):
    files: list[FileReport]


def _say_ingested(r: dict) -> str:
    counts: dict[str, int] = {}
    for report in r["files"]:
        counts[report["status"]] = counts.get(report["status"], 0) + 1
    return "Inbox: " + ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) + "."


@skill(risk="low", agent=False, describe=_say_ingested)
def inbox_ingest(ctx: SkillContext, args: InboxIngestInput) -> InboxIngestResult:
    """Turn files waiting in memory/inbox/ into memories; refused ones go to _failed/ with a reason.
    A killed batch's moves are finished first (their audit entries written, once)."""
    return InboxIngestResult(files=ingest_batch(ctx, args.files))


@hookimpl
def register_skills(register):
    for item in (inbox_add, inbox_ingest):
        register(item)
