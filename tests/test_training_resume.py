"""Interrupted runs: SIGTERM saves a checkpoint and exits 30, and the resumed run reaches the
result an uninterrupted one does; a damaged checkpoint is refused. Apart from tests/test_training.py
so that the two test workers share the suite's long training work."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from runtime.errors import MhError
from runtime.training.runs import ExitCode
from runtime.training.settings import load_run_config
from runtime.training.trainer import resume, train

from .conftest import ROOT
from .test_training import FAST, verified_dataset


@pytest.fixture(scope="module")
def ready(tmp_path_factory):
    """A home with a verified dataset (the tests train their own runs)."""
    from runtime import Runtime

    rt = Runtime(tmp_path_factory.mktemp("resume") / "home")
    rt.init()
    yield rt, verified_dataset(rt)
    rt.close()


def test_sigterm_saves_a_checkpoint_exits_30_and_resume_matches_an_uninterrupted_run(ready):
    rt, dataset_id = ready
    settings = {**FAST, "steps": 6, "checkpoint_every": 100, "seed": 5}
    reference = train(rt, load_run_config(rt.home, overrides=settings), dataset_id, actor="person", quiet=True)

    config_file = rt.home.root / "run.json"
    config_file.write_text(json.dumps(settings))
    env = {**os.environ, "MH_HOME": str(rt.home.root)}
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "train", "--dataset", dataset_id, "--config", str(config_file)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs_root = rt.home.root / "state" / "runs"
    before = {p.name for p in runs_root.iterdir()}
    deadline = time.monotonic() + 240
    metrics = None
    while time.monotonic() < deadline and proc.poll() is None:
        new = [p for p in runs_root.iterdir() if p.name not in before]
        if new and (new[0] / "metrics" / "metrics.jsonl").exists() and (new[0] / "metrics" / "metrics.jsonl").read_text().strip():
            metrics = new[0] / "metrics" / "metrics.jsonl"
            break
        time.sleep(0.1)
    assert metrics is not None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 30, err[-2000:]
    run_dir = metrics.parent.parent
    stopped_at = len(metrics.read_text().splitlines())
    assert stopped_at < 6 and (run_dir / "checkpoints" / f"checkpoint-{stopped_at}").is_dir()
    assert json.loads((run_dir / "report.json").read_text())["exit_code"] == 30

    resumed = resume(rt, run_dir.name, actor="person", quiet=True)
    assert resumed.exit_code is ExitCode.OK and resumed.steps == 6
    assert resumed.final_loss == pytest.approx(reference.final_loss, abs=1e-3)
    attempts = json.loads((run_dir / "report.json").read_text())["attempts"]
    assert [a["exit_code"] for a in attempts] == [30, 0]


def test_a_corrupt_checkpoint_is_refused_on_resume(ready):
    rt, dataset_id = ready
    result = train(rt, load_run_config(rt.home, overrides={**FAST, "steps": 2}), dataset_id, actor="person", quiet=True)
    checkpoint = result.path / "checkpoints" / "checkpoint-2" / "adapter_model.safetensors"
    checkpoint.write_bytes(b"not safetensors")
    with pytest.raises(MhError, match="corrupt"):
        resume(rt, result.run_id, checkpoint=2, actor="person")
    with pytest.raises(MhError, match="no checkpoint at step 9"):
        resume(rt, result.run_id, checkpoint=9, actor="person")


def test_the_python_api_resumes_a_run_through_the_gate(ready):
    """`mh.resume_training` (Helix's Python habit) goes on from a checkpoint named by its path, as
    the person at python, through the gate: same end as the run it resumes, and refused at observe."""
    import mh

    rt, dataset_id = ready
    first = train(rt, load_run_config(rt.home, overrides={**FAST, "steps": 3, "checkpoint_every": 1, "seed": 7}), dataset_id,
                  actor="person", quiet=True)
    resumed = mh.resume_training(first.run_id, checkpoint="checkpoints/checkpoint-2", home=rt.home.root)
    assert (resumed.run_id, resumed.status, resumed.exit_code, resumed.steps) == (first.run_id, "ok", 0, 3)
    assert resumed.final_loss == pytest.approx(first.final_loss, abs=1e-3)
    calls = [e for e in rt.audit.entries() if e.details.get("skill") == "run_resume"]
    assert [(e.event, e.actor) for e in calls] == [("start", "person@python"), ("result", "person@python")]
    rt.set_trust("observe")
    try:
        with pytest.raises(mh.Denied, match="trust level is observe"):
            mh.resume_training(first.run_id, checkpoint=2, home=rt.home.root)
    finally:
        rt.set_trust("suggest")
