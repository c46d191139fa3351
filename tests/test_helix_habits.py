"""Helix's habits in mh (docs/HABITS.md, "Helix"): its commands as Helix writes them (`--run RUN`,
`--status completed|failed`, `resume --checkpoint PATH`, `train --output DIR`, `nightly --config`),
its Python API (`import mh`: run_training, promote_model, ...), the documented settings table, and
the rough edges of `mh runs` and `mh adapter`. One real training run, shared by the tests that
need a trained adapter; the others use run folders written as the trainer writes them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

import mh
from runtime import Runtime
from runtime.errors import HomeError, RunNotFound
from runtime.queries import RUN_STATES, STATUS_GROUPS
from runtime.queries.settings import BEGIN, END, MEANINGS, run_settings, settings_table
from runtime.training.runs import ExitCode, RunDir
from runtime.training.settings import load_run_config

from .conftest import ROOT, run_mh
from .test_supervisor import CHEAPEST
from .test_training import FAST, LOOSE_GATES, verified_dataset

# The cheapest run that still has an adapter, a GGUF export and a checkpoint; the gate is set so
# that so short a run passes it (as in tests/test_training_door.py).
TINY = {**FAST, **CHEAPEST, "gates": LOOSE_GATES}


def finished_run(rt: Runtime, run_id: str, code: ExitCode, *, loss: float | None = None, steps: int = 4,
                 took: timedelta = timedelta(minutes=3, seconds=5)) -> RunDir:
    """A run folder as the trainer leaves it: one attempt, its report."""
    run = RunDir.create(rt.home.runs_dir, run_id)
    started = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    run.write_json("report.json", {"run_id": run_id, "exit_code": int(code), "status": code.name.lower(), "final_loss": loss, "steps": steps,
                                   "attempts": [{"started_at": started.isoformat(), "ended_at": (started + took).isoformat(),
                                                 "exit_code": int(code), "status": code.name.lower()}]})
    return run


# -- rough edges -------------------------------------------------------------------------------------


def test_adapter_list_when_empty_says_so_and_how_to_get_one(rt):
    shown = run_mh(rt.home.root, "adapter", "list", check=True).stdout
    assert "no adapters promoted yet" in shown and "mh promote RUN --name NAME" in " ".join(shown.split())


def test_rollback_with_no_active_adapter_says_nothing_was_active_and_exits_0(rt):
    proc = run_mh(rt.home.root, "adapter", "rollback")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "No adapter was active: the chat already uses the base model."


def test_runs_is_a_table_with_short_losses_human_durations_and_no_none(rt):
    finished_run(rt, "run-20261120T100000-aaaa", ExitCode.OK, loss=3.8465983867645264)
    finished_run(rt, "run-20261120T110000-bbbb", ExitCode.NAN, steps=2, took=timedelta(hours=1, minutes=2, seconds=9))
    RunDir.create(rt.home.runs_dir, "run-20261120T120000-cccc")  # no report yet
    lines = run_mh(rt.home.root, "runs", check=True).stdout.splitlines()
    assert lines[0].split() == ["RUN", "STATUS", "EXIT", "STEPS", "LOSS", "GATES", "STARTED", "TOOK"]
    table = "\n".join(lines)
    assert "None" not in table and "3.8465983867645264" not in table
    ok, nan, new = (re.split(r"\s{2,}", line) for line in lines[1:])
    assert (ok[0], ok[1], ok[2], ok[3], ok[4], ok[5], ok[7]) == ("run-20261120T100000-aaaa", "ok", "0", "4", "3.847", "-", "3 min 5 s")
    assert (nan[1], nan[4], nan[7]) == ("nan", "-", "1 h 2 min")
    assert new == ["run-20261120T120000-cccc", "new", "-", "-", "-", "-", "-", "-"]


def test_runs_with_none_at_all_says_how_to_start_one(rt):
    assert "no runs yet: `mh train`" in run_mh(rt.home.root, "runs", check=True).stdout


# -- helix list --status completed|failed ----------------------------------------------------------


def test_runs_status_completed_and_failed_name_mh_states_and_runs_list_is_an_alias(rt):
    finished_run(rt, "run-20261120T100000-aaaa", ExitCode.OK, loss=2.5)
    for code in (ExitCode.NAN, ExitCode.TRAINING_FAILED):
        finished_run(rt, f"run-20261120T1{int(code):05d}-ffff", code)
    finished_run(rt, "run-20261120T130000-iiii", ExitCode.INTERRUPTED)  # resumable: neither completed nor failed

    def listed(*args: str) -> list[str]:
        return [row["run_id"] for row in json.loads(run_mh(rt.home.root, *args, "--json", check=True).stdout)]

    assert listed("runs", "--status", "completed") == ["run-20261120T100000-aaaa"] == listed("runs", "list", "--status", "completed")
    assert listed("runs", "list", "--status", "failed") == ["run-20261120T100010-ffff", "run-20261120T100011-ffff"]
    assert listed("runs", "--status", "interrupted") == ["run-20261120T130000-iiii"]
    assert len(listed("runs", "list")) == 4
    assert [row.run_id for row in mh.list_runs("completed", home=rt.home.root)] == ["run-20261120T100000-aaaa"]


def test_an_unknown_run_status_is_an_error_that_lists_the_valid_ones(rt):
    finished_run(rt, "run-20261120T100000-aaaa", ExitCode.OK)
    proc = run_mh(rt.home.root, "runs", "--status", "complete")
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "no run status 'complete'" in said and proc.stdout == ""
    for name in (*RUN_STATES, *STATUS_GROUPS):
        assert name in said
    with pytest.raises(mh.MhError, match="no run status 'done'"):
        mh.list_runs("done", home=rt.home.root)
    helped = " ".join(run_mh(rt.home.root, "runs", "--help", check=True).stdout.split())
    assert all(name in helped for name in (*RUN_STATES, *STATUS_GROUPS)), "--help lists every status"


# -- helix show --run ID --json ----------------------------------------------------------------------


def test_runs_show_takes_the_run_as_helix_writes_it(rt):
    run = finished_run(rt, "run-20261120T100000-aaaa", ExitCode.OK, loss=2.5)
    by_option = json.loads(run_mh(rt.home.root, "runs", "show", "--run", run.id, "--json", check=True).stdout)
    assert by_option == json.loads(run_mh(rt.home.root, "runs", "show", run.id, "--json", check=True).stdout)
    assert by_option["report.json"]["final_loss"] == 2.5
    both = run_mh(rt.home.root, "runs", "show", run.id, "--run", "run-20261120T100000-bbbb")
    assert both.returncode == 2 and "two runs named" in both.stderr
    assert run_mh(rt.home.root, "runs", "show").returncode == 2


# -- helix resume --run ID --checkpoint PATH ----------------------------------------------------------


@pytest.fixture
def checkpointed(rt):
    """A run with checkpoints at steps 2 and 4 (empty folders: the trainer's own check refuses them,
    naming the one it was given, before anything trains)."""
    run = finished_run(rt, "run-20261120T100000-aaaa", ExitCode.INTERRUPTED)
    run.write_json("resolved_config.json", {**load_run_config(rt.home).model_dump(mode="json"), "dataset": "ds-20261120T000000-0000"})
    for step in (2, 4):
        (run.file("checkpoints") / f"checkpoint-{step}").mkdir()
    return rt, run


def test_resume_takes_a_checkpoint_by_its_path_in_the_run(checkpointed, tmp_path):
    rt, run = checkpointed
    for named in ("checkpoints/checkpoint-2", str(run.file("checkpoints/checkpoint-2")), "2"):
        proc = run_mh(rt.home.root, "resume", "--run", run.id, "--checkpoint", named)
        assert proc.returncode == 1 and f"checkpoint checkpoint-2 of {run.id} is incomplete" in " ".join(proc.stderr.split()), named
    entries = [e for e in rt.audit.entries() if e.details.get("skill") == "run_resume" and e.event == "start"]
    assert [e.details["args"]["checkpoint"] for e in entries] == [2, 2, 2] and {e.actor for e in entries} == {"person@cli"}


def test_resume_refuses_a_checkpoint_that_is_not_the_runs_own(checkpointed, tmp_path):
    rt, run = checkpointed
    other = finished_run(rt, "run-20261120T110000-bbbb", ExitCode.INTERRUPTED)
    (other.file("checkpoints") / "checkpoint-2").mkdir()
    (run.file("checkpoints") / "checkpoint-9").symlink_to(other.file("checkpoints/checkpoint-2"))
    (tmp_path / "checkpoint-2").mkdir()
    outside = [str(other.file("checkpoints/checkpoint-2")), "../run-20261120T110000-bbbb/checkpoints/checkpoint-2", str(tmp_path / "checkpoint-2"),
               "checkpoints/checkpoint-9", str(rt.home.root / "etc")]
    seq = rt.audit.tail(1)[0].seq
    for named in outside:
        proc = run_mh(rt.home.root, "resume", "--run", run.id, "--checkpoint", named)
        said = " ".join(proc.stderr.split())
        assert proc.returncode == 1 and f"is not a checkpoint of {run.id}" in said, (named, said)
        assert "checkpoints/checkpoint-2, checkpoints/checkpoint-4" in said  # the fix names the run's own
    helix = " ".join(run_mh(rt.home.root, "resume", "--run", run.id, "--checkpoint", "checkpoints/step_00001000.pt").stderr.split())
    assert "has no checkpoint step_00001000.pt (mh's checkpoints are folders checkpoints/checkpoint-STEP)" in helix
    assert not [e for e in rt.audit.entries() if e.seq > seq and e.details.get("skill") == "run_resume"], "refused before the door: nothing ran"


# -- helix eval --run ID ------------------------------------------------------------------------------


def test_eval_takes_the_run_as_helix_writes_it(rt):
    # The run has no adapter: the skill refuses it by name before loading a model, which is enough to
    # show that --run reaches it (a real evaluation: test_python_evaluate_then_promote_model_...).
    run = finished_run(rt, "run-20261120T100000-aaaa", ExitCode.CONFIG)
    proc = run_mh(rt.home.root, "eval", "--run", run.id)
    assert proc.returncode == 1 and f"run {run.id} has no saved adapter" in " ".join(proc.stderr.split())
    entries = [e for e in rt.audit.entries() if e.details.get("skill") == "run_eval"]
    assert [(e.actor, e.details["args"], e.event) for e in entries] == [("person@cli", {"run": run.id}, "start"), ("person@cli", {"run": run.id}, "error")]
    assert run_mh(rt.home.root, "eval", run.id, "--run", "run-20261120T110000-bbbb").returncode == 2


# -- helix export --format, and the exit codes -------------------------------------------------------


def test_export_with_a_helix_format_names_mhs_formats(rt):
    run = finished_run(rt, "run-20261120T100000-aaaa", ExitCode.OK)
    proc = run_mh(rt.home.root, "export", "--run", run.id, "--format", "torchscript")
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 1 and all(name in said for name in ("gguf-lora", "gguf-merged", "peft", "modelfile")), said
    assert not list(run.file("exports").iterdir())


def test_exit_codes_are_helixs_where_helix_has_one():
    helix = {"SUCCESS": 0, "CONFIG_ERROR": 1, "TRAINING_FAILED": 10, "NAN_DETECTED": 11, "INF_DETECTED": 12, "GATE_FAILED": 14, "INTERRUPTED": 30}
    mine = {"SUCCESS": ExitCode.OK, "CONFIG_ERROR": ExitCode.CONFIG, "TRAINING_FAILED": ExitCode.TRAINING_FAILED, "NAN_DETECTED": ExitCode.NAN,
            "INF_DETECTED": ExitCode.INF, "GATE_FAILED": ExitCode.GATE_FAILED, "INTERRUPTED": ExitCode.INTERRUPTED}
    assert {name: int(code) for name, code in mine.items()} == helix


# -- helix train --output DIR -------------------------------------------------------------------------


def test_train_output_copies_the_run_folder_and_keeps_the_run_in_the_home(rt, tmp_path):
    # The unsloth backend is refused after the run folder exists and before any model loads: a real
    # run (exit 10) at the cost of an import, enough to show what --output does with it.
    config = tmp_path / "unsloth.yaml"
    config.write_text("backend: unsloth\n")
    proc = run_mh(rt.home.root, "train", "--dataset", "ds-20261120T000000-0000", "--config", str(config), "--output", str(tmp_path / "my_runs"))
    assert proc.returncode == 10, proc.stderr
    (run,) = rt.home.runs_dir.iterdir()
    copy = tmp_path / "my_runs" / run.name
    assert f"copied to {copy}" in " ".join(proc.stdout.split())
    kept = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.name != "run.pid")
    assert sorted(str(p.relative_to(copy)) for p in copy.rglob("*")) == kept and "resolved_config.json" in kept
    assert json.loads((copy / "report.json").read_text())["status"] == "training_failed"
    (copied,) = [e for e in rt.audit.entries() if (e.category, e.event) == ("train", "copied")]
    assert copied.details == {"run": run.name, "to": str(copy.resolve())} and copied.actor.startswith("person")  # data leaving the home is audited
    with pytest.raises(HomeError, match="exists: the run was not copied"):
        rt.copy_run(run.name, tmp_path / "my_runs")
    with pytest.raises(RunNotFound):
        rt.copy_run("../../etc", tmp_path / "elsewhere")  # only a run of this home, by its id
    again = run_mh(rt.home.root, "train", "--dataset", "ds-20261120T000000-0000", "--config", str(config), "--output", str(tmp_path / "my_runs"))
    assert again.returncode == 10 and len(list((tmp_path / "my_runs").iterdir())) == 2  # each run its own folder, none overwritten


# -- helix nightly --config FILE ----------------------------------------------------------------------


def test_nightly_config_is_checked_strictly_before_any_step_runs(rt, tmp_path):
    config = tmp_path / "nightly.yaml"
    config.write_text("steps: 3\nlora:\n  rank: 8\n")
    proc = run_mh(rt.home.root, "nightly", "--config", str(config))
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 1 and "lora.rank" in said, said
    assert not [p for p in rt.home.datasets_dir.rglob("*") if p.is_file()], "no dataset was built"
    assert not [e for e in rt.audit.entries() if e.details.get("skill") == "dataset_build"]


def test_nightly_config_a_valid_file_is_the_nights_run_config(rt, tmp_path):
    config = tmp_path / "nightly.yaml"
    config.write_text("_base: base.yaml\nsteps: 3\n")
    (tmp_path / "base.yaml").write_text("lora:\n  r: 4\n")
    proc = run_mh(rt.home.root, "nightly", "--config", str(config), "--report", str(tmp_path / "report.json"))
    report = json.loads((tmp_path / "report.json").read_text())
    assert proc.returncode == 1 and report["steps"] and "train" not in [s["step"] for s in report["steps"]], "accepted; no memories to train on"
    started = next(e for e in rt.audit.entries() if e.details.get("skill") == "nightly" and e.event == "start")
    assert started.details["args"]["config"] == str(config.resolve())


# -- the settings table -------------------------------------------------------------------------------


def test_the_settings_table_in_docs_is_the_run_config_models():
    text = (ROOT / "docs" / "SETTINGS.md").read_text()
    assert text[text.index(BEGIN):text.index(END) + len(END)] == settings_table(), "run `python -m runtime.queries.settings` into docs/SETTINGS.md"
    keys = [s.key for s in run_settings()]
    assert {"steps", "checkpoint_every", "seed", "lora.r", "gates.min_improvement", "remote.max_cost_usd"} <= set(keys)
    assert all(s.description for s in run_settings()), "every key has a meaning (a description in RunConfig, or MEANINGS)"
    assert set(MEANINGS) <= set(keys), "MEANINGS names a key RunConfig no longer has"
    assert [s.aliases for s in run_settings() if s.key in ("steps", "checkpoint_every")] == [["max_steps", "total_steps"], ["checkpoint_steps"]]
    defaults = load_run_config_defaults()
    for setting in run_settings():
        if setting.default != "(required)":
            assert json.loads(setting.default.strip("`")) == defaults[setting.key], setting.key


def test_helix_setting_names_in_a_config_file_are_read_as_mhs(rt, tmp_path):
    config = tmp_path / "helix.yaml"
    config.write_text("seed: 123\ntotal_steps: 7\ncheckpoint_steps: 3\n")
    loaded = load_run_config(rt.home, config)
    assert (loaded.seed, loaded.steps, loaded.checkpoint_every) == (123, 7, 3)


def load_run_config_defaults() -> dict:
    from runtime.config import RunConfig

    flat = {}

    def walk(value, prefix=""):
        for key, item in value.items():
            if isinstance(item, dict):
                walk(item, f"{prefix}{key}.")
            else:
                flat[prefix + key] = item

    walk(RunConfig().model_dump(mode="json"))
    return flat


# -- the Python API, and the commands that need a trained run -----------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real training run, through `mh.run_training` as a notebook would call it."""
    folder = tmp_path_factory.mktemp("helix")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MH_WITNESS_DIR", str(folder / "witness"))
        rt = Runtime(folder / "home")
        rt.init()
        verified_dataset(rt)
        rt.close()
        (folder / "tiny.yaml").write_text(json.dumps(TINY))
        result = mh.run_training(config_path=folder / "tiny.yaml", home=folder / "home")
        yield folder / "home", result


