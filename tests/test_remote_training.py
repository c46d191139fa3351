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
from runtime.training.remote.launch import bring_back
from runtime.training.remote.task import build_task
from runtime.training.settings import load_run_config

from .conftest import ROOT, run_mh
from .test_training import FAST, verified_dataset

REMOTE_FAST = {**FAST, "steps": 2}  # one real training run, on 2 cores shared by others: as short as it can be
FAKE_SEAM = Path(__file__).with_name("fake_skypilot_seam.py")
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


@pytest.fixture(scope="module")
def remote_run(tmp_path_factory):
    """One real remote run through the fake cloud: `mh train --remote`, whose worker trains for real."""
    from runtime import Runtime

    tmp = tmp_path_factory.mktemp("remote")
    rt = Runtime(tmp / "home")
    rt.init()
    dataset_id = verified_dataset(rt)
    rt.close()
    root = tmp / "fake-sky"
    env = {"MH_SKY_PYTHON": sys.executable, "MH_SKY_SEAM": str(FAKE_SEAM), "FAKE_SKY_ROOT": str(root), "FAKE_SKY_ENABLED": "runpod"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id, "--config", str(remote_config(tmp)), timeout=600)
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    return rt.home.root, dataset_id, root, proc


def test_the_worker_trains_remotely_and_the_run_comes_back_verified_and_registered(remote_run):
    home, dataset_id, root, proc = remote_run
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    assert calls(root) == ["check", "estimate", "launch", "wait", "download", "download", "down", "exists"]
    (run,) = (home / "state" / "runs").iterdir()
    report = json.loads((run / "report.json").read_text())
    assert (report["status"], report["steps"]) == ("ok", 2)
    assert set(report["remote"]) == {"engine", "infra", "accelerators", "cluster", "wall_s", "cost_estimate_usd"}
    assert report["remote"]["infra"] == "runpod" and report["remote"]["cost_estimate_usd"] > 0
    assert f"{run.name}: exit 0 (ok), 2 steps" in proc.stdout and "torn down" in proc.stdout
    for name in ("adapter/adapter_model.safetensors", "exports/adapter.gguf", "checkpoints/checkpoint-2/optimizer.pt",
                 "manifest.json", "logs/worker-journal.jsonl", "metrics/summary.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "resolved_config.json").read_text())["dataset"] == dataset_id
    listed = json.loads(run_mh(home, "runs", "--json", check=True).stdout)
    assert [(r["run_id"], r["status"]) for r in listed] == [(run.name, "ok")]
    journal = [json.loads(line) for line in (run / "logs" / "worker-journal.jsonl").read_text().splitlines()]
    assert [(e["category"], e["event"]) for e in journal if e["category"] in ("dataset", "worker")][:2] == [
        ("dataset", "opened_for_training"), ("worker", "started")]  # the firewall held on the worker's side too
    assert not (home / "state" / "remote" / run.name).exists()  # the staging is gone once the run is home


def test_every_remote_step_is_audited_in_order(remote_run):
    home, _, _, _ = remote_run
    from runtime import Runtime

    with Runtime(home) as rt:
        steps = [e.event for e in rt.audit.entries() if e.category == "remote"]
        assert steps == ["launch", "upload", "train", "download", "verify", "teardown"]
        teardown = [e for e in rt.audit.entries() if e.category == "remote" and e.event == "teardown"][0]
        assert teardown.details["confirmed"] is True and teardown.actor == "person@cli"
        assert rt.verify_audit().ok


def test_the_worker_imports_nothing_it_does_not_install(remote_run):
    _, _, root, _ = remote_run
    (machine,) = (root / "clusters").iterdir()
    imported = {line.split("|")[-1].strip().split(".")[0] for line in (machine / "job.log").read_text().splitlines() if "import time:" in line}
    assert "torch" in imported and not imported & set(NOT_ON_THE_WORKER)


def test_nothing_secret_travels(remote_run):
    home, _, root, _ = remote_run
    secret = (home / "state" / "keys" / "signing.key").read_text().strip()
    (machine,) = (root / "clusters").iterdir()
    uploaded = [p for p in (machine / "mh" / "bundle").rglob("*") if p.is_file()]
    assert uploaded and not [p for p in uploaded if p.name == "signing.key" or secret.encode() in p.read_bytes()]
    assert sorted(p.name for p in (machine / "mh" / "bundle" / "src").iterdir()) == ["README.md", "pyproject.toml", "runtime", "skills"]
    assert secret not in (root / "calls.jsonl").read_text()  # the task (file mounts, setup, run, envs) as SkyPilot got it
    assert not [p for p in (home / "state" / "runs").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert not [p for p in (home / "logs").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_one_flipped_byte_in_a_brought_back_run_is_refused(remote_run, tmp_path):
    home, _, root, _ = remote_run
    from runtime import Runtime

    (run,) = (home / "state" / "runs").iterdir()
    (machine,) = (root / "clusters").iterdir()
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
                       {"cluster": "mh-x"}, actor="person")
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
    proc = subprocess.run([sys.executable, "-m", "runtime.cli", "worker", "train", str(bundle), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env={k: v for k, v in os.environ.items() if k != "MH_HOME"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "train.jsonl no longer matches its receipt" in proc.stdout
    journal = [json.loads(line) for line in (out / "worker" / "journal.jsonl").read_text().splitlines()]
    assert [(e["category"], e["event"]) for e in journal] == [("dataset", "refused"), ("worker", "refused")]
    assert not (out / "state" / "runs").exists() or not list((out / "state" / "runs").iterdir())
    train.write_text(train.read_text() + "\n")  # and without rewriting the manifest, the bundle itself is refused
    proc = subprocess.run([sys.executable, "-m", "runtime.cli", "worker", "train", str(bundle), "--out", str(out)],
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


def test_teardown_after_a_failed_remote_job(rt, fake_sky, tmp_path, monkeypatch):
    dataset_id = verified_dataset(rt)
    monkeypatch.setenv("FAKE_SKY_RUN", "echo the worker crashed; exit 10")
    proc = run_mh(rt.home.root, "train", "--remote", "--dataset", dataset_id, "--config", str(remote_config(tmp_path)))
    assert proc.returncode == 1 and "SkyPilot download failed" in proc.stderr
    assert calls(fake_sky)[-2:] == ["down", "exists"] and not list((fake_sky / "state").iterdir())
    assert not (rt.home.root / "state" / "runs").exists() or not list((rt.home.root / "state" / "runs").iterdir())


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
    env = {**os.environ, "MH_HOME": str(rt.home.root)}
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "train", "--remote", "--dataset", dataset_id,
                             "--config", str(remote_config(tmp_path))], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while "wait" not in calls(fake_sky) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert "wait" in calls(fake_sky), proc.communicate()
    (cluster,) = [p.stem for p in (fake_sky / "state").iterdir()]
    pgid = json.loads((fake_sky / "state" / f"{cluster}.json").read_text())["pgid"]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 30, err[-2000:]
    assert calls(fake_sky)[-2:] == ["down", "exists"] and not (fake_sky / "state" / f"{cluster}.json").exists()
    assert not running_in_group(pgid)  # the job on the "machine" went with it


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
                        bundle=bundle, pyproject=ROOT / "pyproject.toml") for infra in INFRAS]
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
    outcome = rt.call("train_remote", {}, session=agent)
    assert str(outcome.status) == "denied"
