"""Dataset pipeline throughput at 50,000 memories, and near-duplicate detection's scaling.

    .venv/bin/python bench/dataset.py [--memories N]

(a) baseline: a plain pass over the same memory files: read, `json.loads`, `json.dumps`.
(b) build + clean + verify through the skills (as `mh dataset ...` runs them), all pairs kept.
Reported: pairs per second of each, and their ratio. Then NearDuplicates over 10k and 50k texts:
time per text should stay flat (sub-quadratic); a pairwise comparison would grow 5x.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import table, timed

from runtime import Runtime
from runtime.datasets.clean import NearDuplicates

VOCABULARY = [f"w{j}" for j in range(5000)]  # a realistic spread of words: few memories look alike


def texts(rng: random.Random, count: int) -> list[str]:
    return [" ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(12, 40))) for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=50_000)
    opts = parser.parse_args()
    rng = random.Random(11)
    base = Path(tempfile.mkdtemp(prefix="mh-bench-"))
    try:
        rt = Runtime(base / "home")
        rt.init()
        rt.home.config_file("training.json").write_text(json.dumps({"dataset": {"max_pairs": opts.memories + 10}}))
        start = datetime.now(UTC) - timedelta(days=400)
        for i, text in enumerate(texts(rng, opts.memories)):
            event = rt.memory.new_event(type=rng.choice(["note", "reflection", "observation"]), content=text, source="bench",
                                        timestamp=start + timedelta(minutes=5 * i))
            rt.memory.files.write(event, durable=False)
        paths = list(rt.memory.files.paths())
        t_plain = timed(lambda: [json.dumps(json.loads(p.read_bytes())) for p in paths])
        results = {}

        def pipeline() -> None:
            built = rt.call("dataset_build", {})
            results["id"], results["pairs"] = built.result["id"], built.result["pairs"]
            results["clean"] = rt.call("dataset_clean", {"id": results["id"]}).result["report"]
            results["verify"] = rt.call("dataset_verify", {"id": results["id"]})

        t0 = time.perf_counter()
        pipeline()
        t_pipeline = time.perf_counter() - t0
        assert results["verify"].status.value == "ok", results["verify"]
        rt.close()

        scaling = []
        for count in (10_000, 50_000):
            near = NearDuplicates(0.8)
            corpus = texts(random.Random(count), count)
            seconds = timed(lambda near=near, corpus=corpus: [near.seen(t) for t in corpus])
            scaling.append((count, seconds))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    n = results["pairs"]
    print(f"dataset benchmark: {opts.memories} memories -> {n} pairs (kept {results['clean']['kept']})\n")
    print(table(["side", "seconds", "per second", "ratio"], [
        ["(a) read + json.loads + json.dumps", f"{t_plain:.2f}", f"{opts.memories / t_plain:,.0f}", "1.00"],
        ["(b) build + clean + verify", f"{t_pipeline:.2f}", f"{n / t_pipeline:,.0f}", f"{(n / t_pipeline) / (opts.memories / t_plain):.3f}"],
    ]))
    print()
    print(table(["near-duplicate texts", "seconds", "µs per text"], [
        [f"{c:,}", f"{s:.2f}", f"{s / c * 1e6:.0f}"] for c, s in scaling]))
    growth = (scaling[1][1] / scaling[1][0]) / (scaling[0][1] / scaling[0][0])
    print(f"\nper-text cost grew {growth:.2f}x from 10k to 50k (a pairwise O(n^2) check would grow 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
