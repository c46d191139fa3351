"""The SkyPilot task of a remote run, in SkyPilot's own YAML form (a dict `sky.Task.from_yaml_config`
reads): resources, the bundle as a file mount, setup (install mh and the training stack), run (the
worker), and envs that carry names only. Nothing secret is ever put in it: credentials stay where
SkyPilot keeps them, and the bundle holds only the public key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from ...config import RemoteSettings
from ...errors import ConfigError

REMOTE_ROOT = "~/mh"
REMOTE_BUNDLE = f"{REMOTE_ROOT}/bundle"
REMOTE_OUT = f"{REMOTE_ROOT}/out"
# The chat, the API and the console are not needed to train: leaving them out spares the worker a
# five-minute llama.cpp build. tests/test_remote_training.py checks the worker imports none of them.
NOT_ON_THE_WORKER = ("llama-cpp-python", "pydantic-ai-slim", "ollama", "litestar", "uvicorn", "textual", "watchdog")
INFRA_ALIASES = {"k8s": "kubernetes"}


def worker_requirements(pyproject: Path) -> list[str]:
    """mh's dependencies as pyproject.toml pins them, minus what only the chat and the surfaces use."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    return [d for d in deps if re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0] not in NOT_ON_THE_WORKER]


def cloud_of(infra: str) -> str:
    """The cloud an infra string names (runpod, lambda, kubernetes, aws, ssh), as `sky check` lists it."""
    first = infra.split("/", 1)[0]
    return INFRA_ALIASES.get(first, first)


def cluster_name(run_id: str, attempt: int = 1) -> str:
    """A cluster name SkyPilot and the clouds accept (lowercase letters, digits, dashes); a resumed
    run's machine is another one (the first may still be going down)."""
    name = "mh-" + run_id.removeprefix("run-").lower().replace("t", "-", 1)
    return name if attempt == 1 else f"{name}-a{attempt}"


def build_task(remote: RemoteSettings, *, run_id: str, bundle: Path, pyproject: Path, key_id: str) -> dict[str, Any]:
    if not re.fullmatch(r"[0-9a-f]{8,64}", key_id):
        raise ValueError(f"not a key id: {key_id!r}")  # it goes into a shell line
    if remote.infra is None:
        raise ConfigError("etc/training.json", "run.remote.infra", "no infra is set for remote training",
                          fix='set "remote": {"infra": "runpod"} (or lambda, k8s, aws, ssh/POOL) in etc/training.json or the run config')
    requirements = " ".join(f"'{r}'" for r in worker_requirements(pyproject))
    limit_s = int(remote.max_hours * 3600)
    setup = "\n".join((
        "set -euo pipefail",
        "python3 -m venv ~/mh-venv",
        "~/mh-venv/bin/pip install --quiet --upgrade pip",
        f"~/mh-venv/bin/pip install --quiet --no-deps {REMOTE_BUNDLE}/src",
        f"~/mh-venv/bin/pip install --quiet {requirements}",
    ))
    # SIGTERM at the limit: the trainer saves a checkpoint and exits 30, and the run comes back as interrupted.
    run = "\n".join((
        'export PATH="$HOME/mh-venv/bin:$PATH"',
        f"timeout --signal=TERM {limit_s}s mh worker train {REMOTE_BUNDLE} --out {REMOTE_OUT} --key-id {key_id}",
    ))
    return {
        "name": f"mh-{run_id}".lower(),
        "resources": {
            "infra": remote.infra,
            "accelerators": remote.accelerators,
            "use_spot": remote.use_spot,
            "disk_size": remote.disk_gb,
            "autostop": {"idle_minutes": remote.autostop_minutes, "down": True},
        },
        "file_mounts": {REMOTE_BUNDLE: str(bundle)},
        "envs": {"MH_RUN_ID": run_id},
        "setup": setup,
        "run": run,
    }
