"""`mh nightly` on a terminal says its stages as it goes (the train step then shows its own steps,
loss and ETA), and a home with too little to learn from stops at verify with the fix, in seconds."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from .conftest import ROOT, run_mh


def on_a_terminal(home, *args: str) -> tuple[int, str]:
    """Run mh with stdout and stderr on a pseudo-terminal, as a person at a shell sees it."""
    main, child = pty.openpty()
    env = {**os.environ, "MH_HOME": str(home), "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", *args], stdout=child, stderr=child, env=env, cwd=ROOT)
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other end is closed: all read
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    return proc.wait(timeout=120), seen.decode(errors="replace")


def test_a_nightly_on_a_terminal_says_its_stages_and_a_small_home_gets_the_fix(tmp_path):
    home = tmp_path / "home"
    run_mh(home, "init", check=True)
    run_mh(home, "capture", "Bought plums at the market.", check=True)
    code, said = on_a_terminal(home, "nightly")
    assert code == 1  # refused right after the build: nothing is cleaned, verified or trained
    assert [line.split(":")[0] for line in said.splitlines() if line.startswith("[NIGHTLY]")] == ["[NIGHTLY] 1/7 build"]
    assert "fewer than min_pairs 10" in said and "add notes" in said
    piped = run_mh(home, "nightly")  # not a terminal: no stage lines in what a script reads
    assert piped.returncode == 1 and "[NIGHTLY]" not in piped.stdout + piped.stderr
