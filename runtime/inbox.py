"""The inbox's work: files in memory/inbox/ become memories; `mh ingest` copies files in.

These functions run inside skills (`inbox_ingest`, `inbox_add`), so the gate and the audit log see
every change; the ingestor service (runtime/ingest.py) only decides when to call them.

For each file: refuse what cannot be taken (symlink, too large, binary, not UTF-8, malformed JSON,
unknown kind) by moving it to _failed/ with a .reason file; otherwise turn it into memories (long text
in chunks, each linked to its source and carrying a content hash), then move the original to
_archive/YYYY-MM-DD/. Memory ids are derived from the file's sha256, so running again after a crash
or a kill at any point writes the same ids: nothing is lost, nothing is duplicated. Memories are made
durable (one sync per batch, MemoryStore.add_batch) before any original leaves the inbox.

Moving an original and writing its `ingest file` entry are two steps, so a batch first records its
intent (every planned move with the entry it will write, one synced file in _intents/, locked while
the batch runs) and deletes it when done. The next batch finishes any intent whose writer died: each
original found at its archive path gets its entry, unless the log already has it, so a kill between
a move and its entry leaves the entry written later, exactly once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from pydantic import BaseModel, ValidationError, field_validator

from .config import MemoryConfig, load_config
from .errors import MhError
from .home import Home
from .jsonio import sync_folder
from .memory import MemoryEvent, MemoryStore

if TYPE_CHECKING:
    from .skills import SkillContext

TEXT = {".txt", ".md", ".markdown", ".text", ".rst", ".org", ""}
JSON = {".json"}
NDJSON = {".ndjson", ".jsonl"}
IN_PROGRESS = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")


class Refused(Exception):
    """This file cannot become memories; the message says why."""


class FileReport(BaseModel):
    """What became of one inbox file. Its memories are `memory_ids(source_sha256, memories)`."""

    name: str
    status: Literal["ingested", "failed", "gone", "recovered"]
    memories: int = 0
    new: int = 0
    source_sha256: str | None = None
    reason: str = ""


def memory_ids(source_sha256: str, count: int) -> list[str]:
    """The ids of a file's memories: derived from its content and the chunk number, never random."""
    return [f"evt-in-{source_sha256[:24]}-{number:05d}" for number in range(count)]


def chunks(text: str, size: int) -> list[str]:
    """Paragraph-aligned pieces of at most about `size` characters (a longer paragraph is cut at spaces)."""
    pieces: list[str] = []
    current = ""
    for paragraph in (p.strip() for p in text.replace("\r\n", "\n").split("\n\n")):
        if not paragraph:
            continue
        while len(paragraph) > size:
            cut = paragraph.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            if current:
                pieces.append(current)
                current = ""
            pieces.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        if current and len(current) + 2 + len(paragraph) > size:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        pieces.append(current)
    return pieces


# -- a batch of inbox files ------------------------------------------------------------------------


def ingest_batch(ctx: SkillContext, names: list[str]) -> list[FileReport]:
    """Take these inbox files: refused ones to _failed/, the others' memories written and synced,
    then the originals archived. One audit entry per file, as `ctx.actor`. First, finish what a
    killed batch left half done."""
    reports = finish_interrupted(ctx)
    config = load_config(ctx.home, "memory.json")
    inbox = ctx.home.inbox
    parsed: list[tuple[Path, list[MemoryEvent]]] = []
    for name in names:
        path = inbox / name
        if not (path.is_symlink() or path.is_file()):  # taken by another ingestor since it was listed
            reports.append(FileReport(name=name, status="gone", reason="no longer in the inbox"))
            continue
        try:
            parsed.append((path, memories_of(ctx.memory, config, path)))
        except Refused as exc:
            reports.append(_fail(ctx, path, str(exc)))
    # Every memory of the batch is on disk when add_batch returns, before any original leaves the inbox.
    written = ctx.memory.add_batch([event for _, events in parsed for event in events])
    claimed: set[str] = set()  # two files with the same content: the first one's memories are the new ones
    archive = ctx.home.inbox_archive / f"{datetime.now(UTC):%Y-%m-%d}"
    planned: list[tuple[Path, Path, PlannedMove]] = []
    for path, events in parsed:
        target = _free_name(archive, path.name, {t for _, t, _ in planned})
        ids = {event.id for event in events}
        new = len((ids & written) - claimed)
        claimed |= ids
        planned.append((path, target, PlannedMove(
            file=path.name, archived=ctx.home.relative(target), memories=len(events), new=new,
            source_sha256=events[0].metadata.source_sha256)))
    if planned:
        archive.mkdir(parents=True, exist_ok=True)
        with _intent(ctx, [move for _, _, move in planned]):
            for path, target, move in planned:
                os.rename(path, target)
                ctx.audit.append("ingest", "file", details=move.model_dump(), actor=ctx.actor)
                reports.append(FileReport(name=move.file, status="ingested", memories=move.memories, new=move.new,
                                          source_sha256=move.source_sha256))
    return reports


