"""A stand-in for runtime/training/remote/skypilot_seam.py (the one module that calls SkyPilot),
run the same way (`PYTHON fake_skypilot_seam.py OP`, JSON in, JSON reply on stdout's last line).

Its "cloud" is a folder ($FAKE_SKY_ROOT): `launch` copies the file mounts into clusters/NAME/
(the machine's home) and starts the task's run command there for real, in the background, with
this Python's mh on PATH and no MH_HOME (a rented machine has no home); `wait` waits for it;
`stop` creates the run's stop request there; `download` copies from the machine's home; `down` kills the job and forgets the cluster. Every op
is appended to calls.jsonl. Knobs: FAKE_SKY_ENABLED (clouds with credentials, comma-separated),
FAKE_SKY_HOURLY (price), FAKE_SKY_RUN (a run command instead of the task's), FAKE_SKY_DOWN_FAILS, FAKE_SKY_STOP_FAILS,
FAKE_SKY_LAUNCH_FAILS (provisioning fails: no cluster is made), FAKE_SKY_GARBAGE=OP (OP's reply is
not JSON, as a seam broken by a SkyPilot upgrade might answer).
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

ROOT = Path(os.environ["FAKE_SKY_ROOT"])


def machine(cluster: str) -> Path:
    return ROOT / "clusters" / cluster


def on_machine(cluster: str, remote: str) -> Path:
    return machine(cluster) / remote.removeprefix("~/")


def state(cluster: str) -> Path:
    return ROOT / "state" / f"{cluster}.json"


def check(request: dict) -> dict:
    return {"enabled": [c for c in os.environ.get("FAKE_SKY_ENABLED", "").split(",") if c]}


def estimate(request: dict) -> dict:
    return {"hourly_usd": float(os.environ.get("FAKE_SKY_HOURLY", "0.69")), "resources": "Fake(RTX4090:1)"}


def launch(request: dict) -> dict:
    task, cluster = request["task"], request["cluster"]
    if os.environ.get("FAKE_SKY_LAUNCH_FAILS"):
        raise SystemExit("sky.exceptions.ResourcesUnavailableError: Failed to provision all possible launchable resources.")
    home = machine(cluster)
    for remote, local in task["file_mounts"].items():
        shutil.copytree(local, on_machine(cluster, remote), dirs_exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MH_", "FAKE_SKY_"))}
    env.update(task["envs"], HOME=str(home), PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}", PYTHONPROFILEIMPORTTIME="1")
    run = os.environ.get("FAKE_SKY_RUN") or task["run"]
    with open(home / "job.log", "w") as log:
        job = subprocess.Popen(["bash", "-c", f"(\n{run}\n)\necho $? > ~/job.exit"], cwd=home, env=env, stdout=log, stderr=log,
                               start_new_session=True)
    state(cluster).parent.mkdir(parents=True, exist_ok=True)
    state(cluster).write_text(json.dumps({"status": "UP", "pgid": job.pid}))
    return {"job_id": 1}


def wait(request: dict) -> dict:
    done = machine(request["cluster"]) / "job.exit"
    while not done.exists() or not done.read_text().strip():
        time.sleep(0.1)
    return {"status": "SUCCEEDED" if done.read_text().strip() == "0" else "FAILED"}


def stop(request: dict) -> dict:
    if os.environ.get("FAKE_SKY_STOP_FAILS"):
        raise SystemExit(f"sky.exceptions.ClusterNotUpError: {request['cluster']} is not up")
    folder = on_machine(request["cluster"], request["run_dir"])
    if not folder.is_dir():
        return {"requested": False}
    (folder / request["marker"]).touch()
    return {"requested": True}


def download(request: dict) -> dict:
    source = on_machine(request["cluster"], request["remote"])
    if not source.is_dir():
        raise SystemExit(f"rsync: change_dir {request['remote']} failed: No such file or directory (code 23)")
    shutil.copytree(source, request["local"], dirs_exist_ok=True, symlinks=True)
    return {}


def down(request: dict) -> dict:
    if os.environ.get("FAKE_SKY_DOWN_FAILS"):
        raise SystemExit(f"sky.exceptions.CloudError: failed to terminate {request['cluster']}: the provider did not answer")
    path = state(request["cluster"])
    if path.exists():
        try:
            os.killpg(json.loads(path.read_text())["pgid"], signal.SIGKILL)
        except ProcessLookupError:
            pass  # the job had ended
        path.unlink()
    return {}


def exists(request: dict) -> dict:
    path = state(request["cluster"])
    return {"exists": path.exists(), "status": json.loads(path.read_text())["status"] if path.exists() else None}


OPS = {f.__name__: f for f in (check, estimate, launch, wait, stop, download, down, exists)}


def main() -> int:
    op = sys.argv[1]
    request = json.loads(sys.stdin.read() or "{}")
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / "calls.jsonl", "a") as calls:
        calls.write(json.dumps({"op": op, "request": request}) + "\n")
    reply = OPS[op](request)
    print("Traceback: a reply that is not JSON" if os.environ.get("FAKE_SKY_GARBAGE") == op else json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