def test_python_run_training_returns_the_run_its_status_and_artifacts(trained):
    home, result = trained
    assert isinstance(result, mh.TrainingResult)
    assert (result.status, result.exit_code, result.steps) == ("ok", 0, 1) and result.final_loss > 0
    with Runtime(home) as runtime:
        assert result.artifacts_dir == runtime.home.runs_dir / result.run_id
        entries = [e for e in runtime.audit.entries() if e.details.get("skill") == "train"]
    for name in ("report.json", "adapter/adapter_model.safetensors", "exports/adapter.gguf", "checkpoints/checkpoint-1", "metrics/summary.json"):
        assert (result.artifacts_dir / name).exists(), name
    assert result.metrics["steps"] == 1 and result.metrics["final_loss"] == result.final_loss
    assert {e.actor for e in entries} == {"person@python"} and [e.event for e in entries] == ["start", "result"]


def test_python_evaluate_then_promote_model_registers_the_run_as_helix_does(trained):
    home, result = trained
    evaluation = mh.evaluate(result.run_id, home=home)
    assert (evaluation.run_id, evaluation.passed, evaluation.exit_code) == (result.run_id, True, 0) and evaluation.base_eval_loss > 0
    assert [gate["gate"] for gate in evaluation.gates] == ["min_improvement"]
    promoted = mh.promote_model(run_id=result.run_id, name="rosetta_v1", tags=["production", "stable"], home=home)
    again = mh.promote(result.run_id, "rosetta_v1", home=home)
    assert (promoted.version, again.version, promoted.tags) == (1, 2, ["production", "stable"])
    by_cli = run_mh(home, "promote", "--run", result.run_id, "--name", "rosetta_v1", "--tags", "production,stable")
    assert by_cli.returncode == 0 and "promoted rosetta_v1@3" in by_cli.stdout, by_cli.stderr
    assert (promoted.path / "receipt.json").is_file() and promoted.adapter_sha256 == json.loads((promoted.path / "receipt.json").read_text())["adapter_sha256"]
    listed = run_mh(home, "adapter", "list", check=True).stdout
    assert "rosetta_v1@1" in listed and "rosetta_v1@3" in listed and "tags production,stable" in listed
    (row,) = mh.list_runs("completed", home=home)
    assert (row.run_id, row.gates_passed) == (result.run_id, True) and mh.show_run(result.run_id, home=home).gates["passed"] is True
    with Runtime(home) as runtime:
        actors = {(e.details["skill"], e.actor) for e in runtime.audit.entries() if e.details.get("skill") in ("run_eval", "adapter_promote")}
    assert actors == {("run_eval", "person@python"), ("adapter_promote", "person@python"), ("adapter_promote", "person@cli")}


