"""What one console refresh costs on a big home: each panel's view, timed alone.

    .venv/bin/python bench/console_refresh.py [--entries N] [--memories M] [--approvals A]

The home gets N audit entries (one day file), M memories (files + index) and A pending approvals.
A refresh reads only the panels whose folders changed; the chain check runs in a worker thread,
off the screen's loop. Baseline: reading the day's audit file and splitting its lines, the least a
live tail can do. Reported, no goal (the issue sets none).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import best_of, table, timed

from runtime import Runtime, Session
from runtime.console import views
from runtime.services import memory_overview


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--memories", type=int, default=20_000)
    parser.add_argument("--approvals", type=int, default=50)
    opts = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mh-bench-"))
    try:
        rt = Runtime(base / "home")
        rt.init()
        for i in range(opts.entries):
            rt.audit.append("bench", "tick", details={"i": i})
        start = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(opts.memories):
            event = rt.memory.new_event(type="note", content=f"note {i} about the garden", source="bench",
                                        timestamp=start + timedelta(minutes=i))
            rt.memory.files.write(event, durable=False)
        rt.memory.reindex()
        for i in range(opts.approvals):
            (rt.home.out / f"f{i}.txt").write_text("x")
            rt.call("fs_delete", {"path": f"out/f{i}.txt"}, session=Session(actor="agent"))
        day = sorted(rt.home.audit_dir.glob("????-??-??.ndjson"))[-1]
        rows = [
            ["baseline: read + split the day's audit file", _ms(lambda: day.read_bytes().splitlines())],
            ["status (trust, model, adapter, services, queue)", _ms(lambda: views.status_view(rt, "verified"))],
            ["approvals table", _ms(lambda: views.approval_rows(rt))],
            ["audit tail (200 rows)", _ms(lambda: views.audit_rows(rt))],
            ["audit tail, text search", _ms(lambda: views.audit_rows(rt, search="tick"))],
            ["memory and inbox", _ms(lambda: memory_overview(rt))],
            ["training (no run)", _ms(lambda: views.training_view(rt))],
            ["chain check, best of 3 (worker thread)", _ms(lambda: views.chain_state(rt), repeats=3)],
        ]
        rt.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"console refresh benchmark: {opts.entries:,} audit entries, {opts.memories:,} memories, "
          f"{opts.approvals} pending approvals\n")
    print(table(["panel view", "best of 10 (ms)"], rows))
    return 0


def _ms(body, repeats: int = 10) -> str:
    return f"{best_of(repeats, lambda: timed(body)) * 1000:.1f}"


if __name__ == "__main__":
    sys.exit(main())
