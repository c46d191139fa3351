"""File skills. The sandbox decides where (and opens, creates and deletes by descriptors); these
decide what.

fs_write takes at most 1 MiB of UTF-8 content, what fs_read reads back; more is refused by the
input model, so an agent's oversized write is refused when it is asked for, never queued as an
approval too large to keep.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from runtime.errors import SkillFailed
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill

from .phrasings import phrasings

MAX_READ_BYTES = 1 << 20
MAX_WRITE_BYTES = MAX_READ_BYTES
MAX_LIST_ENTRIES = 1000


class FsListInput(BaseModel):
    path: str = Field(default=".", description="folder inside the home")
    pattern: str = Field(default="*", description="glob, e.g. *.md; **/*.md goes into subfolders")


class FsEntry(BaseModel):
    path: str
    type: Literal["file", "dir", "other"]
    size: int


class FsListResult(BaseModel):
    path: str
    entries: list[FsEntry]
    truncated: bool = False


class FsReadInput(BaseModel):
    path: str = Field(description="file inside the home, e.g. README.md")


class FsReadResult(BaseModel):
    path: str
    content: str
    bytes: int
    device: int = Field(description="the file that was read: its device and inode (in the audit log too)")
    inode: int


class FsWriteInput(BaseModel):
    path: str = Field(description="file inside out/, e.g. out/notes.txt")
    content: str = Field(description="the text to write, at most 1 MiB of UTF-8")
    overwrite: bool = Field(default=False, description="replace the file if it exists")

    @field_validator("content")
    @classmethod
    def _fits(cls, content: str) -> str:
        try:
            size = len(content.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError("the content is not valid Unicode text (it holds a lone surrogate)") from None
        if size > MAX_WRITE_BYTES:
            raise ValueError(f"the content is {size} bytes; fs_write writes at most {MAX_WRITE_BYTES} (1 MiB): "
                             "write it in several files")
        return content


class FsWriteResult(BaseModel):
    path: str
    bytes: int
    created: bool


class FsDeleteInput(BaseModel):
    path: str = Field(description="file (or empty folder) inside out/")


class FsDeleteResult(BaseModel):
    path: str
    deleted: Literal["file", "dir", "link"]


def _say_list(result: dict) -> str:
    entries = result.get("entries", [])
    if not entries:
        return f"{result.get('path')}: nothing matches."
    names = ", ".join(e["path"] + ("/" if e["type"] == "dir" else "") for e in entries[:25])
    more = f" and {len(entries) - 25} more" if len(entries) > 25 else ""
    return f"{result.get('path')}: {len(entries)} found: {names}{more}."


@skill(
    risk="read",
    describe=_say_list,
    examples=phrasings("fs_list"),
)
def fs_list(ctx: SkillContext, args: FsListInput) -> FsListResult:
    """List files in a folder inside the home, optionally filtered by a glob pattern."""
    pattern = PurePosixPath(args.pattern)
    if pattern.is_absolute() or ".." in pattern.parts:
        raise SkillFailed("the pattern must stay inside the folder", fix="use a pattern such as *.md")
    if not pattern.parts:
        raise SkillFailed(f"the pattern {args.pattern!r} names no entry", fix="use * for every entry, or *.md")
    # `**/**` is `**` (repeated, it would visit each folder once per way of splitting its depth);
    # `**` at the end means everything below, as `**/*` does.
    parts = tuple(p for i, p in enumerate(pattern.parts) if p != "**" or pattern.parts[i - 1 : i] != ("**",))
    parts = (*parts, "*") if parts[-1] == "**" else parts
    found = ctx.sandbox.listing(args.path, parts, MAX_LIST_ENTRIES)
    entries = [FsEntry(path=e.path, type=e.kind, size=e.size) for e in found.entries]
    return FsListResult(path=found.path, entries=entries, truncated=found.truncated)


@skill(
    risk="read",
    describe=lambda r: f"{r['path']} ({r['bytes']} bytes):\n{r['content'][:1500]}" + ("\n[...]" if len(r["content"]) > 1500 else ""),
    examples=phrasings("fs_read"),
)
def fs_read(ctx: SkillContext, args: FsReadInput) -> FsReadResult:
    """Read a UTF-8 text file inside the home (at most 1 MiB)."""
    found = ctx.sandbox.read(args.path, MAX_READ_BYTES)
    if len(found.data) > MAX_READ_BYTES:
        raise SkillFailed(f"{found.path!r} is larger than 1 MiB", fix="read a smaller file")
    try:
        text = found.data.decode("utf-8")
    except UnicodeDecodeError:
        raise SkillFailed(f"{found.path!r} is not UTF-8 text", fix="fs_read reads text files only") from None
    return FsReadResult(path=found.path, content=text, bytes=len(found.data), device=found.device, inode=found.inode)


@skill(
    risk="low",
    asks=(
        "write", "create", "save", "put", "append", "overwrite", "make", "store", "copy", "add", "type",
    ),
    describe=lambda r: f"{'Created' if r['created'] else 'Replaced'} {r['path']} ({r['bytes']} bytes).",
    examples=phrasings("fs_write"),
)
def fs_write(ctx: SkillContext, args: FsWriteInput) -> FsWriteResult:
    """Write a text file inside out/, creating folders as needed (atomic; refuses to overwrite unless asked)."""
    data = args.content.encode("utf-8")
    path, created = ctx.sandbox.write(args.path, data, overwrite=args.overwrite)
    return FsWriteResult(path=path, bytes=len(data), created=created)


@skill(
    risk="medium",
    asks=(
        "delete", "remove", "erase", "trash", "wipe", "rm", "get rid of", "throw away", "clear out", "destroy",
        "nuke",
    ),
    describe=lambda r: f"Deleted {r['path']}" + (" (a link)." if r["deleted"] == "link" else "."),
    examples=phrasings("fs_delete"),
)
def fs_delete(ctx: SkillContext, args: FsDeleteInput) -> FsDeleteResult:
    """Delete a file, a symlink or an empty folder inside out/."""
    path, kind = ctx.sandbox.delete(args.path)
    return FsDeleteResult(path=path, deleted=kind)


@hookimpl
def register_skills(register):
    for item in (fs_list, fs_read, fs_write, fs_delete):
        register(item)
