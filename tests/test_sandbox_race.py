"""Issue 13: the fs skills under a hostile local process that swaps a folder of out/ with a symlink to a
folder outside the home (renameat2 RENAME_EXCHANGE, in a loop) while the skills run, and the other
files a local process can plant in out/: a hard link to the signing key, a FIFO.

Each race runs for a bounded time (RACE_S) and prints its counts (pytest -s shows them)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runtime import CallStatus

from .conftest import run_mh

RACE_S = 3.0
RENAME_EXCHANGE = 2

SWAPPER = """
import ctypes, ctypes.util, os, sys, time
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
a, b, stop = sys.argv[1].encode(), sys.argv[2].encode(), time.monotonic() + float(sys.argv[3])
AT_FDCWD = -100
print("ready", flush=True)
swaps = 0
while time.monotonic() < stop:
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, 2) == 0:
        swaps += 1
print(swaps, flush=True)
"""


def _has_renameat2() -> bool:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return hasattr(libc, "renameat2")


pytestmark = pytest.mark.skipif(sys.platform != "linux" or not _has_renameat2(), reason="needs Linux renameat2")


class Race:
    """out/d (a real folder) and out/l (a symlink to `outside`) swap places until stopped."""

    def __init__(self, home_out: Path, outside: Path) -> None:
        self.real, self.link = home_out / "d", home_out / "l"
        self.real.mkdir()
        os.symlink(outside, self.link)
        self.proc: subprocess.Popen | None = None
        self.swaps = 0

    def __enter__(self) -> Race:
        self.proc = subprocess.Popen([sys.executable, "-c", SWAPPER, str(self.real), str(self.link), str(RACE_S * 10 + 30)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def folder(self) -> Path:
        """Where the real folder is now (the swapper is stopped)."""
        return self.link if self.real.is_symlink() else self.real


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def run_for(seconds: float, one_call) -> dict[str, int]:
    """Call for `seconds` (and at least 100 times: a loaded machine may be slow to start)."""
    counts = {"tried": 0, "ok": 0, "refused": 0, "unhandled": 0}
    errors: set[str] = set()
    start = time.monotonic()
    while time.monotonic() < start + seconds or (counts["tried"] < 100 and time.monotonic() < start + 10 * seconds):
        counts["tried"] += 1
        try:
            outcome = one_call(counts["tried"])
        except Exception as exc:  # noqa: BLE001 - counting what escapes Runtime.call is the point
            counts["unhandled"] += 1
            errors.add(f"{type(exc).__name__}: {exc}")
            continue
        counts["ok" if outcome.status is CallStatus.ok else "refused"] += 1
        if outcome.status is not CallStatus.ok:
            assert outcome.fix, outcome
    assert not errors, errors
    return counts


def test_read_race_never_reads_outside(rt, outside):
    (outside / "f.txt").write_text("OUTSIDE SECRET")
    race = Race(rt.home.out, outside)
    (race.real / "f.txt").write_text("inside")
    inode = (race.real / "f.txt").stat().st_ino
    leaked = []

    def read(_i):
        outcome = rt.call("fs_read", {"path": "out/d/f.txt"})
        if outcome.status is CallStatus.ok:
            if outcome.result["content"] != "inside" or outcome.result["inode"] != inode:
                leaked.append(outcome.result)
        return outcome

    rt.call("fs_read", {"path": "out/d/f.txt"})  # warm: the first call loads what later calls reuse
    with race:
        counts = run_for(RACE_S, read)
    print("read race", counts)
    assert leaked == [] and counts["unhandled"] == 0 and counts["ok"] > 0 and counts["refused"] > 0
    # What the audit names is what was read: the inside file, by path and inode.
    reads = [e.details["result"] for e in rt.audit.entries() if e.details.get("skill") == "fs_read" and e.event == "result"]
    assert len(reads) == counts["ok"] + 1 and {(r["path"], r["inode"]) for r in reads} == {("out/d/f.txt", inode)}


def test_write_race_never_creates_outside(rt, outside):
    race = Race(rt.home.out, outside)

    with race:
        counts = run_for(RACE_S, lambda i: rt.call("fs_write", {"path": f"out/d/w{i}.txt", "content": "w"}))
    print("write race", counts)
    assert list(outside.iterdir()) == [] and counts["unhandled"] == 0 and counts["ok"] > 0 and counts["refused"] > 0
    assert len(list(race.folder().iterdir())) == counts["ok"]  # every write that succeeded landed inside


def test_delete_race_never_deletes_outside(rt, outside):
    race = Race(rt.home.out, outside)
    names = [f"v{i}" for i in range(3000)]
    for name in names:
        (outside / name).write_text("outside")
        (race.real / name).write_text("inside")

    with race:
        counts = run_for(RACE_S, lambda i: rt.call("fs_delete", {"path": f"out/d/{names[(i - 1) % len(names)]}"}))
    print("delete race", counts)
    assert sorted(p.name for p in outside.iterdir()) == sorted(names)
    assert counts["unhandled"] == 0 and counts["ok"] > 0 and counts["refused"] > 0
    assert len(list(race.folder().iterdir())) == len(names) - counts["ok"]


def test_a_hard_link_to_the_signing_key_is_not_read(rt):
    key = next(rt.home.keys_dir.iterdir())
    os.link(key, rt.home.out / "k.txt")
    outcome = rt.call("fs_read", {"path": "out/k.txt"})
    assert outcome.status is CallStatus.failed and "hard links" in outcome.error and outcome.fix
    assert key.read_text().strip() not in "".join(p.read_text() for p in rt.home.audit_dir.glob("*.ndjson"))
    # A hard link anywhere in the home, not only in out/.
    os.link(rt.home.root / "etc" / "trust.json", rt.home.root / "etc" / "copy.json")
    assert "hard links" in rt.call("fs_read", {"path": "etc/copy.json"}).error


def test_a_fifo_is_refused_at_once(rt, home):
    fifo = rt.home.out / "pipe"
    os.mkfifo(fifo)
    done: list = []
    reader = threading.Thread(target=lambda: done.append(rt.call("fs_read", {"path": "out/pipe"})), daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # unblock the stuck reader so the suite goes on, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("fs_read of a FIFO blocked")
    assert done[0].status is CallStatus.failed and "FIFO" in done[0].error and done[0].fix
    rt.close()
    cli = run_mh(home, "run", "fs_read", "--arg", "path=out/pipe", timeout=30)  # the CLI does not hang either
    assert cli.returncode == 1 and "FIFO" in cli.stderr
