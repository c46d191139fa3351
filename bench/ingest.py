"""Inbox ingest throughput against plain sqlite-utils inserts of the same text, in the same run.

    .venv/bin/python bench/ingest.py [--files N] [--repeats R]

(a) baseline: a plain loop of `db["notes"].insert({"name", "content"})` (sqlite-utils, one call per
    text, as a person would write it) into a fresh database.
(b) `Ingestor.run_once()` over N small text files in memory/inbox/: read, check, hash, write one
    memory file each, one sync per batch, index in SQLite FTS, archive the original, audit each file.
Goal: (b) files/s >= 0.3 x (a) rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import sqlite_utils
from _common import best_of, table, timed, verdict

from runtime import Runtime
from runtime.ingest import Ingestor

GOAL = 0.3


def texts(count: int) -> list[str]:
    return [f"Note {i}: the {['fig', 'plum', 'pear', 'quince'][i % 4]} tree by the wall needs water on day {i % 31}." for i in range(count)]


def plain(base: Path, notes: list[str]) -> float:
    path = base / "plain.db"
    path.unlink(missing_ok=True)
    db = sqlite_utils.Database(sqlite3.connect(path))

    def body() -> None:
        for i, text in enumerate(notes):
            db["notes"].insert({"name": f"n{i}.txt", "content": text})

    seconds = timed(body)
    db.close()
    return seconds


def plain_bulk(base: Path, notes: list[str]) -> float:
    path = base / "bulk.db"
    path.unlink(missing_ok=True)
    db = sqlite_utils.Database(sqlite3.connect(path))
    seconds = timed(lambda: db["notes"].insert_all({"name": f"n{i}.txt", "content": t} for i, t in enumerate(notes)))
    db.close()
    return seconds


def through_ingestor(base: Path, notes: list[str]) -> float:
    home = base / "home"
    shutil.rmtree(home, ignore_errors=True)
    rt = Runtime(home)
    rt.init()
    rt.home.config_file("memory.json").write_text(json.dumps({"settle_ms": 0}))
    inbox = home / "memory" / "inbox"
    past = time.time() - 60
    for i, text in enumerate(notes):
        path = inbox / f"n{i}.txt"
        path.write_text(text)
        os.utime(path, (past, past))
    ingestor = Ingestor(rt)
    seconds = timed(ingestor.run_once)
    total = rt.memory.stats()["total"]
    rt.close()
    if total != len(notes):
        raise SystemExit(f"the ingestor made {total} memories from {len(notes)} files")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    notes = texts(opts.files)
    base = Path(tempfile.mkdtemp(prefix="mh-bench-"))
    try:
        t_plain = best_of(opts.repeats, lambda: plain(base, notes))
        t_bulk = best_of(opts.repeats, lambda: plain_bulk(base, notes))
        t_ingest = best_of(opts.repeats, lambda: through_ingestor(base, notes))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    n = len(notes)
    ratio = t_plain / t_ingest
    print(f"ingest benchmark: {n} small text files, best of {opts.repeats}\n")
    print(table(["side", "seconds", "per second", "ratio"], [
        ["(a) sqlite-utils insert loop", f"{t_plain:.3f}", f"{n / t_plain:,.0f}", "1.00"],
        ["    (for scale) one insert_all, one transaction", f"{t_bulk:.3f}", f"{n / t_bulk:,.0f}", "-"],
        ["(b) Ingestor.run_once", f"{t_ingest:.3f}", f"{n / t_ingest:,.0f}", f"{ratio:.3f}"],
    ]))
    print(verdict("(b)/(a)", ratio, f">= {GOAL}", ratio >= GOAL))
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
