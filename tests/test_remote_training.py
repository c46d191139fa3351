"""Remote training (issue 17). No cloud is reachable from here, so, exactly:

- real: the bundle, the worker (`mh worker train` in a subprocess, CPU, the real SmolLM2 base),
  the manifest checks, verification and registration, the audit trail, the CLI, and SkyPilot's own
  parser for the task (`.venv-sky`, offline) and its `check` for credentials;
- replaced: the seam (runtime/training/remote/skypilot_seam.py, the one module that calls the
  SkyPilot SDK) by tests/fake_skypilot_seam.py, whose "cloud" is a folder where the task's run
  command really runs. Teardown is proven against that seam: what mh asked it to do, on each path.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.config import RemoteSettings
from runtime.training.remote.bundle import BundleRefused, build_bundle, check_manifest, write_manifest
from runtime.training.remote.client import SKY_VENV, SeamClient
from runtime.training.remote.launch import RemoteFacts, bring_back
from runtime.training.remote.task import build_task
from runtime.training.remote.worker import NOT_OUTPUTS, run_worker
from runtime.training.settings import load_run_config

from .conftest import ROOT, run_mh
from .test_training import FAST, verified_dataset

# One real training run, interrupted and resumed, on 2 cores shared by others: as short as it can be while a
# stop asked for at checkpoint 1 still lands before the last step.
REMOTE_FAST = {**FAST, "steps": 6, "checkpoint_every": 1}
FAKE_SEAM = Path(__file__).with_name("fake_skypilot_seam.py")
FACTS = RemoteFacts(engine="skypilot", infra="runpod", accelerators="RTX4090:1", cluster="mh-x")
INFRAS = ("runpod", "lambda", "k8s", "aws/us-east-1", "ssh/my-pool")  # the ones README.md names
# Only what chat, the API and the console use: the worker must not import them (it does not install them).
NOT_ON_THE_WORKER = ("llama_cpp", "pydantic_ai", "ollama", "litestar", "uvicorn", "textual", "watchdog")


@pytest.fixture
def fake_sky(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "fake-sky"
    monkeypatch.setenv("MH_SKY_PYTHON", sys.executable)
    monkeypatch.setenv("MH_SKY_SEAM", str(FAKE_SEAM))
    monkeypatch.setenv("FAKE_SKY_ROOT", str(root))
    monkeypatch.setenv("FAKE_SKY_ENABLED", "runpod")
    return root


def calls(root: Path) -> list[str]:
    path = root / "calls.jsonl"
    return [json.loads(line)["op"] for line in path.read_text().splitlines()] if path.exists() else []


def remote_config(tmp_path: Path, **remote) -> Path:
    path = tmp_path / "remote.json"
    path.write_text(json.dumps({**REMOTE_FAST, "remote": {"infra": "runpod", **remote}}))
    return path


def train_remote_in_background(home: Path, dataset_id: str, config: Path, **popen) -> subprocess.Popen:
    """`mh train --remote` as a child process a test can signal."""
    return subprocess.Popen([sys.executable, "-m", "runtime.cli", "train", "--remote", "--dataset", dataset_id, "--config", str(config)],
                            env={**os.environ, "MH_HOME": str(home), "COLUMNS": "200"}, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def waiting(proc: subprocess.Popen, fake_sky: Path, deadline: float) -> None:
    """Until mh waits on the job (the `wait` op), or it ended, or the deadline."""
    while "wait" not in calls(fake_sky) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert "wait" in calls(fake_sky), proc.communicate()


def machines(root: Path) -> list[Path]:
    """The fake cloud's machines, first launched first (a resumed run's cluster name adds -aN)."""
    return sorted((root / "clusters").iterdir())


@pytest.fixture(scope="module")
def remote_run(tmp_path_factory):
    """One real remote run through the fake cloud, whose worker trains for real: `mh train --remote`
    is stopped (SIGTERM, as Ctrl-C would) once the machine has a checkpoint, so the run comes back
    interrupted; `mh resume RUN --remote` continues it on a second machine to its last step."""
    from runtime import Runtime

    tmp = tmp_path_factory.mktemp("remote")
    rt = Runtime(tmp / "home")
    rt.init()
    dataset_id = verified_dataset(rt)
    rt.close()
    home = rt.home.root
    root = tmp / "fake-sky"
    env = {"MH_SKY_PYTHON": sys.executable, "MH_SKY_SEAM": str(FAKE_SEAM), "FAKE_SKY_ROOT": str(root), "FAKE_SKY_ENABLED": "runpod"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        first = train_remote_in_background(home, dataset_id, remote_config(tmp))
        deadline = time.monotonic() + 600
        while first.poll() is None and time.monotonic() < deadline and not list(
                root.glob("clusters/*/mh/out/state/runs/*/checkpoints/checkpoint-1")):
            time.sleep(0.2)
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=600)
        interrupted = subprocess.CompletedProcess(first.args, first.returncode, out, err)
        ops_first = calls(root)
        (run,) = (home / "state" / "runs").iterdir()
        stopped = json.loads((run / "report.json").read_text())
        proc = run_mh(home, "resume", run.name, "--remote", timeout=600)
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    return home, dataset_id, root, proc, (interrupted, ops_first, stopped)


def test_an_interrupted_remote_run_comes_back_with_its_checkpoint_and_resumes_on_another_machine(remote_run):
    home, _, root, proc, (interrupted, ops_first, stopped) = remote_run
    from runtime import Runtime

    assert interrupted.returncode == 30, (interrupted.stdout[-2000:], interrupted.stderr[-3000:])
    # Asked to stop, the run on the machine saved a checkpoint and ended; it came back, was verified and
    # registered as interrupted; then the machine was torn down.
    assert ops_first == ["check", "estimate", "launch", "wait", "stop", "download", "download", "down", "exists"]
    assert "save a checkpoint and stop" in interrupted.stderr and "exit 30 (interrupted)" in interrupted.stdout
    assert "--remote" in interrupted.stdout  # how to go on
    assert stopped["status"] == "interrupted" and 1 <= stopped["steps"] < REMOTE_FAST["steps"]
    first, second = machines(root)
    assert second.name == f"{first.name}-a2"  # the resumed run rents a machine of its own
    assert (second / "mh" / "bundle" / "run" / "checkpoints" / f"checkpoint-{stopped['steps']}").is_dir()  # it travelled
    assert calls(root)[len(ops_first):] == ["check", "estimate", "launch", "wait", "download", "download", "down", "exists"]
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    (run,) = (home / "state" / "runs").iterdir()
    report = json.loads((run / "report.json").read_text())
    assert [a["status"] for a in report["attempts"]] == ["interrupted", "ok"]
    assert [a["remote"]["cluster"] for a in report["attempts"]] == [first.name, second.name]
    journal = [json.loads(line) for line in (run / "logs" / "worker-journal.jsonl").read_text().splitlines()]
    assert [e["details"]["resume"] for e in journal if (e["category"], e["event"]) == ("worker", "started")] == [True]  # from the checkpoint
    with Runtime(home) as rt:
        asked = [e for e in rt.audit.entries() if (e.category, e.event) == ("remote", "stop_requested")]
        assert [(e.details["asked"], e.actor) for e in asked] == [(True, "person@cli")]


def test_the_worker_trains_remotely_and_the_run_comes_back_verified_and_registered(remote_run):
    home, dataset_id, root, proc, _ = remote_run
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    (run,) = (home / "state" / "runs").iterdir()
    report = json.loads((run / "report.json").read_text())
    steps = REMOTE_FAST["steps"]
    assert (report["status"], report["steps"]) == ("ok", steps)
    assert set(report["remote"]) == {"engine", "infra", "accelerators", "cluster", "wall_s", "cost_estimate_usd"}
    assert report["remote"]["infra"] == "runpod" and report["remote"]["cost_estimate_usd"] > 0
    assert f"{run.name}: exit 0 (ok), {steps} steps" in proc.stdout and "torn down" in proc.stdout
    for name in ("adapter/adapter_model.safetensors", "exports/adapter.gguf", f"checkpoints/checkpoint-{steps}/optimizer.pt",
                 "manifest.json", "logs/worker-journal.jsonl", "metrics/summary.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "resolved_config.json").read_text())["dataset"] == dataset_id
    listed = json.loads(run_mh(home, "runs", "--json", check=True).stdout)
    assert [(r["run_id"], r["status"]) for r in listed] == [(run.name, "ok")]
    journal = [json.loads(line) for line in (run / "logs" / "worker-journal.jsonl").read_text().splitlines()]
    assert [(e["category"], e["event"]) for e in journal if e["category"] in ("dataset", "worker")][:2] == [
        ("dataset", "opened_for_training"), ("worker", "started")]  # the firewall held on the worker's side too
    assert not (home / "state" / "remote" / run.name).exists()  # the staging is gone once the run is home
    check_manifest(run, NOT_OUTPUTS)  # the manifest is the registered run's: its report and logs as they are now


def test_every_remote_step_is_audited_in_order(remote_run):
    home, _, _, _, _ = remote_run
    from runtime import Runtime

    with Runtime(home) as rt:
        steps = [e.event for e in rt.audit.entries() if e.category == "remote"]
        once = ["launch", "upload", "train", "download", "verify", "teardown"]
        assert steps == once[:2] + ["stop_requested"] + once[2:] + once  # interrupted, then resumed
        teardowns = [e for e in rt.audit.entries() if e.category == "remote" and e.event == "teardown"]
        assert [(e.details["confirmed"], e.actor) for e in teardowns] == [(True, "person@cli")] * 2
        assert rt.verify_audit().ok


def test_the_worker_imports_nothing_it_does_not_install(remote_run):
    _, _, root, _, _ = remote_run
    machine = machines(root)[-1]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in (machine / "job.log").read_text().splitlines() if "import time:" in line}
    assert "torch" in imported and not imported & set(NOT_ON_THE_WORKER)


def test_nothing_secret_travels(remote_run):
    home, _, root, _, _ = remote_run
    secret = (home / "state" / "keys" / "signing.key").read_text().strip()
    for machine in machines(root):
        uploaded = [p for p in (machine / "mh" / "bundle").rglob("*") if p.is_file()]
        assert uploaded and not [p for p in uploaded if p.name == "signing.key" or secret.encode() in p.read_bytes()]
        assert sorted(p.name for p in (machine / "mh" / "bundle" / "src").iterdir()) == ["README.md", "pyproject.toml", "runtime", "skills"]
    assert secret not in (root / "calls.jsonl").read_text()  # the task (file mounts, setup, run, envs) as SkyPilot got it
    assert not [p for p in (home / "state" / "runs").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert not [p for p in (home / "logs").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_one_flipped_byte_in_a_brought_back_run_is_refused(remote_run, tmp_path):
    home, _, root, _, _ = remote_run
    from runtime import Runtime

    (run,) = (home / "state" / "runs").iterdir()
    machine = machines(root)[-1]
    back = tmp_path / "back" / run.name
    shutil.copytree(machine / "mh" / "out" / "state" / "runs" / run.name, back)  # the run as the machine wrote it
    check_manifest(back, frozenset({"run.pid"}))  # the copy as it stands holds
    adapter = back / "adapter" / "adapter_model.safetensors"
    data = bytearray(adapter.read_bytes())
    data[len(data) // 2] ^= 0x01
    adapter.write_bytes(bytes(data))
    with Runtime(home) as rt:
        config = load_run_config(rt.home, overrides=FAST)
        with pytest.raises(BundleRefused, match="adapter/adapter_model.safetensors does not match"):
            bring_back(rt, config, json.loads((run / "resolved_config.json").read_text())["base_sha256"], back.parent, run.name,
                       FACTS, actor="person")
        last = rt.audit.tail(1)[0]
        assert (last.category, last.event, last.level, last.details["ok"]) == ("remote", "verify", "security", False)
    (back / "adapter" / "extra.bin").write_bytes(b"x")
    with pytest.raises(BundleRefused):
        check_manifest(back, frozenset({"run.pid"}))


def test_a_bundle_with_a_tampered_dataset_is_refused_by_the_worker(rt, tmp_path):
    dataset_id = verified_dataset(rt)
    folder = rt.home.root / "state" / "datasets" / "verified" / dataset_id
    from runtime.datasets.store import DatasetStore
    from runtime.keys import load_verifier

    receipt = DatasetStore(rt.home).receipt(dataset_id)
    bundle = tmp_path / "bundle"
    build_bundle(bundle, run_id="run-20260101T000000-abcd", dataset_id=dataset_id, dataset_dir=folder, receipt=receipt,
                 dataset_sha256=json.loads(receipt.read_text())["sha256"], public_key=rt.home.public_key_file,
                 key_id=load_verifier(rt.home).key_id, config=load_run_config(rt.home, overrides=FAST))
    train = bundle / "dataset" / "train.jsonl"
    train.write_text(train.read_text().replace("basil", "BASIL", 1))
    write_manifest(bundle)  # whoever changed the data rewrote the manifest too; they cannot re-sign the receipt
    out = tmp_path / "out"
    key = ["--key-id", load_verifier(rt.home).key_id]
    proc = subprocess.run([sys.executable, "-m", "runtime.cli", "worker", "train", str(bundle), "--out", str(out), *key],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env={k: v for k, v in os.environ.items() if k != "MH_HOME"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "train.jsonl no longer matches its receipt" in proc.stdout
    journal = [json.loads(line) for line in (out / "worker" / "journal.jsonl").read_text().splitlines()]
    assert [(e["category"], e["event"]) for e in journal] == [("dataset", "refused"), ("worker", "refused")]
    assert not (out / "state" / "runs").exists() or not list((out / "state" / "runs").iterdir())
    train.write_text(train.read_text() + "\n")  # and without rewriting the manifest, the bundle itself is refused
    proc = subprocess.run([sys.executable, "-m", "runtime.cli", "worker", "train", str(bundle), "--out", str(out), *key],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 1 and "dataset/train.jsonl does not match bundle/manifest.json" in proc.stdout


def test_without_credentials_the_error_names_sky_check_and_the_infra(rt, fake_sky, tmp_path, monkeypatch):
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("FAKE_SKY_ENABLED", "aws")
    proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id, "--config", str(remote_config(tmp_path, infra="lambda")))
    assert proc.returncode == 1
    assert "infra 'lambda'" in proc.stderr and "sky check lambda" in proc.stderr
    assert calls(fake_sky) == ["check"]  # nothing was bundled, priced or launched
    assert not (rt.home.root / "state" / "remote").exists()


def test_no_infra_and_over_budget_are_refused_before_launch(rt, fake_sky, tmp_path, monkeypatch):
    dataset_id = verified_dataset(rt)
    path = tmp_path / "none.json"
    path.write_text(json.dumps(FAST))
    proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id, "--config", str(path))
    assert proc.returncode == 1 and "run.remote.infra" in proc.stderr
    monkeypatch.setenv("FAKE_SKY_HOURLY", "2.5")
    proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id,
                  "--config", str(remote_config(tmp_path, max_cost_usd=1.0, max_hours=1)))
    assert proc.returncode == 1 and "over the ceiling of $1.00" in proc.stderr
    assert calls(fake_sky) == ["check", "estimate"]
    assert not (rt.home.root / "state" / "remote").exists()  # priced before the dataset was copied anywhere


def test_teardown_after_a_failed_remote_job(rt, fake_sky, tmp_path, monkeypatch):
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("FAKE_SKY_RUN", "echo the worker crashed; exit 10")
    proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id, "--config", str(remote_config(tmp_path)))
    assert proc.returncode == 1 and "the remote job ended FAILED and no run came back" in proc.stderr
    assert "skypilot.log" in proc.stderr
    assert calls(fake_sky)[-2:] == ["down", "exists"] and not list((fake_sky / "state").iterdir())
    assert not (rt.home.root / "state" / "runs").exists() or not list((rt.home.root / "state" / "runs").iterdir())
    (staging,) = (rt.home.root / "state" / "remote").iterdir()
    assert [p.name for p in staging.iterdir()] == ["skypilot.log"]  # no copy of the dataset stays behind


def test_teardown_that_cannot_be_confirmed_is_loud_and_names_the_cluster(rt, fake_sky, tmp_path, monkeypatch):
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("FAKE_SKY_RUN", "exit 10")
    monkeypatch.setenv("FAKE_SKY_DOWN_FAILS", "1")
    proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id, "--config", str(remote_config(tmp_path)))
    (cluster,) = [p.stem for p in (fake_sky / "state").iterdir()]
    assert proc.returncode == 20
    assert f"TEARDOWN NOT CONFIRMED for cluster {cluster}" in proc.stderr and f"sky down {cluster}" in proc.stderr
    assert "billing" in proc.stderr


def test_sigterm_while_the_job_runs_tears_the_machine_down(rt, fake_sky, tmp_path, monkeypatch):
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("FAKE_SKY_RUN", "sleep 300")
    proc = train_remote_in_background(rt.home.root, dataset_id, remote_config(tmp_path))
    waiting(proc, fake_sky, time.monotonic() + 120)
    (cluster,) = [p.stem for p in (fake_sky / "state").iterdir()]
    pgid = json.loads((fake_sky / "state" / f"{cluster}.json").read_text())["pgid"]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 30, err[-2000:]
    assert calls(fake_sky)[-2:] == ["down", "exists"] and not (fake_sky / "state" / f"{cluster}.json").exists()
    assert not running_in_group(pgid)  # the job on the "machine" went with it


def test_a_second_signal_stops_waiting_for_the_checkpoint_and_tears_down(rt, fake_sky, tmp_path, monkeypatch):
    """The first SIGTERM asks the run on the machine to stop; this one never does, and a second SIGTERM
    ends the wait at once: the machine is torn down, and the run is said to be lost, not hung on."""
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("FAKE_SKY_RUN", "mkdir -p ~/mh/out/state/runs/$MH_RUN_ID && sleep 300")
    proc = train_remote_in_background(rt.home.root, dataset_id, remote_config(tmp_path))
    deadline = time.monotonic() + 120
    while not list(fake_sky.glob("clusters/*/mh/out/state/runs/run-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    waiting(proc, fake_sky, deadline)
    proc.send_signal(signal.SIGTERM)
    while not list(fake_sky.glob("clusters/*/mh/out/state/runs/run-*/stop-requested")) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 30, err[-2000:]
    assert "Stop again to tear the machine down at once" in err
    assert calls(fake_sky)[-3:] == ["stop", "down", "exists"] and not list((fake_sky / "state").iterdir())
    assert not (rt.home.runs_dir).exists() or not list(rt.home.runs_dir.iterdir())  # nothing came back


def running_in_group(pgid: int) -> list[int]:
    """Processes of the group that still run (a killed one nobody reaped yet is a zombie: not running)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not (SKY_VENV / "bin" / "python").exists(), reason="SkyPilot's environment is missing: run bin/bootstrap-sky")
