"""The inbox ingestor: files dropped in memory/inbox/ become memories.

For each file: refuse what cannot be taken (symlink, too large, binary, not UTF-8, malformed JSON,
unknown kind) by moving it to _failed/ with a .reason file; otherwise turn it into memories (long text
in chunks, each linked to its source and carrying a content hash), then move the original to
_archive/YYYY-MM-DD/. Memory ids are derived from the file's sha256, so running again after a crash
or a kill at any point writes the same ids: nothing is lost, nothing is duplicated. Memories are made
durable (one sync per batch) before any original leaves the inbox.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .config import MemoryConfig, load_config
from .memory import MemoryEvent
from .services import ServiceBook

TEXT = {".txt", ".md", ".markdown", ".text", ".rst", ".org", ""}
JSON = {".json"}
NDJSON = {".ndjson", ".jsonl"}
IN_PROGRESS = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")


class Refused(Exception):
    """This file cannot become memories; the message says why."""


@dataclass
class FileOutcome:
    name: str
    status: str  # ingested | failed | waiting
    memories: list[str] = field(default_factory=list)
    new: int = 0
    reason: str = ""


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


class Ingestor:
    def __init__(self, runtime, config: MemoryConfig | None = None) -> None:
        self.runtime = runtime
        self.config = config or load_config(runtime.home, "memory.json")
        self.inbox = runtime.home.inbox
        self.archive = runtime.home.inbox_archive
        self.failed = runtime.home.inbox_failed
        self.book = ServiceBook(runtime.home, "ingestor")

    # -- what is waiting --------------------------------------------------------------------------

    def candidates(self) -> list[Path]:
        if not self.inbox.exists():
            return []
        found = [
            p for p in self.inbox.iterdir()
            if not p.name.startswith((".", "_")) and not p.name.endswith(IN_PROGRESS) and (p.is_symlink() or p.is_file())
        ]
        return sorted(found, key=lambda p: (p.lstat().st_mtime_ns, p.name))

    def settled(self, path: Path, now: float) -> bool:
        """Unchanged for settle_ms: a writer that is still writing keeps touching the file."""
        return now - path.lstat().st_mtime >= self.config.settle_ms / 1000

    # -- one pass ---------------------------------------------------------------------------------

    def run_once(self) -> list[FileOutcome]:
        """Process every settled file in the inbox, in batches; record the run."""
        outcomes: list[FileOutcome] = []
        try:
            waiting = self.candidates()
            now = time.time()
            ready = [p for p in waiting if self.settled(p, now)]
            outcomes += [FileOutcome(p.name, "waiting", reason="still being written") for p in waiting if p not in ready]
            for start in range(0, len(ready), self.config.batch_files):
                outcomes += self._batch(ready[start : start + self.config.batch_files])
        except Exception as exc:
            self.book.log(f"run failed: {type(exc).__name__}: {exc}")
            self.book.record(ok=False, error=f"{type(exc).__name__}: {exc}")
            raise
        done = [o for o in outcomes if o.status != "waiting"]
        if done:
            self.book.record(ok=all(o.status == "ingested" for o in done),
                             error=next((f"{o.name}: {o.reason}" for o in done if o.status == "failed"), None))
        return outcomes

    def _batch(self, paths: list[Path]) -> list[FileOutcome]:
        store = self.runtime.memory
        parsed: list[tuple[Path, list[MemoryEvent]]] = []
        outcomes: list[FileOutcome] = []
        for path in paths:
            try:
                parsed.append((path, self.memories_of(path)))
            except Refused as exc:
                outcomes.append(self._fail(path, str(exc)))
        written: list[MemoryEvent] = []
        news: dict[Path, int] = {}
        for path, events in parsed:
            fresh = [e for e in events if not store.exists(e.id)]
            for event in fresh:
                store.files.write(event, durable=False)
            written += events  # re-index even the ones that existed: the index may have missed them
            news[path] = len(fresh)
        if written:
            os.sync()  # every memory of the batch is on disk before any original leaves the inbox
            store.index.upsert([_row(store, e) for e in written])
        for path, events in parsed:
            self._move(path, self.archive / f"{datetime.now(UTC):%Y-%m-%d}")
            outcome = FileOutcome(path.name, "ingested", [e.id for e in events], news[path])
            self.runtime.audit.append("ingest", "file", details={"file": path.name, "memories": len(events),
                                      "new": news[path], "source_sha256": events[0].metadata.source_sha256 if events else None},
                                      actor="service:ingestor")
            self.book.log(f"ingested {path.name}: {len(events)} memories ({news[path]} new)")
            outcomes.append(outcome)
        return outcomes

    # -- one file ---------------------------------------------------------------------------------

    def memories_of(self, path: Path) -> list[MemoryEvent]:
        """The memories a file becomes, without writing anything. Raises Refused."""
        if path.is_symlink():
            raise Refused("a symlink: links are not followed out of the inbox; copy the file in instead")
        size = path.stat().st_size
        if size > self.config.max_file_bytes:
            raise Refused(f"too large: {size} bytes, the limit is {self.config.max_file_bytes} (etc/memory.json max_file_bytes)")
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
        pieces = [(record, piece) for record in records for piece in chunks(str(record["content"]), self.config.chunk_chars)]
        if not pieces:
            raise Refused("empty: nothing to remember in it")
        events: list[MemoryEvent] = []
        for number, (record, piece) in enumerate(pieces):
            try:
                events.append(self.runtime.memory.new_event(
                    event_id=f"evt-in-{sha[:24]}-{number:05d}", type=str(record.get("type") or "note"), content=piece,
                    source="inbox", tags=record.get("tags") or [], response=record.get("response"),
                    timestamp=_when(record.get("timestamp")), links=[events[-1].id] if events else [],
                    metadata={"source_file": path.name, "source_sha256": sha, "chunk": number, "chunks": len(pieces),
                              "training_consent": bool(record.get("training_consent", True))},
                ))
            except (ValidationError, ValueError, TypeError) as exc:
                raise Refused(f"record {number + 1}: {str(exc).splitlines()[0]}") from None
        return events

    def _fail(self, path: Path, reason: str) -> FileOutcome:
        target = self._move(path, self.failed)
        target.with_name(target.name + ".reason").write_text(reason + "\n", encoding="utf-8")
        self.runtime.audit.append("ingest", "failed", details={"file": path.name, "reason": reason},
                                  actor="service:ingestor", level="warning")
        self.book.log(f"failed {path.name}: {reason}")
        return FileOutcome(path.name, "failed", reason=reason)

    @staticmethod
    def _move(path: Path, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / path.name
        counter = 1
        while target.exists() or target.is_symlink():
            target = folder / f"{path.stem}.{counter}{path.suffix}"
            counter += 1
        os.rename(path, target)  # the link itself for a symlink, never its target
        return target

    # -- watching ---------------------------------------------------------------------------------

    def watch(self, stop: threading.Event, *, sweep_s: float = 5.0) -> None:
        """Run until `stop` is set: on watchdog events (and a periodic sweep for missed ones)."""
        from .watch import FolderWatcher

        wake = threading.Event()
        watcher = FolderWatcher(lambda folder: wake.set())
        watcher.add(self.inbox)
        watcher.start()
        self.book.log("watching memory/inbox/")
        try:
            while not stop.is_set():
                outcomes = self.run_once()
                waiting = any(o.status == "waiting" for o in outcomes)
                # A file still being written is looked at again once it may have settled.
                wake.wait(self.config.settle_ms / 1000 if waiting else sweep_s)
                if wake.is_set() and not stop.is_set():
                    wake.clear()
                    time.sleep(self.config.settle_ms / 1000)
        finally:
            watcher.stop()
            self.book.log("stopped")


def _row(store, event: MemoryEvent) -> dict:
    from .memory.index import row_of

    return row_of(event, store.files.path_for(event))


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


def copy_into_inbox(runtime, paths: list[Path]) -> Iterator[Path]:
    """`mh ingest`: copy files in under a temporary name, then rename, so no half file is ever seen."""
    inbox = runtime.home.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    for source in paths:
        target = inbox / source.name
        counter = 1
        while target.exists():
            target = inbox / f"{source.stem}.{counter}{source.suffix}"
            counter += 1
        tmp = inbox / f".{target.name}.part"
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
            dst.flush()
            os.fsync(dst.fileno())
        os.utime(tmp, (time.time() - 3600, time.time() - 3600))  # complete: no need to wait for it to settle
        tmp.rename(target)
        yield target