def test_python_api_goes_through_the_gate_and_says_why_it_failed(rt):
    finished_run(rt, "run-20261120T100000-aaaa", ExitCode.CONFIG)
    with pytest.raises(mh.SkillFailed, match="gates have not passed") as failed:
        mh.promote("run-20261120T100000-aaaa", "x", home=rt.home.root)
    assert "mh eval run-20261120T100000-aaaa" in failed.value.fix
    with pytest.raises(mh.SkillFailed, match="has no saved adapter"):
        mh.evaluate("run-20261120T100000-aaaa", home=rt.home.root)
    rt.set_trust("observe")
    with pytest.raises(mh.Denied, match="trust level is observe"):
        mh.run_training(home=rt.home.root, steps=1)
    with pytest.raises(mh.Denied):
        mh.promote("run-20261120T100000-aaaa", "x", home=rt.home.root)
    assert not list(rt.home.adapters_dir.glob("*")) and len(list(rt.home.runs_dir.iterdir())) == 1
    denied = [e for e in rt.audit.entries() if e.event == "denied"]
    assert [(e.actor, e.details["skill"]) for e in denied] == [("person@python", "train"), ("person@python", "adapter_promote")]
    assert mh.list_runs(home=rt.home.root)[0].status == "config", "reads still work at observe"
