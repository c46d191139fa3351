"""The first `mh plan` in a new home against a later one in the same home.

    .venv/bin/python bench/first_plan.py [--repeats R]

Each side is a fresh process (`bin/mh plan "summarize out/notes.txt"`), timed from the outside. The
first run meets a home that does not exist yet (mh initialises it: folders, configs, signing key) and
uses the router weights bin/bootstrap trained at install time; later runs meet both ready. A third
row, for information, is a first run whose router cache is empty too (MH_CACHE_DIR pointed at an
empty folder): the cost of training the router once. Best of R, each first run in a new home.
Goal: first / later < 1.5.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, table, verdict

GOAL = 1.5
PLAN = [str(ROOT / "bin" / "mh"), "plan", "summarize out/notes.txt"]


def run(env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(PLAN, capture_output=True, env=env, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mh-bench-"))
    try:
        subprocess.run(PLAN, capture_output=True, env={**os.environ, "MH_HOME": str(base / "warm")}, check=True)  # bootstrap check, caches
        first, cold, later = [], [], []
        for i in range(opts.repeats):
            first.append(run({**os.environ, "MH_HOME": str(base / f"new-{i}")}))
            later.append(run({**os.environ, "MH_HOME": str(base / f"new-{i}")}))
            cold.append(run({**os.environ, "MH_HOME": str(base / f"cold-{i}"), "MH_CACHE_DIR": str(base / f"cache-{i}")}))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    ratio = min(first) / min(later)
    print(f"first plan benchmark: best of {opts.repeats}\n")
    print(table(["run", "seconds", "ratio"], [
        ["later plan, same home", f"{min(later):.3f}", "1.00"],
        ["first plan, new home", f"{min(first):.3f}", f"{ratio:.3f}"],
        ["first plan, new home, empty router cache", f"{min(cold):.3f}", f"{min(cold) / min(later):.3f}"],
    ]))
    print(verdict("first/later", ratio, f"< {GOAL}", ratio < GOAL))
    return 0 if ratio < GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
