"""The capability boundary of file skills: read inside the home (never state/keys/), write inside out/.

Independent of trust and approvals: no level, rule or --yolo widens it. Paths are resolved with
realpath, so `..`, symlinks and absolute paths are judged by where they really lead.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SandboxError
from .home import Home

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


class Sandbox:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.root = Path(os.path.realpath(home.root))
        self.out = Path(os.path.realpath(home.out))
        self.keys = Path(os.path.realpath(home.keys_dir))

    def readable(self, path: str) -> Path:
        """Where `path` really leads, if a skill may read there."""
        resolved = self._resolve(path)
        if not _inside(resolved, self.root):
            raise SandboxError(
                f"{path!r} is outside the home ({self.home.root})",
                fix="name a path inside the home, e.g. docs/ or out/notes.txt",
            )
        if _inside(resolved, self.keys):
            raise SandboxError(f"{path!r} is inside state/keys/, which no skill may read", fix="choose another path")
        return resolved

    def writable(self, path: str) -> Path:
        """Where a skill may write or delete `path`: inside out/, never out/ itself.

        Only the parent is resolved: the last name is the entry itself, so deleting or replacing a
        symlink in out/ touches the link, never what it points at.
        """
        self._check(path)
        given = self.root / path
        if given.name in ("", ".", ".."):
            raise SandboxError(f"{path!r} does not name a file", fix="name a file, e.g. out/notes.txt")
        parent = Path(os.path.realpath(given.parent))
        if not _inside(parent, self.out):
            raise SandboxError(
                f"{path!r} is outside out/, the only folder skills may change",
                fix=f"write under out/, e.g. out/{given.name}",
            )
        return parent / given.name

    def in_out(self, name: str) -> str:
        """`out/<name>`, for a surface whose whole world is out/ (the API's file_operations, reads
        included), if `name` really stays inside out/ once resolved."""
        path = f"out/{name.lstrip('/')}" if name else "out"
        if not _inside(self.readable(path), self.out):
            raise SandboxError(f"{name!r} is outside out/", fix="name a file inside out/, e.g. notes/today.txt")
        return path

    def is_secret(self, path: Path) -> bool:
        return _inside(Path(os.path.realpath(path)), self.keys)

    def shown(self, path: Path) -> str:
        """A resolved path as the person names it: relative to the home."""
        return str(path.relative_to(self.root)) if _inside(path, self.root) and path != self.root else "."

    def _resolve(self, path: str) -> Path:
        self._check(path)
        return Path(os.path.realpath(self.root / path))

    @staticmethod
    def _check(path: str) -> None:
        if not isinstance(path, str) or not path.strip():
            raise SandboxError("the path is empty", fix="name a file, e.g. out/notes.txt")
        if "\x00" in path:
            raise SandboxError("the path contains a NUL byte", fix="remove the NUL byte from the path")
        encoded = path.encode("utf-8", "surrogateescape")
        if len(encoded) > MAX_PATH_BYTES:
            raise SandboxError(f"the path is longer than {MAX_PATH_BYTES} bytes", fix="use a shorter path")
        if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in Path(path).parts):
            raise SandboxError(f"a name in the path is longer than {MAX_NAME_BYTES} bytes", fix="use shorter names")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
