from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import Runtime, Session

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def witness_dir(tmp_path_factory, monkeypatch) -> Path:
    """Audit witnesses go to a folder of the test's own, never the real user's ~/.local/state/mh/.
    Set in the environment, so `mh` children (run_mh) inherit it."""
    folder = tmp_path_factory.mktemp("witness")
    monkeypatch.setenv("MH_WITNESS_DIR", str(folder))
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def rt(home: Path):
    runtime = Runtime(home)
    runtime.init()
    yield runtime
    runtime.close()


@pytest.fixture
def agent() -> Session:
    return Session(actor="agent")


# The files whose tests train models, longest first. xdist (--dist loadfile) hands files to its two
# workers in collection order; started last, these would leave one worker training alone at the end.
LONG_FIRST = ("test_training.py", "test_nightly.py", "test_training_resume.py", "test_remote_training.py", "test_console.py",
              "test_supervisor.py", "test_training_door.py", "test_export.py", "test_helix_habits.py", "test_jobs.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))  # stable: each file keeps its own order


def run_mh(home: Path, *args: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real CLI in a child process, as a person would run it (minus the bootstrap)."""
    env = {**os.environ, "MH_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mh {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def mh(home: Path):
    def call(*args: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
        return run_mh(home, *args, check=check, timeout=timeout)

    return call


@pytest.fixture
def chat_rt(rt):
    """An initialised home with a README to read."""
    (rt.home.root / "README.md").write_text("# Garden notes\n\nThis home belongs to Alex, who grows tomatoes and basil.\n")
    return rt
