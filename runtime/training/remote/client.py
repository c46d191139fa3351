"""mh's side of the seam: runs runtime/training/remote/skypilot_seam.py in SkyPilot's own Python
and turns its replies into values and its failures into MhErrors that say what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import MhError
from ...home import CHECKOUT

SEAM = Path(__file__).with_name("skypilot_seam.py")
SKY_VENV = CHECKOUT / ".venv-sky"


class SeamFailed(MhError):
    """SkyPilot could not do what was asked."""


@dataclass(frozen=True)
class SeamClient:
    """Every seam process runs in a session of its own: a Ctrl-C at the terminal reaches mh's process
    group only, so mh decides (stop waiting, then tear down) and no `sky down` is cut off midway."""

    python: Path
    script: Path

    @classmethod
    def default(cls) -> SeamClient:
        """$MH_SKY_PYTHON, else .venv-sky/bin/python; $MH_SKY_SEAM replaces the seam script (a test's stand-in)."""
        python = Path(os.environ.get("MH_SKY_PYTHON") or SKY_VENV / "bin" / "python")
        script = Path(os.environ.get("MH_SKY_SEAM") or SEAM)
        if not python.exists():
            raise SeamFailed(f"SkyPilot is not installed ({python} is missing)",
                             fix="run bin/bootstrap-sky (SkyPilot gets its own environment in .venv-sky), or set MH_SKY_PYTHON")
        return cls(python, script)

    def command(self, op: str) -> list[str]:
        return [str(self.python), str(self.script), op]

    def call(self, op: str, request: dict[str, Any], *, timeout: float | None = 3600) -> dict[str, Any]:
        """One op, start to end; SkyPilot's output goes to this process's stderr as it comes."""
        proc = subprocess.run(self.command(op), input=json.dumps(request), capture_output=True, text=True, timeout=timeout,
                              start_new_session=True)
        return self.reply(op, proc.returncode, proc.stdout, proc.stderr)

    def start(self, op: str, request: dict[str, Any], log: Path) -> subprocess.Popen:
        """An op that runs long (wait): its output goes to `log`; `finish` reads its reply."""
        with open(log, "a", encoding="utf-8") as handle:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(self.command(op), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=handle, text=True,
                                    start_new_session=True)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(request))
        proc.stdin.close()
        return proc

    def finish(self, op: str, proc: subprocess.Popen, log: Path) -> dict[str, Any]:
        out = proc.stdout.read() if proc.stdout else ""
        proc.wait()
        tail = log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.exists() else ""
        return self.reply(op, proc.returncode, out, tail)

    @staticmethod
    def reply(op: str, code: int, out: str, err: str) -> dict[str, Any]:
        if code != 0:
            sys.stderr.write(err[-4000:])
            lines = [line for line in err.strip().splitlines() if line.strip()]
            raise SeamFailed(f"SkyPilot {op} failed: {lines[-1] if lines else f'exit {code}'}",
                             fix="see the SkyPilot output above; `sky status` and `sky check` show the clusters and the usable clouds")
        lines = out.strip().splitlines()
        if not lines:
            raise SeamFailed(f"SkyPilot {op} gave no reply", fix="run bin/bootstrap-sky again")
        return json.loads(lines[-1])