def test_the_task_round_trips_through_skypilots_own_yaml_form_for_every_infra(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    tasks = [build_task(RemoteSettings(infra=infra, use_spot=infra == "aws/us-east-1", accelerators="A100:1"), run_id="run-20260101T000000-abcd",
                        bundle=bundle, pyproject=ROOT / "pyproject.toml", key_id="0123456789abcdef") for infra in INFRAS]
    seam = SeamClient(SKY_VENV / "bin" / "python", ROOT / "runtime" / "training" / "remote" / "skypilot_seam.py")
    back = seam.call("roundtrip", {"tasks": tasks}, timeout=300)["tasks"]
    for sent, got in zip(tasks, back, strict=True):
        expected = {**sent["resources"], "accelerators": {"A100": 1}}
        if sent["resources"]["infra"] == "k8s":
            expected["infra"] = "kubernetes"  # SkyPilot's own name for it
        assert got["resources"] == expected
        assert (got["file_mounts"], got["envs"], got["setup"], got["run"], got["name"]) == (
            sent["file_mounts"], sent["envs"], sent["setup"], sent["run"], sent["name"])
    with pytest.raises(Exception, match="SkyPilot roundtrip failed: .*Invalid resources YAML"):
        seam.call("roundtrip", {"tasks": [{**tasks[0], "resources": {**tasks[0]["resources"], "infra": "nocloud"}}]}, timeout=300)


@pytest.mark.skipif(not (SKY_VENV / "bin" / "python").exists() or not os.environ.get("MH_TEST_REAL_SKYPILOT"),
                    reason="opt-in (MH_TEST_REAL_SKYPILOT=1, after bin/bootstrap-sky): it starts SkyPilot's API server, ~25-70 s")
def test_without_credentials_real_skypilot_says_so_through_sky_check(rt, tmp_path, monkeypatch):
    """The real seam and the real SkyPilot (it starts its local API server under a HOME of the
    test's own, where no cloud is set up; the test stops that server after)."""
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("HOME", str(tmp_path / "sky-home"))
    monkeypatch.delenv("MH_SKY_SEAM", raising=False)
    monkeypatch.delenv("MH_SKY_PYTHON", raising=False)
    try:
        proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id, "--config", str(remote_config(tmp_path)), timeout=300)
    finally:
        subprocess.run([str(SKY_VENV / "bin" / "python"), "-c", "import sky; sky.api_stop()"], capture_output=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "infra 'runpod'" in proc.stderr and "sky check runpod" in proc.stderr


def test_a_link_among_what_came_back_is_refused(tmp_path):
    back = tmp_path / "run"
    (back / "adapter").mkdir(parents=True)
    (back / "adapter" / "a.bin").write_bytes(b"a")
    write_manifest(back)
    (back / "adapter" / "keys").symlink_to(Path.home())
    with pytest.raises(BundleRefused, match="adapter/keys is not a regular file"):
        check_manifest(back)


def test_the_agent_cannot_rent_a_machine(rt, agent):
    rt.set_trust("bounded_auto")
    for skill, args in (("train_remote", {}), ("run_resume_remote", {"run": "run-20260101T000000-abcd"})):
        outcome = rt.call(skill, args, session=agent)
        assert str(outcome.status) == "denied", skill


def hostile_copy(remote_run, rt, tmp_path, run_id: str) -> tuple[Path, str]:
    """The fixture's run as its machine wrote it, copied to a staging folder of `rt` under another run id
    (the converted base is the install's, shared: the GGUF is rebuilt without converting again)."""
    home, _, root, _, _ = remote_run
    (run,) = (home / "state" / "runs").iterdir()
    machine = machines(root)[-1]
    back = tmp_path / "remote" / "back" / run_id  # as in state/remote/<run>/back/: bring_back removes state/remote/<run>/ after
    shutil.copytree(machine / "mh" / "out" / "state" / "runs" / run.name, back)
    return back, json.loads((run / "resolved_config.json").read_text())["base_sha256"]


def test_a_hostile_remote_cannot_bring_back_gates_or_a_gguf_of_its_own(remote_run, rt, tmp_path):
    """A machine that lies writes its own manifest: the hashes hold, so what it may send is what is checked."""
    home, _, _, _, _ = remote_run
    (run,) = (home / "state" / "runs").iterdir()
    config = load_run_config(rt.home, overrides=FAST)
    back, base_sha = hostile_copy(remote_run, rt, tmp_path, "run-20260101T000000-gate")
    (back / "eval" / "gates.json").write_text('{"passed": true}')
    write_manifest(back, NOT_OUTPUTS)
    with pytest.raises(BundleRefused, match="holds eval/ results: gates are made here"):
        bring_back(rt, config, base_sha, back.parent, back.name, FACTS, actor="person")
    (back / "eval" / "gates.json").unlink()
    (back / "exports" / "adapter.gguf").write_bytes(b"GGUF any adapter the machine likes")
    write_manifest(back, NOT_OUTPUTS)
    result = bring_back(rt, config, base_sha, back.parent, back.name, FACTS, actor="person")
    registered = rt.home.runs_dir / result.run_id
    assert (registered / "exports" / "adapter.gguf").read_bytes() == (run / "exports" / "adapter.gguf").read_bytes()  # made here
    from runtime.training.registry import AdapterError, promote

    with pytest.raises(AdapterError, match="gates have not passed"):  # gates are made here, by `mh eval`, or never
        promote(rt, result.run_id, "x", [], actor="person")
    check_manifest(registered, NOT_OUTPUTS)


def test_an_adapter_that_does_not_fit_is_refused_even_when_the_report_says_the_run_failed(remote_run, rt, tmp_path):
    config = load_run_config(rt.home, overrides=FAST)
    back, base_sha = hostile_copy(remote_run, rt, tmp_path, "run-20260101T000000-lora")
    report = json.loads((back / "report.json").read_text())
    (back / "report.json").write_text(json.dumps({**report, "exit_code": 10, "status": "training_failed"}))
    lora = json.loads((back / "adapter" / "adapter_config.json").read_text())
    (back / "adapter" / "adapter_config.json").write_text(json.dumps({**lora, "r": 64}))
    write_manifest(back, NOT_OUTPUTS)
    with pytest.raises(BundleRefused, match="LoRA settings are not the run's"):
        bring_back(rt, config, base_sha, back.parent, back.name, FACTS, actor="person")
    assert not rt.home.runs_dir.exists() or not list(rt.home.runs_dir.iterdir())


@pytest.mark.parametrize("report", [b"{not json", b'{"exit_code": 77}', b'{"exit_code": 0, "exit_code": 0}', b"[" * 100 + b" " * (2 << 20)],
                         ids=["not-json", "unknown-exit-code", "duplicate-key", "over-1-MiB"])
def test_a_report_that_cannot_be_read_is_a_refusal_with_its_audit_entry(remote_run, rt, tmp_path, report):
    config = load_run_config(rt.home, overrides=FAST)
    back, base_sha = hostile_copy(remote_run, rt, tmp_path, "run-20260101T000000-read")
    (back / "report.json").write_bytes(report)
    write_manifest(back, NOT_OUTPUTS)
    with pytest.raises(BundleRefused, match="the run that came back cannot be read"):
        bring_back(rt, config, base_sha, back.parent, back.name, FACTS, actor="person")
    last = rt.audit.tail(1)[0]
    assert (last.category, last.event, last.details["ok"]) == ("remote", "verify", False)


def test_a_journal_that_is_not_json_is_a_refusal(tmp_path):
    from runtime.training.remote.launch import _refusal

    (tmp_path / "journal.jsonl").write_bytes(b'{"event": "started"}\n\xff\xfe not json\n')
    with pytest.raises(BundleRefused, match="journal cannot be read"):
        _refusal(tmp_path / "journal.jsonl", tmp_path)


def test_the_worker_never_writes_into_a_home(rt, tmp_path):
    from runtime.keys import load_verifier

    key = (rt.home.root / "etc" / "audit-signing.pub").read_bytes()
    for out in (rt.home.root, rt.home.root / "etc"):
        assert run_worker(tmp_path / "no-bundle", out, key_id=load_verifier(rt.home).key_id) == 1
    assert (rt.home.root / "etc" / "audit-signing.pub").read_bytes() == key
    assert not (rt.home.root / "worker").exists() and not (rt.home.root / "etc" / "worker").exists()


def test_a_bundle_signed_by_another_key_is_refused_by_the_worker(rt, tmp_path):
    """Whoever can rewrite the bundle can put in a key of their own, sign the receipt with it and name it in
    bundle.json: the worker checks the key id the task's run line gives it, which is not in the bundle."""
    from runtime import Runtime
    from runtime.datasets.store import DatasetStore
    from runtime.keys import load_verifier

    with Runtime(tmp_path / "other") as other:
        other.init()
        dataset_id = verified_dataset(other)
        receipt = DatasetStore(other.home).receipt(dataset_id)
        build_bundle(tmp_path / "bundle", run_id="run-20260101T000000-keys", dataset_id=dataset_id,
                     dataset_dir=other.home.root / "state" / "datasets" / "verified" / dataset_id, receipt=receipt,
                     dataset_sha256=json.loads(receipt.read_text())["sha256"], public_key=other.home.public_key_file,
                     key_id=load_verifier(other.home).key_id, config=load_run_config(other.home, overrides=FAST))
    code = run_worker(tmp_path / "bundle", tmp_path / "out", key_id=load_verifier(rt.home).key_id)
    assert code == 1
    journal = (tmp_path / "out" / "worker" / "journal.jsonl").read_text()
    assert "rebuilt on the way" in journal and not (tmp_path / "out" / "state" / "runs").exists()


def test_a_folder_that_cannot_be_listed_is_refused(tmp_path):
    """rsync keeps no permissions now, and a folder that still cannot be read is refused, not skipped."""
    import tempfile

    root = Path(tempfile.mkdtemp(dir="/tmp" if os.geteuid() == 0 else tmp_path))  # reachable by `nobody` below
    try:
        (root / "adapter").mkdir()
        (root / "adapter" / "a.bin").write_bytes(b"a")
        write_manifest(root)
        (root / "hidden").mkdir()
        (root / "hidden" / "payload.gguf").write_bytes(b"unhashed")
        (root / "hidden").chmod(0o000)
        root.chmod(0o755)
        pid = os.fork()
        if pid == 0:  # the check in a child that is not root (root reads any folder), with mh already imported
            try:
                if os.geteuid() == 0:
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                check_manifest(root)
                os._exit(0)
            except BundleRefused as exc:
                os._exit(3 if exc.message == "hidden cannot be read (Permission denied)" else 4)
            except BaseException:
                os._exit(5)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
    finally:
        (root / "hidden").chmod(0o755)
        shutil.rmtree(root)


def test_the_seams_down_of_a_cluster_never_made_lets_exists_confirm(tmp_path):
    """The real seam module, over a stand-in `sky` package raising what SkyPilot 0.14's sky.down raises
    for a cluster that provisioning never made (sky.exceptions.ClusterDoesNotExist, a ValueError)."""
    sky = tmp_path / "stub" / "sky"
    sky.mkdir(parents=True)
    (sky / "__init__.py").write_text("from . import exceptions\ndef down(name):\n    return name\n"
                                     "def stream_and_get(request):\n    raise exceptions.ClusterDoesNotExist(f'Cluster {request!r} does not exist.')\n")
    (sky / "exceptions.py").write_text("class ClusterDoesNotExist(ValueError):\n    pass\n")
    seam = SeamClient(Path(sys.executable), ROOT / "runtime" / "training" / "remote" / "skypilot_seam.py")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "stub")}
    proc = subprocess.run(seam.command("down"), input=json.dumps({"cluster": "mh-never"}), capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == {"absent": True}


def test_sigterm_during_a_launch_cancels_skypilots_request(tmp_path):
    """The real seam module over a stand-in `sky` whose launch request never ends (provisioning): mh's
    SIGTERM must cancel the request on SkyPilot's API server, not only end the seam's process."""
    sky = tmp_path / "stub" / "sky"
    sky.mkdir(parents=True)
    cancelled = tmp_path / "cancelled"
    (sky / "__init__.py").write_text(
        "import time\n"
        "class Task:\n    @staticmethod\n    def from_yaml_config(config):\n        return config\n"
        "def launch(task, **kwargs):\n    return 'req-42'\n"
        "def stream_and_get(request_id):\n    print('provisioning', flush=True)\n    time.sleep(120)\n"
        f"def api_cancel(request_id, silent=False):\n    open({str(cancelled)!r}, 'w').write(request_id)\n    return 'req-cancel'\n"
        "def get(request_id):\n    return None\n")
    seam = SeamClient(Path(sys.executable), ROOT / "runtime" / "training" / "remote" / "skypilot_seam.py")
    log = tmp_path / "seam.log"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "stub")}
    with open(log, "w") as handle:
        proc = subprocess.Popen(seam.command("launch"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=handle, text=True, env=env)
    proc.stdin.write(json.dumps({"task": {}, "cluster": "mh-x", "autostop_minutes": 10}))
    proc.stdin.close()
    deadline = time.monotonic() + 60
    while "provisioning" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.terminate()
    assert proc.wait(timeout=60) != 0
    assert cancelled.read_text() == "req-42"


def test_a_failed_launch_is_torn_down_and_confirmed(rt, fake_sky, tmp_path, monkeypatch):
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("FAKE_SKY_LAUNCH_FAILS", "1")
    proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id, "--config", str(remote_config(tmp_path)))
    assert proc.returncode == 1 and "Failed to provision" in proc.stderr and "TEARDOWN NOT CONFIRMED" not in proc.stderr
    assert calls(fake_sky) == ["check", "estimate", "launch", "down", "exists"]


