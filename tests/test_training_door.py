"""The training commands go through the door (`Runtime.call` as `person@cli`): at `observe` each is
refused with exit 3 and changes nothing on disk; at `bounded_auto` each leaves audit entries that
name the person at the CLI, nested nightly steps included."""

import hashlib
import json

import pytest

from runtime import Runtime
from runtime.queries import list_adapters
from runtime.training.evaluate import evaluate
from runtime.training.settings import load_run_config
from runtime.training.trainer import train

from .conftest import run_mh
from .test_training import LOOSE_GATES, verified_dataset

# Two steps are enough to have an adapter; the gate is set so that so short a run passes it.
FAST = {"steps": 2, "checkpoint_every": 2, "batch_size": 2, "max_seq_len": 128, "threads": 1, "probes": [],
        "gates": LOOSE_GATES}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A home with a trained and evaluated run whose gates passed."""
    rt = Runtime(tmp_path_factory.mktemp("door") / "home")
    rt.init()
    dataset_id = verified_dataset(rt)
    result = train(rt, load_run_config(rt.home, overrides=FAST), dataset_id, actor="person@test", quiet=True)
    assert evaluate(rt, result.run_id, actor="person@test")["gates"]["passed"]
    yield rt, dataset_id, result.run_id
    rt.close()


def stderr_line(proc) -> str:
    """stderr as one line: the console wraps long messages."""
    return " ".join(proc.stderr.split())


def snapshot(rt: Runtime) -> dict[str, str]:
    """Every folder and file (with its sha256) of the runs, datasets and adapters, and the active record."""
    found = {}
    for root in (rt.home.runs_dir, rt.home.datasets_dir, rt.home.receipts_dir, rt.home.adapters_dir, rt.home.overrides_dir):
        for path in sorted(root.rglob("*")):
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def test_at_observe_every_training_command_is_refused_and_changes_nothing(evaluated):
    rt, dataset_id, run_id = evaluated
    rt.set_trust("observe")
    try:
        before = snapshot(rt)
        seq = rt.audit.tail(1)[0].seq
        commands = {
            ("train",): "train", ("train", "--dataset", dataset_id, "--steps", "1"): "train",
            ("resume", run_id): "run_resume", ("eval", run_id): "run_eval",
            ("export", run_id, "--format", "peft"): "run_export", ("promote", run_id, "--name", "door"): "adapter_promote",
            ("nightly", "--steps", "1"): "nightly", ("runs", "stop"): "run_stop", ("runs", "stop", run_id): "run_stop",
        }
        for args in commands:
            proc = run_mh(rt.home.root, *args)
            assert proc.returncode == 3, (args, proc.stdout, proc.stderr)
            assert "denied" in proc.stderr
        assert snapshot(rt) == before
        denied = [e for e in Runtime(rt.home.root).audit.entries() if e.seq > seq]
        assert [(e.category, e.event, e.actor, e.details["skill"]) for e in denied] == \
            [("skill", "denied", "person@cli", skill) for skill in commands.values()]
        # Reads still work at observe.
        assert run_id in [r["run_id"] for r in json.loads(run_mh(rt.home.root, "runs", "--json", check=True).stdout)]
        assert json.loads(run_mh(rt.home.root, "runs", "show", run_id, "--json", check=True).stdout)["report.json"]["exit_code"] == 0
        run_mh(rt.home.root, "adapter", "list", check=True)
    finally:
        rt.set_trust("bounded_auto")


def test_at_bounded_auto_export_and_promote_are_audited_as_the_person_at_the_cli(evaluated):
    rt, _, run_id = evaluated
    rt.set_trust("bounded_auto")
    seq = rt.audit.tail(1)[0].seq
    assert run_mh(rt.home.root, "export", run_id, "--format", "peft", check=True).stdout.startswith("wrote ")
    assert run_mh(rt.home.root, "promote", run_id, "--name", "door", check=True).stdout.startswith("promoted door@")
    stop = run_mh(rt.home.root, "runs", "stop")
    assert stop.returncode == 1 and "not training now" in stderr_line(stop)
    entries = [e for e in Runtime(rt.home.root).audit.entries() if e.seq > seq]
    actors = {(e.category, e.event): e.actor for e in entries}
    assert actors[("train", "exported")] == "person@cli"
    assert actors[("adapter", "promoted")] == "person@cli"
    calls = [(e.details["skill"], e.event, e.actor) for e in entries if e.category == "skill"]
    assert calls == [("run_export", "start", "person@cli"), ("run_export", "result", "person@cli"),
                     ("adapter_promote", "start", "person@cli"), ("adapter_promote", "result", "person@cli"),
                     ("run_stop", "start", "person@cli"), ("run_stop", "error", "person@cli")]
    assert [a.name for a in list_adapters(rt.home).items] == ["door"]


def test_the_nightly_steps_are_skill_calls_of_the_same_session(rt, tmp_path):
    """A home this small is refused right after the build, before anything is cleaned or trained,
    with the fix (issue 15: warn up front): quick, and the step before it is in the log."""
    rt.set_trust("bounded_auto")
    rt.memory.add(type="note", content="One short note about the plums.", source="t")
    proc = run_mh(rt.home.root, "nightly", "--steps", "1", "--report", str(tmp_path / "report.json"))
    assert proc.returncode == 1 and "fewer than min_pairs 10" in stderr_line(proc)
    assert "add notes" in proc.stderr and "dataset.min_pairs" in proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert [s["step"] for s in report["steps"]] == ["build"] and report["outcome"].startswith("failed:")
    entries = list(Runtime(rt.home.root).audit.entries())
    nightly = [(e.event, e.actor) for e in entries if e.category == "nightly"]
    assert nightly == [("started", "person@cli"), ("failed", "person@cli")]
    steps = [(e.details["skill"], e.actor) for e in entries if e.category == "skill" and e.event == "start"]
    assert steps == [("nightly", "person@cli"), ("dataset_build", "person@cli")]
