"""Where everything lives. The home is $MH_HOME, else the checkout this code runs from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent

# Folders every home has; created by `mh init`, never deleted by mh.
LAYOUT = (
    "etc",
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
        return self.root / "etc"

    @property
    def persona(self) -> Path:
        return self.root / "persona"

    @property
    def active_adapter_file(self) -> Path:
        return self.root / "persona" / "overrides" / "active-adapter.json"

    @property
    def audit_dir(self) -> Path:
        return self.root / "logs" / "audit"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def approvals_dir(self) -> Path:
        return self.root / "state" / "approvals"

    @property
    def keys_dir(self) -> Path:
        return self.root / "state" / "keys"

    @property
    def public_key_file(self) -> Path:
        return self.etc / "audit-signing.pub"

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
