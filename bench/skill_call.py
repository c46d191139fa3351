"""Cost of a no-op skill call through `Runtime.call` (gate + audit) against one audit append.

    .venv/bin/python bench/skill_call.py [--quick] [--n N] [--repeats R] [--dir PATH]

A fresh home (`Runtime(tmp).init()`, default config) gets two no-op skills, one of risk `read`
and one of risk `low`, registered with `rt.skills.register`. Measured in the same run, on the same
`rt.audit` log: N calls of each, and N single `rt.audit.append` calls with the details a call's
start entry carries. Each side is the best of R repeats (time.perf_counter).

Goal (from the issue): a no-op skill call costs at most 2x one audit append. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _common import best_of, table, timed, verdict
from pydantic import BaseModel

from runtime.runtime import CallStatus, Runtime
from runtime.skills import SkillContext, skill

GOAL = 2.0


class NoopInput(BaseModel):
    pass


@skill(risk="read")
def noop_read(ctx: SkillContext, args: NoopInput) -> dict:
    """Do nothing (read risk)."""
    return {}


@skill(risk="low")
def noop_low(ctx: SkillContext, args: NoopInput) -> dict:
    """Do nothing (low risk)."""
    return {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N=1000 instead of 5000")
    parser.add_argument("--n", type=int, help="calls per side (overrides --quick)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where to make the home (default: a temp folder, removed after)")
    opts = parser.parse_args()
    n = opts.n or (1_000 if opts.quick else 5_000)

    base = Path(tempfile.mkdtemp(prefix="mh-bench-", dir=opts.dir))
    try:
        rt = Runtime(base / "home")
        rt.init()
        rt.skills.register(noop_read)
        rt.skills.register(noop_low)
        for skill_id in ("noop_read", "noop_low"):  # warm up and check they really run
            outcome = rt.call(skill_id, {})
            if outcome.status is not CallStatus.ok:
                print(f"FAIL  {skill_id} did not run: {outcome.status} ({outcome.reason})")
                return 1

        details = {"skill": "noop_read", "args": {}, "session": rt.person.id, "reason": "read risk at suggest"}
        entries_per_call: dict[str, int] = {}

        def appends() -> float:
            append = rt.audit.append
            return timed(lambda: [append("skill", "start", details=details) for _ in range(n)])

        def calls(skill_id: str) -> float:
            call = rt.call
            before = rt.audit.head()[0]
            elapsed = timed(lambda: [call(skill_id, {}) for _ in range(n)])
            entries_per_call[skill_id] = (rt.audit.head()[0] - before) // n
            return elapsed

        t_append = best_of(opts.repeats, appends)
        t_read = best_of(opts.repeats, lambda: calls("noop_read"))
        t_low = best_of(opts.repeats, lambda: calls("noop_low"))
        rt.close()
        report = rt.verify_audit()
    finally:
        shutil.rmtree(base, ignore_errors=True)

    def us(seconds: float) -> float:
        return seconds / n * 1e6

    append_us = us(t_append)
    rows = [["AuditLog.append (1 entry)", f"{append_us:.1f}", "1", "1.00", "-"]]
    checks = []
    for skill_id, seconds in (("noop_read", t_read), ("noop_low", t_low)):
        per_call, entries = us(seconds), entries_per_call[skill_id]
        ratio = per_call / append_us
        outside = per_call - entries * append_us  # what the call costs beyond its appends
        rows.append([f"Runtime.call {skill_id}", f"{per_call:.1f}", str(entries), f"{ratio:.2f}", f"{outside:.1f}"])
        checks.append((ratio <= GOAL, verdict(f"{skill_id} call / append", ratio, f"<= {GOAL}", ratio <= GOAL)))

    print(f"skill call benchmark: N={n} calls per side, best of {opts.repeats}\n")
    print(table(["side", "µs/call", "audit entries", "ratio vs append", "µs beyond appends"], rows))
    print()
    log_ok = report.ok
    checks.append((log_ok, f"{'PASS' if log_ok else 'FAIL'}  audit log verifies after the run "
                           f"({report.entries} entries{'' if log_ok else f'; {report.problem}'})"))
    for _, text in checks:
        print(text)
    return 0 if all(met for met, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
