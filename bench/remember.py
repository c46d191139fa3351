"""`mh remember` at 100,000 memories: search latency (p50, p95) and the time to reindex from files.

    .venv/bin/python bench/remember.py [--memories N] [--queries Q]

Memories are written as real files through EventFiles (no fsync: this measures search, not the
disk), the index is built by `MemoryStore.reindex()` (timed), then Q searches of one or two words run
through `MemoryStore.search` (the call `mh remember` makes), each timed alone. Reported, no goal.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import p50_p95_ms, table

from runtime import Runtime

WORDS = ("garden tomato basil meeting anna berlin invoice taxes dentist bike chain coffee paris tokyo robot "
         "report deadline plum fig pear quince river mountain train ticket budget salary rent kitchen oven").split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    opts = parser.parse_args()
    rng = random.Random(7)
    base = Path(tempfile.mkdtemp(prefix="mh-bench-"))
    try:
        rt = Runtime(base / "home")
        rt.init()
        start = datetime(2024, 1, 1, tzinfo=UTC)
        t0 = time.perf_counter()
        for i in range(opts.memories):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40)))
            event = rt.memory.new_event(type=rng.choice(["note", "conversation", "observation"]), content=f"{words} #{i}",
                                        source="bench", timestamp=start + timedelta(minutes=i))
            rt.memory.files.write(event, durable=False)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = rt.memory.reindex()
        t_reindex = time.perf_counter() - t0
        latencies = []
        for _ in range(opts.queries):
            query = " ".join(rng.sample(WORDS, rng.choice([1, 2])))
            t0 = time.perf_counter()
            rt.memory.search(query, limit=10)
            latencies.append(time.perf_counter() - t0)
        rt.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    p50, p95 = p50_p95_ms(latencies)
    print(f"remember benchmark: {report.indexed} memories, {opts.queries} queries\n")
    print(table(["measurement", "value"], [
        ["write the memory files (no fsync)", f"{t_write:.1f} s"],
        ["reindex from files", f"{t_reindex:.1f} s ({report.indexed / t_reindex:,.0f} memories/s)"],
        ["search p50", f"{p50:.1f} ms"],
        ["search p95", f"{p95:.1f} ms"],
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
