"""A question answered from memory at 100,000 memories: latency (p50, p95) and whether the right note still wins.

    .venv/bin/python bench/memory_answer.py [--memories N] [--repeats R]

The home holds N filler memories (8 to 20 distinct words from a vocabulary of 3,000 made-up words and
40 everyday ones, so at 100,000 memories "anna", "dentist" or "car" each match about 400 of them, as in
a big real home) plus the 30 notes of tests/data/memory_facts.jsonl.
Each of that set's questions then runs the product's path end to end: the router plans, the Runtime
runs memory_search through the gate and the audit log, grounded.memory_answer picks the note. Timed
per question, R rounds. Reported with the answer rate at this size; no goal.
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

from _common import ROOT, p50_p95_ms, table

from runtime import Runtime, grounded
from runtime.router import Router

WORDS = ("garden tomato basil meeting anna berlin invoice taxes dentist bike chain coffee paris tokyo robot report deadline "
         "plum fig pear river mountain train ticket budget salary rent kitchen oven car birthday phone book club wine key").split()


SYLLABLES = "ka lo mi ne ru sa te vi do fe ga hu ji ko la ma no pe qui ro su ta ve wo xa yo ze".split()


def vocabulary(rng: random.Random) -> list[str]:
    made_up = {"".join(rng.sample(SYLLABLES, rng.randint(2, 3))) for _ in range(3200)}
    return sorted(made_up)[:3000] + WORDS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-v", "--verbose", action="store_true", help="print each question the right note did not answer")
    opts = parser.parse_args()
    rng = random.Random(11)
    vocab = vocabulary(rng)
    rows = [json.loads(line) for line in (ROOT / "tests" / "data" / "memory_facts.jsonl").read_text().splitlines() if line.strip()]
    base = Path(tempfile.mkdtemp(prefix="mh-bench-"))
    try:
        rt = Runtime(base / "home")
        rt.init()
        start = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(opts.memories):
            words = " ".join(rng.sample(vocab, rng.randint(8, 20)))  # no word thrice: people do not write like that
            event = rt.memory.new_event(type="note", content=f"{words.capitalize()}.", source="bench", timestamp=start + timedelta(minutes=i))
            rt.memory.files.write(event, durable=False)
        rt.memory.reindex()
        for row in rows:
            if "fact" in row:
                rt.call("memory_capture", {"content": row["fact"]})
        router = Router(rt.skills)
        questions = [row for row in rows if "question" in row]
        latencies, right, answerable = [], 0, 0
        for round_ in range(opts.repeats):
            for row in questions:
                t0 = time.perf_counter()
                plan = router.plan(row["question"])
                reply = None
                if plan.steps and plan.steps[0].skill == "memory_search":
                    reply = grounded.memory_answer(row["question"], rt.call("memory_search", plan.steps[0].args).result)
                latencies.append(time.perf_counter() - t0)
                if round_ == 0 and row["answer"] is not None:
                    answerable += 1
                    right += (good := bool(reply and row["answer"].lower() in reply.lower()))
                    if not good and opts.verbose:
                        print("MISS", row["question"], "|", reply)
        rt.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    p50, p95 = p50_p95_ms(latencies)
    print(f"memory answer benchmark: {opts.memories:,} filler memories + 30 notes, {len(latencies)} questions\n")
    print(table(["measurement", "value"], [
        ["plan + memory_search (door) + answer, p50", f"{p50:.1f} ms"],
        ["the same, p95", f"{p95:.1f} ms"],
        ["answered from the right note", f"{right}/{answerable}"],
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
