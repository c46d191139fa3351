"""The inbox's work: files in memory/inbox/ become memories; `mh ingest` copies files in.

These functions run inside skills (`inbox_ingest`, `inbox_add`), so the gate and the audit log see
every change; the ingestor service (runtime/ingest.py) only decides when to call them.

For each file: refuse what cannot be taken (symlink, too large, binary, not UTF-8, malformed JSON,
unknown kind) by moving it to _failed/ with a .reason file; otherwise turn it into memories (long text
in chunks, each linked to its source and carrying a content hash), then move the original to
_archive/YYYY-MM-DD/. Memory ids are derived from the file's sha256, so running again after a crash
or a kill at any point writes the same ids: nothing is lost, nothing is duplicated. Memories are made
durable (one sync per batch, MemoryStore.add_batch) before any original leaves the inbox.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from .config import MemoryConfig, load_config
from .errors import MhError
from .home import Home
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
    status: Literal["ingested", "failed", "gone"]
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
    then the originals archived. One audit entry per file, as `ctx.actor`."""
    config = load_config(ctx.home, "memory.json")
    inbox = ctx.home.inbox
    parsed: list[tuple[Path, list[MemoryEvent]]] = []
    reports: list[FileReport] = []
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
    for path, events in parsed:
        _move(path, archive)
        ids = {event.id for event in events}
        new = len((ids & written) - claimed)
        claimed |= ids
        sha = events[0].metadata.source_sha256
        ctx.audit.append("ingest", "file", details={"file": path.name, "memories": len(events), "new": new,
                         "source_sha256": sha}, actor=ctx.actor)
        reports.append(FileReport(name=path.name, status="ingested", memories=len(events), new=new, source_sha256=sha))
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
    target = folder / path.name
    counter = 1
    while target.exists() or target.is_symlink():
        target = folder / f"{path.stem}.{counter}{path.suffix}"
        counter += 1
    os.rename(path, target)  # the link itself for a symlink, never its target
    return target


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
