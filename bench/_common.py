"""Shared helpers for the benchmarks: import path, best-of-N timing, a small table."""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python bench/x.py` from anywhere finds `runtime`


def best_of(repeats: int, run: Callable[[], float]) -> float:
    """Smallest of `repeats` timings. `run` does its own setup and returns the seconds it measured."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        best = min(best, run())
    return best


def timed(body: Callable[[], object]) -> float:
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


def p50_p95_ms(latencies: list[float]) -> tuple[float, float]:
    """The median and the 95th percentile of timings in seconds, in milliseconds."""
    ordered = sorted(latencies)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def verdict(name: str, value: float, goal: str, met: bool) -> str:
    return f"{'PASS' if met else 'FAIL'}  {name}: {value:.3f} (goal {goal})"