def test_a_teardown_reply_that_is_not_json_is_unconfirmed_exit_20_and_audited(rt, fake_sky, tmp_path, monkeypatch):
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("FAKE_SKY_RUN", "exit 10")
    monkeypatch.setenv("FAKE_SKY_GARBAGE", "exists")
    proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id, "--config", str(remote_config(tmp_path)))
    assert proc.returncode == 20, proc.stderr[-2000:]
    assert "TEARDOWN NOT CONFIRMED" in proc.stderr and "JSONDecodeError" in proc.stderr
    teardown = [e for e in rt.audit.entries() if (e.category, e.event) == ("remote", "teardown")]
    assert [(e.details["confirmed"], e.level) for e in teardown] == [(False, "error")]


def test_a_nightly_whose_teardown_is_unconfirmed_keeps_exit_20_and_the_cluster(rt, fake_sky, tmp_path, monkeypatch):
    verified_dataset(rt)  # the notes nightly builds its dataset from
    settings = json.loads((rt.home.root / "etc" / "training.json").read_text())
    settings["run"]["remote"] = {**settings["run"]["remote"], "infra": "runpod"}
    (rt.home.root / "etc" / "training.json").write_text(json.dumps(settings))
    monkeypatch.setenv("FAKE_SKY_RUN", "exit 10")
    monkeypatch.setenv("FAKE_SKY_DOWN_FAILS", "1")
    outcome = rt.call("nightly", {"remote": True, "steps": 2}).result
    (cluster,) = [p.stem for p in (fake_sky / "state").iterdir()]
    assert outcome["exit_code"] == 20 and f"TEARDOWN NOT CONFIRMED for cluster {cluster}" in outcome["error"]
    assert f"sky down {cluster}" in outcome["fix"]