def memories_of(store: MemoryStore, config: MemoryConfig, path: Path) -> list[MemoryEvent]:
    """The memories a file becomes, without writing anything. Raises Refused."""
    if path.is_symlink():
        raise Refused("a symlink: links are not followed out of the inbox; copy the file in instead")
    size = path.stat().st_size
    if size > config.max_file_bytes:
        raise Refused(f"too large: {size} bytes, the limit is {config.max_file_bytes} (etc/memory.json max_file_bytes)")
    data = path.read_bytes()
    if b"\0" in data[:65536]:
        raise Refused("binary: it holds NUL bytes; only text, Markdown, JSON and NDJSON are taken")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Refused(f"not UTF-8: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}; save it as UTF-8") from None
    suffix = path.suffix.lower()
    if suffix in TEXT:
        records = [{"content": text, "type": "note"}]
    elif suffix in JSON:
        records = _json_records(text)
    elif suffix in NDJSON:
        records = _ndjson_records(text)
    else:
        raise Refused(f"unsupported kind {suffix!r}: only text, Markdown, JSON and NDJSON are taken")
    sha = hashlib.sha256(data).hexdigest()
    pieces = [(record, piece) for record in records for piece in chunks(str(record["content"]), config.chunk_chars)]
    if not pieces:
        raise Refused("empty: nothing to remember in it")
    ids = memory_ids(sha, len(pieces))
    events: list[MemoryEvent] = []
    for number, (record, piece) in enumerate(pieces):
        try:
            events.append(store.new_event(
                event_id=ids[number], type=str(record.get("type") or "note"), content=piece,
                source="inbox", tags=record.get("tags") or [], response=record.get("response"),
                timestamp=_when(record.get("timestamp")), links=[events[-1].id] if events else [],
                metadata={"source_file": path.name, "source_sha256": sha, "chunk": number, "chunks": len(pieces),
                          "training_consent": bool(record.get("training_consent", True))},
            ))
        except (ValidationError, ValueError, TypeError) as exc:
            raise Refused(f"record {number + 1}: {str(exc).splitlines()[0]}") from None
    return events


def _fail(ctx: SkillContext, path: Path, reason: str) -> FileReport:
    target = _move(path, ctx.home.inbox_failed)
    target.with_name(target.name + ".reason").write_text(reason + "\n", encoding="utf-8")
    ctx.audit.append("ingest", "failed", details={"file": path.name, "reason": reason}, actor=ctx.actor, level="warning")
    return FileReport(name=path.name, status="failed", reason=reason)


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, path.name, set())
    os.rename(path, target)  # the link itself for a symlink, never its target
    return target


def _free_name(folder: Path, name: str, taken: set[Path]) -> Path:
    """`name` in `folder`, or name.N.ext when that is on disk (or in `taken`) already."""
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    counter = 1
    while target in taken or target.exists() or target.is_symlink():
        target = folder / f"{stem}.{counter}{suffix}"
        counter += 1
    return target


# -- intents: a batch's moves, recorded before the first one -----------------------------------------


class PlannedMove(BaseModel):
    """One original's way to _archive/; its fields are the details of its `ingest file` entry."""

    file: str
    archived: str  # home-relative: memory/inbox/_archive/DATE/NAME
    memories: int
    new: int
    source_sha256: str

    @field_validator("archived")
    @classmethod
    def _in_the_archive(cls, value: str) -> str:
        # An intent file can be edited: it may only ever name a place in the archive.
        parts = Path(value).parts
        if parts[:3] != ("memory", "inbox", "_archive") or ".." in parts or len(parts) != 5:
            raise ValueError(f"{value!r} is not in memory/inbox/_archive/DATE/")
        return value


class Intent(BaseModel):
    created_at: datetime
    actor: str
    moves: list[PlannedMove]


@contextmanager
def _intent(ctx: SkillContext, moves: list[PlannedMove]) -> Iterator[None]:
    """Record the batch's moves (synced) before the first one; delete the record once all are done.
    The file stays locked while this process lives, so no other batch mistakes it for a dead one's."""
    folder = ctx.home.inbox_intents
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # before the name is visible: the lock moves with the inode
        handle.write(Intent(created_at=datetime.now(UTC), actor=ctx.actor, moves=moves).model_dump_json().encode())
        handle.flush()
        os.fsync(handle.fileno())
        final = folder / f"{uuid.uuid4().hex}.json"
        os.rename(tmp, final)
        sync_folder(folder)
        yield
        final.unlink()


