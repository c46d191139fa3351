"""File skills. The sandbox decides where; these decide what."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from runtime.errors import SkillFailed
from runtime.jsonio import atomic_write
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill

MAX_READ_BYTES = 1 << 20
MAX_WRITE_BYTES = 10 << 20
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


class FsWriteInput(BaseModel):
    path: str = Field(description="file inside out/, e.g. out/notes.txt")
    content: str = Field(description="the text to write")
    overwrite: bool = Field(default=False, description="replace the file if it exists")


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
    examples=(
        "List all markdown files in docs/",
        "What files are in the out folder?",
        "Show me the contents of the src directory",
        "Which python files are there?",
        "ls docs",
        "Give me a listing of the files here",
        "Find every .json file under etc",
        "What is inside the memory folder?",
        "Enumerate the text files in out/",
        "Show all files in this directory",
        "List the files",
        "What files do I have?",
    ),
)
def fs_list(ctx: SkillContext, args: FsListInput) -> FsListResult:
    """List files in a folder inside the home, optionally filtered by a glob pattern."""
    box = ctx.sandbox
    folder = box.readable(args.path)
    if not folder.is_dir():
        raise SkillFailed(f"{args.path!r} is not a folder", fix="name a folder, e.g. docs/")
    if Path(args.pattern).is_absolute() or ".." in Path(args.pattern).parts:
        raise SkillFailed("the pattern must stay inside the folder", fix="use a pattern such as *.md")
    entries: list[FsEntry] = []
    truncated = False
    for found in sorted(folder.glob(args.pattern)):
        real = Path(os.path.realpath(found))
        # A symlink may lead out of the home or into the keys: such entries are not shown.
        if box.root not in real.parents or box.is_secret(found):
            continue
        if len(entries) == MAX_LIST_ENTRIES:
            truncated = True
            break
        info = found.stat()
        kind = "dir" if stat.S_ISDIR(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else "other"
        entries.append(FsEntry(path=box.shown(found), type=kind, size=info.st_size))
    return FsListResult(path=box.shown(folder), entries=entries, truncated=truncated)


@skill(
    risk="read",
    describe=lambda r: f"{r['path']} ({r['bytes']} bytes):\n{r['content'][:1500]}" + ("\n[...]" if len(r["content"]) > 1500 else ""),
    examples=(
        "Read the README.md file",
        "Show me what notes.txt says",
        "Open docs/ARCHITECTURE.md",
        "What does the file out/todo.txt contain?",
        "cat pyproject.toml",
        "Print the contents of etc/trust.json",
        "Let me see the readme",
        "Display the file out/report.md",
        "Read me the changelog",
        "What's written in notes.md?",
        "Read the first one",
        "Open it and show me",
        "Read a file for me",
        "Open the file",
    ),
)
def fs_read(ctx: SkillContext, args: FsReadInput) -> FsReadResult:
    """Read a UTF-8 text file inside the home (at most 1 MiB)."""
    box = ctx.sandbox
    target = box.readable(args.path)
    if target.is_dir():
        raise SkillFailed(f"{args.path!r} is a folder", fix="use fs_list for folders")
    try:
        # O_NOFOLLOW: the path was resolved already; a symlink here now means it was swapped in.
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise SkillFailed(f"no file at {args.path!r}", fix="check the name with fs_list") from None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:
        raise SkillFailed(f"{args.path!r} is larger than 1 MiB", fix="read a smaller file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SkillFailed(f"{args.path!r} is not UTF-8 text", fix="fs_read reads text files only") from None
    return FsReadResult(path=box.shown(target), content=text, bytes=len(data))


@skill(
    risk="low",
    describe=lambda r: f"{'Created' if r['created'] else 'Replaced'} {r['path']} ({r['bytes']} bytes).",
    examples=(
        "Create a file out/test.txt containing 'hello'",
        "Save this note to out/a.txt",
        "Write 'buy milk' into out/shopping.txt",
        "Make a new file called out/ideas.md with the text 'draft'",
        "Put the word hello in out/hello.txt",
        "Store 'meeting at 3pm' in a file named out/reminder.txt",
        "Create out/notes.txt and write 'first note' in it",
        "Overwrite out/a.txt with 'new content'",
        "Generate a file out/summary.txt that says 'all good'",
        "Write a summary to out/summary.md",
        "Create a new file",
        "Write some text into a file",
    ),
)
def fs_write(ctx: SkillContext, args: FsWriteInput) -> FsWriteResult:
    """Write a text file inside out/, creating folders as needed (atomic; refuses to overwrite unless asked)."""
    box = ctx.sandbox
    target = box.writable(args.path)
    data = args.content.encode("utf-8")
    if len(data) > MAX_WRITE_BYTES:
        raise SkillFailed("the content is larger than 10 MiB", fix="write a smaller file")
    existed = target.exists() or target.is_symlink()
    if target.is_dir() and not target.is_symlink():
        raise SkillFailed(f"{args.path!r} is a folder", fix="name a file inside it")
    if existed and not args.overwrite:
        raise SkillFailed(f"{args.path!r} exists", fix="pass overwrite=true to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, data)
    return FsWriteResult(path=box.shown(target), bytes=len(data), created=not existed)


@skill(
    risk="medium",
    describe=lambda r: f"Deleted {r['path']}" + (" (a link)." if r["deleted"] == "link" else "."),
    examples=(
        "Delete out/test.txt",
        "Remove the file out/old.txt",
        "Get rid of out/draft.md",
        "Erase out/notes.txt",
        "rm out/tmp.txt",
        "Please delete the file called out/report.txt",
        "Trash out/ideas.md",
        "Remove out/empty-folder",
        "Wipe the file out/cache.json",
        "Delete that file out/a.txt, I don't need it anymore",
        "Delete the file",
        "Remove a file for me",
    ),
)
def fs_delete(ctx: SkillContext, args: FsDeleteInput) -> FsDeleteResult:
    """Delete a file, a symlink or an empty folder inside out/."""
    box = ctx.sandbox
    target = box.writable(args.path)
    shown = box.shown(target)
    if target.is_symlink():
        target.unlink()
        return FsDeleteResult(path=shown, deleted="link")
    if target.is_dir():
        try:
            target.rmdir()
        except OSError:
            raise SkillFailed(f"{args.path!r} is a folder that is not empty", fix="delete its files first") from None
        return FsDeleteResult(path=shown, deleted="dir")
    try:
        target.unlink()
    except FileNotFoundError:
        raise SkillFailed(f"no file at {args.path!r}", fix="check the name with fs_list") from None
    return FsDeleteResult(path=shown, deleted="file")


@hookimpl
def register_skills(register):
    for item in (fs_list, fs_read, fs_write, fs_delete):
        register(item)