def test_ctrl_c_at_the_terminal_stops_the_wait_and_tears_down(rt, fake_sky, tmp_path, monkeypatch):
    """SIGINT to the whole foreground process group, as a terminal sends it: the seam's process must not
    die of it before mh sees it (exit 1, a failed seam op), nor `sky down` midway."""
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("FAKE_SKY_RUN", "sleep 300")
    proc = train_remote_in_background(rt.home.root, dataset_id, remote_config(tmp_path), start_new_session=True)
    waiting(proc, fake_sky, time.monotonic() + 120)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 30, err[-2000:]
    assert calls(fake_sky)[-2:] == ["down", "exists"] and not list((fake_sky / "state").iterdir())


def test_the_cost_ceiling_counts_setup_and_autostop(rt, fake_sky, tmp_path, monkeypatch):
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("FAKE_SKY_HOURLY", "0.69")  # 0.69 x 1 h fits $1.00; 0.69 x (1 + 0.5 setup + 1/6 autostop) does not
    proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id,
                  "--config", str(remote_config(tmp_path, max_cost_usd=1.0, max_hours=1, autostop_minutes=10)))
    assert proc.returncode == 1 and "x 1.67 h (job, setup, autostop) = $1.15, over the ceiling of $1.00" in proc.stderr


def test_remote_nightly_needs_a_cost_ceiling():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="set remote.max_cost_usd too"):
        RemoteSettings(infra="runpod", nightly=True)
    assert RemoteSettings(infra="runpod", nightly=True, max_cost_usd=5).nightly
