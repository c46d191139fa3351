"""Where everything lives. The home is $MH_HOME, else the checkout this code runs from."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import RunNotFound

CHECKOUT = Path(__file__).resolve().parent.parent

# Folders every home has; created by `mh init`, never deleted by mh.
LAYOUT = (
    "etc",
    "state/jobs",
    "state/services",
    "persona/overrides",
    "memory/episodic",
    "memory/tasks/active",
    "memory/tasks/completed",
    "memory/inbox",
    "logs/audit",
    "logs/services",
    "out",
    "state/approvals",
    "state/datasets/raw",
    "state/datasets/clean",
    "state/datasets/verified",
    "state/receipts",
    "state/runs",
    "state/models",
    "state/keys",
)


# What `mh init` keeps out of git in a home (its .gitignore): each rule with why. The home may be a
# git repository (the git_status skill reads it); these must never be committed from it.
GIT_IGNORED = (
    ("/state/", "the audit signing key, the API token, approvals, datasets, runs and models: private, and large"),
    ("/logs/", "the audit log and the service logs: what you did, growing every day (`mh audit verify` checks it)"),
    ("/memory/index.db*", "the search index: rebuilt from the memory files by `mh memory reindex`"),
    ("/memory/inbox/", "files waiting to be ingested, and what ingesting archived or set aside"),
    ("/persona/overrides/", "this machine's active adapter (the adapter itself lives in state/)"),
)


def cache_dir() -> Path:
    """Files every home of this install shares, each named by a digest of what it was made from (the
    router's weights, the base model converted from its GGUF): $MH_CACHE_DIR, else next to the
    installed code (the venv). Deleting it costs only the time to make them again."""
    return Path(os.environ.get("MH_CACHE_DIR") or Path(sys.prefix) / "mh-cache")


@dataclass(frozen=True)
class Home:
    """The paths of one home. Pure naming: it reads and writes nothing."""

    root: Path

    @classmethod
    def default(cls) -> Home:
        return cls.at(os.environ.get("MH_HOME") or CHECKOUT)

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> Home:
        return cls(Path(root).expanduser().resolve())

    @property
    def etc(self) -> Path:
        """The config files."""
        return self.root / "etc"

    @property
    def persona(self) -> Path:
        """Core.json and the overrides."""
        return self.root / "persona"

    @property
    def overrides_dir(self) -> Path:
        return self.root / "persona" / "overrides"

    @property
    def active_adapter_file(self) -> Path:
        return self.root / "persona" / "overrides" / "active-adapter.json"

    @property
    def memory_dir(self) -> Path:
        return self.root / "memory"

    @property
    def episodic_dir(self) -> Path:
        """One JSON file per memory, in YYYY/ folders."""
        return self.root / "memory" / "episodic"

    @property
    def memory_index(self) -> Path:
        """Derived from the memory files; rebuilt by reindex."""
        return self.root / "memory" / "index.db"

    @property
    def tasks_active(self) -> Path:
        return self.root / "memory" / "tasks" / "active"

    @property
    def tasks_completed(self) -> Path:
        return self.root / "memory" / "tasks" / "completed"

    @property
    def inbox(self) -> Path:
        """Files dropped here are ingested."""
        return self.root / "memory" / "inbox"

    @property
    def inbox_archive(self) -> Path:
        return self.root / "memory" / "inbox" / "_archive"

    @property
    def inbox_failed(self) -> Path:
        return self.root / "memory" / "inbox" / "_failed"

    @property
    def inbox_intents(self) -> Path:
        """The ingestor's intents: what a batch will move, written before it moves anything."""
        return self.root / "memory" / "inbox" / "_intents"

    @property
    def audit_dir(self) -> Path:
        return self.root / "logs" / "audit"

    @property
    def service_logs(self) -> Path:
        return self.root / "logs" / "services"

    @property
    def out(self) -> Path:
        """The sandbox of the fs skills and the file_operations API."""
        return self.root / "out"

    @property
    def approvals_dir(self) -> Path:
        return self.root / "state" / "approvals"

    @property
    def datasets_dir(self) -> Path:
        """Raw/, clean/ and verified/."""
        return self.root / "state" / "datasets"

    @property
    def datasets_raw(self) -> Path:
        return self.root / "state" / "datasets" / "raw"

    @property
    def datasets_clean(self) -> Path:
        return self.root / "state" / "datasets" / "clean"

    @property
    def datasets_verified(self) -> Path:
        return self.root / "state" / "datasets" / "verified"

    @property
    def receipts_dir(self) -> Path:
        """Signed dataset receipts."""
        return self.root / "state" / "receipts"

    @property
    def runs_dir(self) -> Path:
        """One folder per training run."""
        return self.root / "state" / "runs"

    @property
    def remote_dir(self) -> Path:
        """Remote runs in flight: the bundle sent and the run brought back, before it is registered."""
        return self.root / "state" / "remote"

    @property
    def adapters_dir(self) -> Path:
        """Promoted adapters."""
        return self.root / "state" / "models" / "adapters"

    @property
    def jobs_dir(self) -> Path:
        """Long work started from a surface."""
        return self.root / "state" / "jobs"

    @property
    def services_dir(self) -> Path:
        """Service counters and running markers."""
        return self.root / "state" / "services"

    @property
    def api_dir(self) -> Path:
        """The hashed API token."""
        return self.root / "state" / "api"

    @property
    def keys_dir(self) -> Path:
        """The signing key (0700)."""
        return self.root / "state" / "keys"

    @property
    def public_key_file(self) -> Path:
        return self.root / "etc" / "audit-signing.pub"

    def config_file(self, name: str) -> Path:
        return self.etc / name

    def relative(self, path: Path) -> str:
        """A path as the person sees it: relative to the home where possible."""
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    def missing_folders(self) -> list[str]:
        return [name for name in LAYOUT if not (self.root / name).is_dir()]


def run_folder(runs_root: Path, run_id: str) -> Path:
    """The folder of the run RUN_ID under runs_root: only a run id names one (never `..` or a path)."""
    if not run_id.startswith("run-") or "/" in run_id:
        raise RunNotFound(f"{run_id!r} is not a run id", fix="see `mh runs`")
    path = runs_root / run_id
    if not path.is_dir():
        raise RunNotFound(f"no run {run_id}", fix="see `mh runs`")
    return path
