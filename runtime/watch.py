"""Folder watching shared by the ingestor and the console (watchdog).

Only events that mean content changed are passed on. On Linux watchdog also reports opens and
closes; a reader that watches the folders it reads (the console) would wake itself forever on
those, and closing a lock file opened read-write reports a "write" close though nothing changed.
Writes still arrive as created/modified/moved events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

CHANGES: list[type[FileSystemEvent]] = [FileCreatedEvent, FileModifiedEvent, FileDeletedEvent, FileMovedEvent,
                                        DirCreatedEvent, DirDeletedEvent, DirMovedEvent]


class _Forward(FileSystemEventHandler):
    def __init__(self, folder: Path, on_change: Callable[[Path], None]) -> None:
        self.folder = folder
        self.on_change = on_change

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.on_change(self.folder)


class FolderWatcher:
    """Call `on_change(folder)` from watchdog's thread when something in a watched folder changes.

    `on_change` must not block on the thread that calls `stop()`: stopping waits for the event
    being handed over."""

    def __init__(self, on_change: Callable[[Path], None]) -> None:
        self.on_change = on_change
        self._observer = Observer()
        self._observer.daemon = True

    def add(self, folder: Path, *, recursive: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._observer.schedule(_Forward(folder, self.on_change), str(folder), recursive=recursive, event_filter=CHANGES)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)

    def __enter__(self) -> FolderWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