def interrupted(home: Home) -> bool:
    """Is there an intent left (by a killed batch, or one running now)?"""
    folder = home.inbox_intents
    return folder.exists() and any(p.suffix != ".broken" and not p.is_symlink() for p in folder.iterdir())


def finish_interrupted(ctx: SkillContext) -> list[FileReport]:
    """Write the `ingest file` entry of every original that a dead batch moved without one (status
    `recovered`). An intent whose batch still runs (its lock is held) is left alone."""
    folder = ctx.home.inbox_intents
    if not folder.exists():
        return []
    written: list[FileReport] = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".broken" or path.is_symlink():
            continue  # set aside earlier, or not ours: an intent is a plain file
        try:
            handle = open(path, "rb")  # noqa: SIM115 - held open for its lock, closed below
        except FileNotFoundError:
            continue  # finished by its batch or another one meanwhile
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its batch is still running
            if not _still_named(path, handle):
                continue  # finished and deleted by another process while this one waited for the lock
            if path.suffix == ".tmp":  # killed before its intent was complete: nothing was moved yet
                path.unlink()
                continue
            try:
                intent = Intent.model_validate_json(handle.read())
            except ValidationError as exc:
                path.rename(path.with_suffix(".broken"))
                ctx.audit.append("ingest", "intent_broken", details={"intent": path.name, "error": exc.errors()[0]["msg"]},
                                 actor=ctx.actor, level="warning")
                continue
            logged = _logged_archives(ctx, intent.created_at)
            for move in intent.moves:
                target = ctx.home.root / move.archived
                if (target.exists() or target.is_symlink()) and move.archived not in logged:
                    ctx.audit.append("ingest", "file", details={**move.model_dump(), "recovered_by": ctx.actor},
                                     actor=intent.actor)
                    written.append(FileReport(name=move.file, status="recovered", memories=move.memories, new=move.new,
                                              source_sha256=move.source_sha256,
                                              reason=f"archived as {move.archived} by a killed batch; its entry is written now"))
            path.unlink()
    return written


def _still_named(path: Path, handle: BinaryIO) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def _logged_archives(ctx: SkillContext, since: datetime) -> set[str]:
    """Archive paths named by `ingest file` entries written since `since` (only those days' files are read)."""
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    found: set[str] = set()
    day, today = since.astimezone(UTC).date(), datetime.now(UTC).date()
    while day <= today:
        for entry in ctx.audit.tail(sys.maxsize, category="ingest", date=day.isoformat()):
            if entry.event == "file" and entry.ts >= stamp and isinstance(entry.details, dict):
                found.add(str(entry.details.get("archived")))
        day += timedelta(days=1)
    return found


def _when(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _record(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value
    return {"content": json.dumps(value, ensure_ascii=False, indent=1), "type": "json"}


def _json_records(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise Refused("invalid JSON: nested too deeply") from None
    if isinstance(value, list) and value and all(isinstance(v, dict) and isinstance(v.get("content"), str) for v in value):
        return value
    return [_record(value)]


def _ndjson_records(text: str) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(_record(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise Refused(f"invalid JSON on line {number}, column {exc.colno}: {exc.msg}") from None
    return records


# -- what is there ----------------------------------------------------------------------------------


def waiting_count(home: Home) -> int:
    """Files (and links) waiting in memory/inbox/, written or still being written."""
    inbox = home.inbox
    return sum(1 for p in inbox.iterdir() if not p.name.startswith((".", "_"))) if inbox.exists() else 0


def failed_names(home: Home) -> list[str]:
    """Names in memory/inbox/_failed/ (each has a .reason beside it)."""
    failed = home.inbox_failed
    return sorted(p.name for p in failed.iterdir() if not p.name.endswith(".reason")) if failed.exists() else []


# -- `mh ingest` -----------------------------------------------------------------------------------


def copy_into_inbox(home: Home, paths: list[Path]) -> list[str]:
    """Copy files in under a temporary name, then rename, so no half file is ever seen. Every source
    is checked before the first copy, so a mistyped name queues nothing. Returns the inbox names."""
    for source in paths:
        if not source.is_file():
            raise MhError(f"{source} is not a file", fix="give the path of a file to copy into memory/inbox/")
    inbox = home.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    names = []
    for source in paths:
        target = inbox / source.name
        counter = 1
        while target.exists():
            target = inbox / f"{source.stem}.{counter}{source.suffix}"
            counter += 1
        tmp = inbox / f".{target.name}.part"
        try:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
                dst.flush()
                os.fsync(dst.fileno())
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise MhError(f"cannot copy {source}: {exc.strerror}", fix="check that you may read it") from None
        os.utime(tmp, (time.time() - 3600, time.time() - 3600))  # complete: no need to wait for it to settle
        tmp.rename(target)
        names.append(target.name)
    return names
