"""Run directories (state/runs/<run_id>/) and the exit-code table."""

from __future__ import annotations

import json
import os
import platform
import secrets
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from ..errors import MhError
from ..home import run_folder
from ..jsonio import atomic_write, pretty, read_json_file
from ..liveness import RunningMarker


class ExitCode(IntEnum):
    OK = 0
    CONFIG = 1
    TRAINING_FAILED = 10
    NAN = 11
    INF = 12
    GATE_FAILED = 14
    TEARDOWN_UNCONFIRMED = 20  # a remote run's machine may still be running (and billing)
    INTERRUPTED = 30


STAGES = ("INIT", "DATASET", "MODEL_LOAD", "PREPROCESSING", "LORA_SETUP", "TRAINING", "SAVE_ADAPTER", "GGUF_EXPORT", "COMPLETE")


STOP_REQUEST = "stop-requested"


class CheckpointNotInRun(MhError):
    """A checkpoint named by path that is not one of the run's own."""


def new_run_id() -> str:
    return f"run-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"


class RunDir:
    """One run's folder. Every file of the layout is really written (the tests read them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.running = RunningMarker(path / "run.pid", what=f"run {path.name}",
                                     fix="wait for it, or stop it (Ctrl-C or SIGTERM saves a checkpoint)")

    @classmethod
    def create(cls, runs_root: Path, run_id: str | None = None) -> RunDir:
        run = cls(runs_root / (run_id or new_run_id()))
        run.lay_out()
        return run

    def lay_out(self) -> None:
        """The folders and logs every run has (again, for a run that travelled without some of them)."""
        for sub in ("logs", "metrics", "checkpoints", "eval", "exports"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        for name in ("logs/train.log", "logs/events.jsonl", "metrics/metrics.jsonl"):
            (self.path / name).touch()

    @classmethod
    def find(cls, runs_root: Path, run_id: str) -> RunDir:
        return cls(run_folder(runs_root, run_id))

    @property
    def id(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, value: Any) -> None:
        atomic_write(self.path / name, pretty(value))

    def read_json(self, name: str) -> Any:
        try:
            return read_json_file(self.path / name, 64 << 20)
        except FileNotFoundError:
            return None

    def append(self, name: str, record: dict[str, Any]) -> None:
        with open(self.path / name, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")

    def event(self, stage: str, message: str, **extra: Any) -> None:
        now = datetime.now(UTC).isoformat()
        self.append("logs/events.jsonl", {"ts": now, "stage": stage, "message": message, **extra})
        with open(self.path / "logs" / "train.log", "a", encoding="utf-8") as handle:
            handle.write(f"{now} {stage:<13} {message}\n")

    def finish(self, code: ExitCode, **fields: Any) -> dict[str, Any]:
        """Record the terminal code of the attempt `begin_attempt` opened (the trainer finishes an
        attempt once: the first terminal code, e.g. NaN before a stop, is the one it records)."""
        report = self.read_json("report.json") or {"run_id": self.id, "attempts": []}
        attempt = report["attempts"][-1] if report["attempts"] and "exit_code" not in report["attempts"][-1] else None
        if attempt is None:
            attempt = {"started_at": datetime.now(UTC).isoformat()}
            report["attempts"].append(attempt)
        attempt.update({"exit_code": int(code), "status": code.name.lower(), "ended_at": datetime.now(UTC).isoformat(), **fields})
        report.update({"exit_code": int(code), "status": code.name.lower(), **fields})
        self.write_json("report.json", report)
        return report

    def report(self) -> dict[str, Any]:
        """report.json as it stands, except that a "running" run whose process is gone says so."""
        try:
            report = self.read_json("report.json") or {"run_id": self.id, "attempts": [], "status": None}
        except ValueError as exc:  # edited by hand or damaged: say so, and keep listing the other runs
            return {"run_id": self.id, "status": "unreadable", "note": f"report.json: {exc}"}
        if report.get("status") == "running" and not self.running.is_held():
            report["status"] = "gone"
            report["note"] = "its process ended without finishing the attempt (killed?); `mh resume` continues from its last checkpoint"
        return report

    def checkpoints(self) -> list[str]:
        """Its checkpoints' folder names (`checkpoint-STEP`), by step."""
        found = [p.name for p in self.file("checkpoints").glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()]
        return sorted(found, key=lambda name: int(name[11:]))

    def checkpoint_step(self, named: str) -> int:
        """The step of a checkpoint named by its step ("4") or by its folder, as Helix names it
        (`checkpoints/step_00001000.pt`): a path relative to the run (else to the current folder) or
        absolute. Anything that is not one of this run's own checkpoints is refused."""
        if named.isdigit():
            return int(named)
        given = Path(named).expanduser()
        if given.is_absolute():
            path = given.resolve()
        elif (self.path / given).exists() or not given.exists():  # Helix's form: relative to the run
            path = (self.path / given).resolve()
        else:
            path = given.resolve()
        inside = self.file("checkpoints").resolve()
        listed = ", ".join(f"checkpoints/{name}" for name in self.checkpoints()) or "none yet"
        if path.parent != inside:
            raise CheckpointNotInRun(f"{named} is not a checkpoint of {self.id}",
                                     fix=f"name one of its own (its checkpoints: {listed}), or its step: --checkpoint STEP")
        if not (path.name.startswith("checkpoint-") and path.name[11:].isdigit() and path.is_dir()):
            raise CheckpointNotInRun(f"{self.id} has no checkpoint {path.name} (mh's checkpoints are folders checkpoints/checkpoint-STEP)",
                                     fix=f"its checkpoints: {listed}; or give the step: --checkpoint STEP")
        return int(path.name[11:])

    def gates(self) -> dict[str, Any] | None:
        """eval/gates.json when it is there and whole; None when not evaluated or damaged."""
        try:
            gates = self.read_json("eval/gates.json")
        except ValueError:
            return None
        return gates if isinstance(gates, dict) and isinstance(gates.get("passed"), bool) else None

    def gates_passed(self) -> bool:
        gates = self.gates()
        return bool(gates and gates["passed"])

    def request_stop(self) -> None:
        """Ask the process training this run to checkpoint and stop (exit 30) after its current
        step. A file, not a signal: it reaches a trainer in any process or thread."""
        (self.path / STOP_REQUEST).touch()

    def stop_requested(self) -> bool:
        return (self.path / STOP_REQUEST).exists()

    def begin_attempt(self) -> None:
        (self.path / STOP_REQUEST).unlink(missing_ok=True)  # a resumed run starts without the old request
        report = self.read_json("report.json") or {"run_id": self.id, "attempts": []}
        report["attempts"].append({"started_at": datetime.now(UTC).isoformat()})
        report.update({"status": "running", "exit_code": None})
        self.write_json("report.json", report)


def live_run(runs_root: Path) -> RunDir | None:
    """The newest run a process is training now, if any."""
    for path in sorted(runs_root.glob("run-*"), reverse=True):
        run = RunDir(path)
        if run.running.is_held():
            return run
    return None


class NotTraining(MhError):
    """No process is training the run asked for (or any run)."""


def stop_run(runs_root: Path, run_id: str | None = None) -> RunDir:
    """Ask a run (by default the one training now) to save a checkpoint and stop after its step."""
    run = RunDir.find(runs_root, run_id) if run_id else live_run(runs_root)
    if run is None or not run.running.is_held():
        raise NotTraining(f"{run.id if run else 'no run'} is not training now", fix="see `mh runs --status running`")
    run.request_stop()
    return run


def environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    import torch

    versions = {}
    for name in ("torch", "transformers", "peft", "trl", "gguf", "llama-cpp-python"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "cuda": torch.cuda.is_available(), "device": "cuda" if torch.cuda.is_available() else "cpu", **versions}
