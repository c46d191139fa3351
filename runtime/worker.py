"""The remote worker as a surface asks for it (`mh worker train BUNDLE --out DIR`): it runs on the
rented machine, where there is no home, no key and no audit log, so it is not a skill call; it
trusts nothing it is given until the bundle's manifest and the dataset's signed receipt hold."""

from __future__ import annotations

from pathlib import Path


def train_bundle(bundle: Path, out: Path, *, key_id: str, quiet: bool = False) -> int:
    """Train the bundle's run into out/ (resuming from its last checkpoint there); its exit code."""
    from .training.remote.worker import run_worker

    return run_worker(bundle, out, key_id=key_id, quiet=quiet)
