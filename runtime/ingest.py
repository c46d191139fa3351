"""The inbox ingestor service: it watches memory/inbox/ and hands settled files, in batches, to the
`inbox_ingest` skill (runtime/inbox.py does the work) as `service:ingestor`.

Files still being written wait until they have settled. While the gate refuses the skill (trust
level `observe`) the ingestor is paused: files stay in the inbox untouched, and it takes them once
the level is raised.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .config import MemoryConfig, load_config
from .inbox import IN_PROGRESS, interrupted, memory_ids
from .service_book import ServiceBook, ServiceDoor
from .words import counted

if TYPE_CHECKING:
    from .runtime import Runtime


@dataclass
class FileOutcome:
    name: str
    status: str  # ingested | failed | gone | recovered | waiting
    memories: list[str] = field(default_factory=list)
    new: int = 0
    reason: str = ""


class Ingestor:
    def __init__(self, runtime: Runtime, config: MemoryConfig | None = None) -> None:
        self.config = config or load_config(runtime.home, "memory.json")
        self.home = runtime.home
        self.inbox = runtime.home.inbox
        self.book = ServiceBook(runtime.home, "ingestor")
        self.door = ServiceDoor(runtime, self.book)

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
        """Hand every settled file to `inbox_ingest`, in batches; record the run. While paused
        (`self.door.paused`) nothing is handed over and nothing is recorded."""
        outcomes: list[FileOutcome] = []
        try:
            waiting = self.candidates()
            now = time.time()
            ready = [p for p in waiting if self.settled(p, now)]
            outcomes += [FileOutcome(p.name, "waiting", reason="still being written") for p in waiting if p not in ready]
            # Asked even with nothing ready: a paused ingestor says so, whether or not files wait.
            if not self.door.ready("inbox_ingest", {"files": [p.name for p in ready]}):
                return outcomes
            batches = [[p.name for p in ready[start : start + self.config.batch_files]]
                       for start in range(0, len(ready), self.config.batch_files)]
            if not batches and interrupted(self.home):
                batches = [[]]  # nothing new, but a killed batch's moves still need their entries
            for names in batches:
                result = self.door.call("inbox_ingest", {"files": names})
                if result is None:
                    break  # paused: the files stay where they are
                outcomes += [self._outcome(report) for report in result["files"]]
        except Exception as exc:
            self.book.log(f"run failed: {type(exc).__name__}: {exc}")
            self.book.record(ok=False, error=f"{type(exc).__name__}: {exc}")
            raise
        done = [o for o in outcomes if o.status in ("ingested", "failed")]
        if done:
            self.book.record(ok=all(o.status == "ingested" for o in done),
                             error=next((f"{o.name}: {o.reason}" for o in done if o.status == "failed"), None))
        return outcomes

    def _outcome(self, report: dict) -> FileOutcome:
        name, status, reason = report["name"], report["status"], report["reason"]
        ids = memory_ids(report["source_sha256"], report["memories"]) if status == "ingested" else []
        if status == "ingested":
            self.book.log(f"ingested {name}: {counted(len(ids), 'memory')} ({report['new']} new)")
        else:
            self.book.log(f"{status} {name}: {reason}")
        return FileOutcome(name, status, ids, report["new"], reason)

    # -- watching ---------------------------------------------------------------------------------

    def watch(self, stop: threading.Event, *, sweep_s: float = 5.0) -> None:
        """Run until `stop` is set: on watchdog events (and a periodic sweep for missed ones)."""
        from .watch import FolderWatcher

        wake = threading.Event()
        watcher = FolderWatcher(lambda folder: wake.set())
        watcher.add(self.inbox)
        watcher.start()
        # A stop wakes the loop at once, rather than after the sweep's wait (`mh stop` stays quick).
        threading.Thread(target=lambda: (stop.wait(), wake.set()), name="ingestor-stop", daemon=True).start()
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
