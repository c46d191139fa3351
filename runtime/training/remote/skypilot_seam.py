"""The seam: the one module that calls SkyPilot. Everything else in mh talks to it as a process.

It runs in SkyPilot's own Python (bin/bootstrap-sky makes .venv-sky): SkyPilot pins click below
8.2 and uvicorn below 0.36, which would downgrade what mh's own environment holds. So this file
imports only the standard library and `sky`, is run as `PYTHON skypilot_seam.py OP`, reads one
JSON request on stdin and writes one JSON reply as the last line of stdout (SkyPilot's own output
goes to stderr). A failure is a non-zero exit whose last stderr line says why.

Ops: check, roundtrip, estimate, launch, wait, stop, download, down, exists. Tests replace exactly this
file (MH_SKY_SEAM) with a local stand-in; mh's own logic around it runs for real.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys


def _task(config: dict):
    import sky

    return sky.Task.from_yaml_config(config)


def check(request: dict) -> dict:
    """The clouds SkyPilot finds usable for compute (credentials where SkyPilot keeps them)."""
    import sky
    from sky.client import sdk

    found = sky.get(sdk.check((request["infra"],), verbose=False))
    enabled = sorted({cloud.lower() for clouds in found.values() for cloud, capabilities in clouds.items()
                      if "compute" in [str(c).lower().rsplit(".", 1)[-1] for c in capabilities]})
    return {"enabled": enabled}


def roundtrip(request: dict) -> dict:
    """Each task through SkyPilot's parser and back to its YAML form, offline."""
    tasks = []
    for config in request["tasks"]:
        back = _task(config).to_yaml_config()
        tasks.append({k: v for k, v in back.items() if not k.startswith("_")})
    return {"tasks": tasks}


def estimate(request: dict) -> dict:
    """The resources SkyPilot's optimizer picks and their hourly price."""
    import sky
    from sky.utils import dag_utils

    dag = sky.get(sky.optimize(dag_utils.convert_entrypoint_to_dag(_task(request["task"]))))
    best = dag.tasks[0].best_resources
    return {"hourly_usd": best.get_cost(3600) if best is not None else None, "resources": str(best)}


def _cancel_on_sigterm(request_id) -> None:
    """SkyPilot runs a launch as a request on its local API server: ending this process alone would
    leave provisioning going. On mh's SIGTERM (an interrupt, the deadline) the request is cancelled
    first; mh's `down` follows."""
    import sky

    def cancel(*_: object) -> None:
        sky.get(sky.api_cancel(request_id, silent=True))
        raise SystemExit(f"launch cancelled (SkyPilot request {request_id})")

    signal.signal(signal.SIGTERM, cancel)


def launch(request: dict) -> dict:
    """Provision, upload the file mounts, run setup, submit the job. The machine tears itself down
    after `autostop_minutes` idle (down=True): the net under mh's own teardown."""
    import sky

    request_id = sky.launch(_task(request["task"]), cluster_name=request["cluster"], idle_minutes_to_autostop=request["autostop_minutes"], down=True)
    _cancel_on_sigterm(request_id)
    job_id, _handle = sky.stream_and_get(request_id)
    return {"job_id": job_id}


def wait(request: dict) -> dict:
    """Follow the job's log to its end; its final status."""
    import sky

    sky.tail_logs(request["cluster"], request["job_id"], follow=True)
    statuses = sky.get(sky.job_status(request["cluster"], [request["job_id"]]))
    status = statuses.get(request["job_id"])
    return {"status": getattr(status, "value", str(status))}


def stop(request: dict) -> dict:
    """Ask the run training on the cluster to checkpoint and stop after its step, as `mh runs stop`
    does at home: a second job (no accelerator: it runs beside the training job) creates the run's
    stop-request file, but only where the run has begun (before that there is nothing to keep)."""
    import sky

    folder, marker = request["run_dir"], request["marker"]
    if not re.fullmatch(r"[\w./-]+", folder) or not re.fullmatch(r"[\w.-]+", marker) or ".." in folder:
        raise SystemExit(f"not a run folder: {folder!r}")  # it goes into a shell line
    line = f'test -d "$HOME/{folder}" && touch "$HOME/{folder}/{marker}"'  # fails (no request) where training has not begun
    job_id, _handle = sky.stream_and_get(sky.exec(sky.Task(run=line), cluster_name=request["cluster"]))
    sky.tail_logs(request["cluster"], job_id, follow=True)
    statuses = sky.get(sky.job_status(request["cluster"], [job_id]))
    return {"requested": getattr(statuses.get(job_id), "value", None) == "SUCCEEDED"}


def download(request: dict) -> dict:
    """rsync over the SSH alias SkyPilot writes for every cluster it launches; no link, no file over
    max_file_bytes, and no permissions kept (a folder the remote made unreadable must not hide files)."""
    os.makedirs(request["local"], exist_ok=True)
    subprocess.run(["rsync", "-rt", "--no-links", "--no-perms", "--chmod=Du=rwx,Fu=rw", f"--max-size={int(request['max_file_bytes'])}",
                    f"{request['cluster']}:{request['remote'].rstrip('/')}/", request["local"].rstrip("/") + "/"],
                   check=True, stdout=sys.stderr)
    return {}


def down(request: dict) -> dict:
    """Tear the cluster down. One SkyPilot never made (provisioning failed) is not an error here:
    `exists` is what confirms it is gone."""
    import sky
    from sky import exceptions

    try:
        sky.stream_and_get(sky.down(request["cluster"]))
    except exceptions.ClusterDoesNotExist:
        return {"absent": True}
    return {}


def exists(request: dict) -> dict:
    """Whether SkyPilot still knows the cluster (after `down`, it must not)."""
    import sky

    records = sky.get(sky.status(cluster_names=[request["cluster"]]))
    status = getattr(records[0], "status", None) if records else None
    return {"exists": bool(records), "status": getattr(status, "value", None if status is None else str(status))}


OPS = {f.__name__: f for f in (check, roundtrip, estimate, launch, wait, stop, download, down, exists)}


def main() -> int:
    op = sys.argv[1]
    request = json.loads(sys.stdin.read() or "{}")
    reply_to = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # SkyPilot prints progress on stdout: keep the reply line alone there
    reply = OPS[op](request)
    reply_to.write(json.dumps(reply, default=str) + "\n")
    reply_to.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
