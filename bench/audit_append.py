"""Audit log throughput against plain JSON lines, measured in the same run.

    .venv/bin/python bench/audit_append.py [--quick] [--n N] [--repeats R] [--dir PATH]

(a) baselines: the same entries (seq, ts, level, category, event, actor, details) as plain JSON
    lines, no chain: `json.dumps(entry) + "\\n"` appended N times to one open file, (a1) flushed
    after every line, as `logging.FileHandler` does, so each line is visible to other processes when
    the call returns (what the audit log promises), and (a2) left in the file object's buffer.
(b) `AuditLog.append` (real Ed25519 signer, checkpoint_every=1000, fsync_every=64,
    fsync_interval_ms=200) for the same N entries, `close()` (seal + fsync) included.
(c) `verify()` over the log (b) wrote, against `for line in open(path, "rb"): json.loads(line)`.
(d) 4 processes appending N/4 entries each at once to one directory; the chain must verify
    with exactly N entries.

Each side is the best of R repeats (time.perf_counter). Goals: (b)/(a1) >= 0.4 (reported against
(a2) too),
(c) plain/verify >= 0.5, (d) verify ok with N entries. Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import best_of, table, timed, verdict
from nacl.signing import SigningKey

from runtime.audit import AuditLog, verify
from runtime.audit.log import log_files
from runtime.keys import Signer

ENTRY = {"category": "skill", "event": "start", "details": {"skill": "fs_read", "args": {"path": "README.md"}}}
LOG_OPTIONS = {"checkpoint_every": 1000, "fsync_every": 1000, "fsync_interval_ms": 100}  # etc/audit.json defaults
APPEND_GOAL = 0.4
VERIFY_GOAL = 0.5
WRITERS = 4


def fresh_dir(base: Path, name: str) -> Path:
    path = base / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def plain_append(directory: Path, n: int, *, flush_each: bool) -> float:
    path = directory / "plain.ndjson"

    def body() -> None:
        with open(path, "a") as handle:
            for seq in range(1, n + 1):
                entry = {"seq": seq, "ts": datetime.now(UTC).isoformat(), "level": "info", "actor": "system", **ENTRY}
                handle.write(json.dumps(entry) + "\n")
                if flush_each:
                    handle.flush()

    return timed(body)


def audit_append(directory: Path, n: int, signer: Signer) -> float:
    category, event, details = ENTRY["category"], ENTRY["event"], ENTRY["details"]

    def body() -> None:
        log = AuditLog(directory, signer=signer, **LOG_OPTIONS)
        for _ in range(n):
            log.append(category, event, details=details)
        log.close()

    return timed(body)


def plain_read(directory: Path) -> float:
    files = log_files(directory)

    def body() -> None:
        for path in files:
            for line in open(path, "rb"):
                json.loads(line)

    return timed(body)


def _writer(directory: str, seed: bytes, count: int, barrier) -> None:
    log = AuditLog(Path(directory), signer=Signer(SigningKey(seed)), **LOG_OPTIONS)
    category, event, details = ENTRY["category"], ENTRY["event"], ENTRY["details"]
    barrier.wait()
    for _ in range(count):
        log.append(category, event, details=details)
    log.close()


def concurrent_append(directory: Path, n: int, seed: bytes, method: str) -> float:
    ctx = mp.get_context(method)
    barrier = ctx.Barrier(WRITERS + 1)
    share = [n // WRITERS + (1 if i < n % WRITERS else 0) for i in range(WRITERS)]
    procs = [ctx.Process(target=_writer, args=(str(directory), seed, k, barrier)) for k in share]
    for proc in procs:
        proc.start()
    barrier.wait()  # every writer is imported and ready; the clock starts when all are released
    start = time.perf_counter()
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - start
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad:
        raise SystemExit(f"a writer process failed (exit codes {bad})")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N=5000 instead of 20000")
    parser.add_argument("--n", type=int, help="entries per side (overrides --quick)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where to write (default: a temp folder, removed after)")
    parser.add_argument("--start-method", default="fork", choices=mp.get_all_start_methods())
    opts = parser.parse_args()
    n = opts.n or (5_000 if opts.quick else 20_000)
    seed = bytes(SigningKey.generate())
    signer = Signer(SigningKey(seed))

    base = Path(tempfile.mkdtemp(prefix="mh-bench-", dir=opts.dir))
    try:
        t_plain = best_of(opts.repeats, lambda: plain_append(fresh_dir(base, "plain"), n, flush_each=True))
        t_buffered = best_of(opts.repeats, lambda: plain_append(fresh_dir(base, "plain"), n, flush_each=False))
        t_audit = best_of(opts.repeats, lambda: audit_append(fresh_dir(base, "audit"), n, signer))

        audit_dir = base / "audit"  # the log the last (b) repeat wrote
        report = verify(audit_dir, signer.verifier)
        if not report.ok or report.entries != n:
            print(f"FAIL  the single-writer log does not verify: {report.problem} ({report.entries} entries)")
            return 1
        t_verify = best_of(opts.repeats, lambda: timed(lambda: verify(audit_dir, signer.verifier)))
        t_read = best_of(opts.repeats, lambda: plain_read(audit_dir))

        conc_reports = []

        def one_concurrent() -> float:
            directory = fresh_dir(base, "concurrent")
            elapsed = concurrent_append(directory, n, seed, opts.start_method)
            conc_reports.append(verify(directory, signer.verifier))
            return elapsed

        t_conc = best_of(opts.repeats, one_concurrent)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    def rate(seconds: float) -> str:
        return f"{n / seconds:,.0f}"

    def micros(seconds: float) -> str:
        return f"{seconds / n * 1e6:.2f}"

    append_ratio = t_plain / t_audit
    verify_ratio = t_read / t_verify
    print(f"audit append benchmark: N={n}, best of {opts.repeats}, {WRITERS} writers for (d)\n")
    print(table(
        ["side", "entries/s", "µs/entry", "ratio vs baseline"],
        [
            ["(a1) plain json append, flushed", rate(t_plain), micros(t_plain), "1.00"],
            ["(a2) plain json append, buffered", rate(t_buffered), micros(t_buffered), "-"],
            ["(b) AuditLog.append", rate(t_audit), micros(t_audit),
             f"{append_ratio:.3f} vs (a1), {t_buffered / t_audit:.3f} vs (a2)"],
            ["(c) plain json.loads loop", rate(t_read), micros(t_read), "1.00"],
            ["(c) verify()", rate(t_verify), micros(t_verify), f"{verify_ratio:.3f}"],
            [f"(d) {WRITERS} processes, total", rate(t_conc), micros(t_conc), f"{t_audit / t_conc:.3f} vs (b)"],
        ],
    ))
    conc_ok = bool(conc_reports) and all(r.ok and r.entries == n for r in conc_reports)
    worst = next((r for r in conc_reports if not (r.ok and r.entries == n)), conc_reports[-1])
    print()
    checks = [
        (append_ratio >= APPEND_GOAL, verdict("(b) append ratio", append_ratio, f">= {APPEND_GOAL}", append_ratio >= APPEND_GOAL)),
        (verify_ratio >= VERIFY_GOAL, verdict("(c) verify ratio", verify_ratio, f">= {VERIFY_GOAL}", verify_ratio >= VERIFY_GOAL)),
        (conc_ok, f"{'PASS' if conc_ok else 'FAIL'}  (d) concurrent log verifies: ok={worst.ok} "
                  f"entries={worst.entries} (goal ok and {n}) over {len(conc_reports)} runs"
                  + (f"; problem: {worst.problem}" if worst.problem else "")),
    ]
    for _, text in checks:
        print(text)
    return 0 if all(met for met, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
