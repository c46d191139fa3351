"""Where the time of one `AuditLog.append` goes: cProfile, then each part timed on its own.

    .venv/bin/python bench/profile_append.py [--quick] [--n N] [--top K] [--dir PATH]

Not a check (always exits 0). The parts are the steps `append` takes, called directly in a loop
with the same inputs, so their sum approximates one append without the profiler's own overhead.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import table

from nacl.signing import SigningKey

from runtime.audit import AuditLog
from runtime.audit.format import checkpoint_message, encode_entry
from runtime.audit.log import AuditEntry, utc_timestamp
from runtime.keys import Signer
from runtime.redact import redact

DETAILS = {"skill": "fs_read", "args": {"path": "README.md"}}
OPTIONS = {"checkpoint_every": 1000, "fsync_every": 64, "fsync_interval_ms": 200}


def per_call(n: int, body) -> float:
    """µs per call of body(), best of 3."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            body()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def whole_append(directory: Path, n: int, **options) -> float:
    best = float("inf")
    for attempt in range(3):
        target = directory / f"whole-{attempt}"
        log = AuditLog(target, **options)
        start = time.perf_counter()
        for _ in range(n):
            log.append("skill", "start", details=DETAILS)
        best = min(best, time.perf_counter() - start)
        log.close()
        shutil.rmtree(target)
    return best / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N=5000 instead of 20000")
    parser.add_argument("--n", type=int)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--dir", type=Path)
    opts = parser.parse_args()
    n = opts.n or (5_000 if opts.quick else 20_000)
    signer = Signer(SigningKey.generate())
    base = Path(tempfile.mkdtemp(prefix="mh-bench-", dir=opts.dir))
    try:
        # 1. cProfile of the real thing.
        log = AuditLog(base / "profiled", signer=signer, **OPTIONS)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(n):
            log.append("skill", "start", details=DETAILS)
        profile.disable()
        log.close()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(opts.top)
        print(f"cProfile, {n} appends, sorted by own time (the profiler inflates small calls):")
        print(out.getvalue().split("\n\n", 1)[-1].strip() + "\n")

        # 2. The whole append with and without its durability work.
        full = whole_append(base, n, signer=signer, **OPTIONS)
        no_fsync = whole_append(base, n, signer=signer, checkpoint_every=OPTIONS["checkpoint_every"],
                                fsync_every=10**9, fsync_interval_ms=10**9)
        cpu_only = whole_append(base, n, signer=None, fsync_every=10**9, fsync_interval_ms=10**9)

        # 3. Each step on its own.
        parts_dir = base / "parts"
        parts_dir.mkdir()
        fd = os.open(parts_dir / "x.ndjson", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        lock_fd = os.open(parts_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        import fcntl

        thread_lock = threading.Lock()
        _, line = encode_entry(seq=1, ts=utc_timestamp(), level="info", category="skill", event="start",
                               actor="system", details=DETAILS, prev="0" * 64)
        data = (line + "\n").encode()
        head_file = parts_dir / "x.ndjson"
        head_log = AuditLog(parts_dir, **OPTIONS)
        head_log._head_file = head_file

        def lock_unlock() -> None:
            with thread_lock:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                fcntl.flock(lock_fd, fcntl.LOCK_UN)

        locked_cm = AuditLog(parts_dir / "cm", **OPTIONS)

        def lock_contextmanager() -> None:
            with locked_cm._locked():
                pass

        def timestamp_and_target() -> None:
            now = datetime.now(UTC)
            utc_timestamp(now)
            target = parts_dir / f"{now:%Y-%m-%d}.ndjson"
            _ = head_file.name > target.name

        def write_and_fstat() -> None:
            view = memoryview(data)
            os.write(fd, view)
            os.fstat(fd)
            time.monotonic()

        def fsync_after_64() -> None:
            for _ in range(64):
                os.write(fd, data)
            os.fsync(fd)

        message = checkpoint_message(1000, "0" * 64, utc_timestamp(), signer.key_id)

        def checkpoint() -> None:
            sig = signer.sign(message)
            cfd = os.open(parts_dir / "checkpoints.ndjson", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(cfd, (json.dumps({"sig": sig}) + "\n").encode())
            os.fsync(cfd)
            os.close(cfd)

        small = max(n // 10, 200)
        parts = [
            ("redact(details)", per_call(n, lambda: redact(DETAILS))),
            ("lock: threading.Lock + flock EX/UN", per_call(n, lock_unlock)),
            ("  + @contextmanager _locked() wrapper", per_call(n, lock_contextmanager) - per_call(n, lock_unlock)),
            ("_head_still_current (now, Path build, stat)", per_call(n, head_log._head_still_current)),
            ("timestamp + day-file Path in _write_entry", per_call(n, timestamp_and_target)),
            ("encode_entry (2x canonical json + sha256)", per_call(n, lambda: encode_entry(
                seq=1, ts="2026-11-22T00:00:00.000000Z", level="info", category="skill", event="start",
                actor="system", details=DETAILS, prev="0" * 64))),
            ("os.write + os.fstat + monotonic", per_call(n, write_and_fstat)),
            ("AuditEntry(...) frozen dataclass", per_call(n, lambda: AuditEntry(
                1, "ts", "info", "skill", "start", "system", DETAILS, "0" * 64, "0" * 64))),
            ("fsync, amortised over 64 appends", per_call(max(small // 64, 20), fsync_after_64) / 64
             - per_call(n, lambda: os.write(fd, data))),
            ("checkpoint (sign + fsync), over 1000", per_call(20, checkpoint) / 1000),
        ]
        os.close(fd)
        os.close(lock_fd)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(table(["whole append", "µs/append"], [
        ["append, as configured (fsync 64/200ms, checkpoint 1000)", f"{full:.2f}"],
        ["append, no fsync batches (checkpoints kept)", f"{no_fsync:.2f}"],
        ["append, no fsync, no signer (pure CPU + write)", f"{cpu_only:.2f}"],
    ]))
    print()
    print(table(["part (timed alone)", "µs/append"], [[name, f"{value:.2f}"] for name, value in parts]
                + [["sum of parts", f"{sum(v for _, v in parts):.2f}"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
