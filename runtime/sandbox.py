"""The capability boundary of file skills: read inside the home (never state/keys/), write inside out/.

Independent of trust and approvals: no level, rule or --yolo widens it.

Resolving and acting happen on the same open folder, so swapping a folder for a symlink between
the two leads nowhere. A path is normalised by its spelling (`..` included), then walked from an
fd of the home one name at a time with O_NOFOLLOW; every open, create, rename, unlink and listing
is relative to the fd of the folder that walk reached:

- a symlink met on the way is refused (never followed), whatever it points at;
- the last name of a read is opened O_NOFOLLOW|O_NONBLOCK and fstat-ed: a symlink, a FIFO, a socket
  or a device is refused without blocking, and so is a regular file with more than one hard link,
  anywhere in the home (a link in out/ to a key, a config or a file outside the home reads as that
  file; its name says nothing, so every such file is refused; copy it rather than link it);
- the last name of a write or a delete is the entry itself: a symlink there is replaced or unlinked,
  never followed; a write goes to a short temporary name (O_CREAT|O_EXCL) then is renamed over the
  name, or hard-linked to it when it must not replace anything;
- a listing walks the same way and shows files, folders and other entries, never symlinks nor
  state/keys/.

What is reported (and audited) is the path as walked: the entry that was really touched.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import MhError, SandboxError, SkillFailed
from .home import Home

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255

_WALK = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


@dataclass(frozen=True)
class FileRead:
    path: str
    data: bytes
    device: int
    inode: int


@dataclass(frozen=True)
class Entry:
    path: str
    kind: str  # file, dir or other
    size: int


@dataclass(frozen=True)
class Listing:
    path: str
    entries: list[Entry]
    truncated: bool


class Sandbox:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.root = Path(os.path.realpath(home.root))
        self.out = Path(os.path.realpath(home.out))
        # By name, as the walk goes: a symlinked out/ or state/keys/ is refused on the way, not followed.
        self._out = home.out.relative_to(home.root).parts
        self._keys = home.keys_dir.relative_to(home.root).parts

    # -- what the skills call ----------------------------------------------------------------------

    def read(self, path: str, limit: int) -> FileRead:
        """The first `limit` + 1 bytes of a regular file with one link, inside the home."""
        parts = self._readable(path)
        if not parts:
            raise SkillFailed("the home is a folder", fix="use fs_list for folders")
        with self._folder(parts[:-1]) as folder:
            shown, name = _join(parts), parts[-1]
            info = _lstat(folder, name, shown)
            _refuse_for_reading(info, shown)  # a FIFO is never even opened
            try:
                fd = os.open(name, _READ, dir_fd=folder)
            except OSError as exc:
                raise _failure(exc, folder, name, shown) from None
            try:
                info = os.fstat(fd)  # what was opened, whatever the name points at now
                _refuse_for_reading(info, shown)
                if info.st_nlink > 1:
                    raise SandboxError(
                        f"{shown} has {info.st_nlink} hard links; a file with more than one link is not read "
                        "(it may be another file, such as a key)", fix="copy the file instead of linking it, then read the copy")
                data = _read_up_to(fd, limit + 1, shown)
            finally:
                os.close(fd)
        return FileRead(path=shown, data=data, device=info.st_dev, inode=info.st_ino)

    def write(self, path: str, data: bytes, *, overwrite: bool) -> tuple[str, bool]:
        """Write `data` at `path` inside out/, creating folders; (path as walked, created)."""
        parts = self._writable(path)
        shown, name = _join(parts), parts[-1]
        with self._folder(parts[:-1], create=True) as folder:
            try:
                before = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                before = None
            except OSError as exc:
                raise _failure(exc, folder, name, shown) from None
            if before is not None and stat.S_ISDIR(before.st_mode):
                raise SkillFailed(f"{shown} is a folder", fix="name a file inside it")
            if before is not None and not overwrite:
                raise SkillFailed(f"{shown} exists", fix="pass overwrite=true to replace it")
            temp = _temp_file(folder, data, shown)
            try:
                if overwrite:
                    os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)  # replaces a symlink, never follows it
                else:
                    os.link(temp, name, src_dir_fd=folder, dst_dir_fd=folder)  # fails if the name appeared meanwhile
            except FileExistsError:
                raise SkillFailed(f"{shown} exists", fix="pass overwrite=true to replace it") from None
            except IsADirectoryError:
                raise SkillFailed(f"{shown} is a folder", fix="name a file inside it") from None
            except OSError as exc:
                raise _failure(exc, folder, name, shown) from None
            finally:
                _unlink_quietly(folder, temp)
            _sync_folder(folder, shown)
        return shown, before is None

    def delete(self, path: str) -> tuple[str, str]:
        """Delete the entry at `path` inside out/ (a file, a symlink itself, an empty folder)."""
        parts = self._writable(path)
        shown, name = _join(parts), parts[-1]
        with self._folder(parts[:-1]) as folder:
            info = _lstat(folder, name, shown)
            kind = "link" if stat.S_ISLNK(info.st_mode) else "dir" if stat.S_ISDIR(info.st_mode) else "file"
            try:
                if kind == "dir":
                    os.rmdir(name, dir_fd=folder)
                else:
                    os.unlink(name, dir_fd=folder)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise SkillFailed(f"{shown} is a folder that is not empty", fix="delete its files first") from None
                if exc.errno in (errno.EISDIR, errno.ENOTDIR):
                    raise SkillFailed(f"{shown} changed while it was being deleted", fix="look at it again (fs_list)") from None
                raise _failure(exc, folder, name, shown) from None
        return shown, kind

    def listing(self, path: str, pattern: tuple[str, ...], limit: int) -> Listing:
        """Entries below the folder `path` whose names match `pattern`, one glob per level (`**`:
        any number of folders). Symlinks and state/keys/ are never shown nor entered."""
        parts = self._readable(path)
        found: dict[str, Entry] = {}
        with self._folder(parts) as top:
            todo: list[tuple[tuple[str, ...], int]] = [((), 0)]
            while todo and len(found) <= limit:
                below, step = todo.pop()
                if step == len(pattern):  # a trailing ** matched no further folder
                    continue
                glob = pattern[step]
                if glob == "**":
                    todo.append((below, step + 1))
                for name, info in self._entries(top, parts, below):
                    is_dir = stat.S_ISDIR(info.st_mode)
                    if glob == "**":
                        if is_dir:
                            todo.append(((*below, name), step))
                    elif fnmatch.fnmatchcase(name, glob):
                        if step + 1 < len(pattern):
                            if is_dir:
                                todo.append(((*below, name), step + 1))
                        else:
                            shown = _join((*parts, *below, name))
                            kind = "dir" if is_dir else "file" if stat.S_ISREG(info.st_mode) else "other"
                            found[shown] = Entry(path=shown, kind=kind, size=info.st_size)
        entries = sorted(found.values(), key=lambda e: e.path)
        return Listing(path=_join(parts), entries=entries[:limit], truncated=len(entries) > limit)

    def in_out(self, name: str) -> str:
        """`out/<name>` as the skills will walk it, for a surface whose whole world is out/ (the API's
        file_operations, reads included)."""
        path = f"out/{name.lstrip('/')}" if name else "out"
        parts = self._home_parts(path, f"{name!r} is outside out/")
        if parts[: len(self._out)] != self._out:
            raise SandboxError(f"{name!r} is outside out/", fix="name a file inside out/, e.g. notes/today.txt")
        return _join(parts)

    # -- where a path leads --------------------------------------------------------------------------

    def _readable(self, path: str) -> tuple[str, ...]:
        parts = self._home_parts(path, f"{path!r} is outside the home ({self.home.root})")
        if parts[: len(self._keys)] == self._keys:
            raise SandboxError(f"{path!r} is inside state/keys/, which no skill may read", fix="choose another path")
        return parts

    def _writable(self, path: str) -> tuple[str, ...]:
        """Inside out/, never out/ itself."""
        _check(path)
        if PurePosixPath(path).name in ("", ".", ".."):
            raise SandboxError(f"{path!r} does not name a file", fix="name a file, e.g. out/notes.txt")
        message = f"{path!r} is outside out/, the only folder skills may change"
        parts = self._home_parts(path, message)
        if parts[: len(self._out)] != self._out or len(parts) == len(self._out):
            raise SandboxError(message, fix=f"write under out/, e.g. out/{PurePosixPath(path).name}")
        return parts

    def _home_parts(self, path: str, outside: str) -> tuple[str, ...]:
        """The names from the home down to `path`, by spelling: `..` is undone here, and the walk
        then refuses any symlink, so the spelling is where the path really leads."""
        _check(path)
        relative = os.path.normpath(path)
        if os.path.isabs(path):
            for base in {str(self.root), os.path.abspath(self.home.root)}:
                if relative == base or relative.startswith(base + "/"):
                    relative = os.path.normpath("." + relative[len(base):])
                    break
            else:
                raise SandboxError(outside, fix="name a path inside the home, e.g. docs/ or out/notes.txt")
        if relative == ".." or relative.startswith("../"):
            raise SandboxError(outside, fix="name a path inside the home, e.g. docs/ or out/notes.txt")
        return tuple(part for part in relative.split("/") if part not in ("", "."))

    # -- walking -------------------------------------------------------------------------------------

    @contextmanager
    def _folder(self, parts: tuple[str, ...], *, create: bool = False) -> Iterator[int]:
        """An fd of home/parts, reached one real folder at a time (created on the way if asked)."""
        try:
            fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise SandboxError(f"the home {self.root} cannot be opened: {exc.strerror}", fix="check that the home exists") from None
        try:
            for depth, name in enumerate(parts, 1):
                child = _step(fd, name, _join(parts[:depth]), create)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _entries(self, top: int, parts: tuple[str, ...], below: tuple[str, ...]) -> list[tuple[str, os.stat_result]]:
        """(name, lstat) of the entries of top/below, symlinks and state/keys/ left out. A folder
        that vanished or became a symlink since it was seen is skipped, not an error."""
        fd = top
        try:
            for depth, name in enumerate(below, 1):
                child = _step(fd, name, _join((*parts, *below[:depth])), False)
                if fd != top:
                    os.close(fd)
                fd = child
            readable = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        except (MhError, OSError):
            return []
        finally:
            if fd != top:
                os.close(fd)
        seen = []
        try:
            with os.scandir(readable) as listing:
                for entry in listing:
                    if (*parts, *below, entry.name) == self._keys:
                        continue
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:  # gone since the folder was read
                        continue
                    if not stat.S_ISLNK(info.st_mode):
                        seen.append((entry.name, info))
        except OSError:
            return []
        finally:
            os.close(readable)
        return sorted(seen)


def _step(folder: int, name: str, shown: str, create: bool) -> int:
    if create:
        try:
            os.mkdir(name, 0o755, dir_fd=folder)
        except FileExistsError:
            pass  # a folder, or something the open below refuses
        except OSError as exc:
            raise _failure(exc, folder, name, shown) from None
    try:
        return os.open(name, _WALK, dir_fd=folder)
    except OSError as exc:
        raise _failure(exc, folder, name, shown) from None


def _failure(exc: OSError, folder: int, name: str, shown: str) -> MhError:
    """What an OSError on `name` means to the person, with the fix."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        try:
            mode = os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            return SandboxError(f"{shown} is a symbolic link; the sandbox never follows links",
                                fix="name the real path, without links on the way")
        if stat.S_ISDIR(mode):  # it was something else a moment ago: swapped while being opened
            return SandboxError(f"{shown} changed while it was being opened", fix="try again; if it keeps changing, "
                                "find what is moving it")
        return SkillFailed(f"{shown} is not a folder", fix="check the path with fs_list")
    if exc.errno == errno.ENOENT:
        return SkillFailed(f"no file at {shown}", fix="check the name with fs_list")
    if exc.errno == errno.ENAMETOOLONG:
        return SandboxError(f"a name in {shown} is too long", fix="use shorter names")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return SandboxError(f"{shown}: permission denied", fix="check the file's permissions")
    return SandboxError(f"{shown}: {exc.strerror or exc}", fix="check the path, then try again")


def _lstat(folder: int, name: str, shown: str) -> os.stat_result:
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except OSError as exc:
        raise _failure(exc, folder, name, shown) from None


def _refuse_for_reading(info: os.stat_result, shown: str) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise SkillFailed(f"{shown} is a folder", fix="use fs_list for folders")
    if stat.S_ISLNK(info.st_mode):
        raise SandboxError(f"{shown} is a symbolic link; the sandbox never follows links",
                           fix="read the file it points to by its own path (inside the home)")
    if not stat.S_ISREG(info.st_mode):
        what = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise SandboxError(f"{shown} is {what}; only regular files are read", fix="read a regular file")


def _read_up_to(fd: int, size: int, shown: str) -> bytes:
    chunks, left = [], size
    try:
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise SandboxError(f"{shown} could not be read: {exc.strerror or exc}", fix="try again") from None
    return b"".join(chunks)


def _temp_file(folder: int, data: bytes, shown: str) -> str:
    """A new file with `data`, under a short name (so a 255-byte final name still fits)."""
    temp = f".mh-{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=folder)
    except OSError as exc:
        raise _failure(exc, folder, temp, shown) from None
    try:
        os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as exc:
        _unlink_quietly(folder, temp)
        raise SandboxError(f"{shown} could not be written: {exc.strerror or exc}", fix="check the free space, then try again") from None
    finally:
        os.close(fd)
    return temp


def _unlink_quietly(folder: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except OSError:
        pass  # gone already (renamed into place), or a stray temporary name: harmless either way


def _sync_folder(folder: int, shown: str) -> None:
    try:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=folder)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise SandboxError(f"{shown} was written but its folder could not be synced: {exc.strerror or exc}",
                           fix="check the disk, then read the file back") from None


def _join(parts: tuple[str, ...]) -> str:
    return "/".join(parts) or "."


def _check(path: str) -> None:
    if not isinstance(path, str) or not path.strip():
        raise SandboxError("the path is empty", fix="name a file, e.g. out/notes.txt")
    if "\x00" in path:
        raise SandboxError("the path contains a NUL byte", fix="remove the NUL byte from the path")
    try:
        encoded = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise SandboxError("the path is not valid text (a lone surrogate)", fix="name the path in plain UTF-8") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise SandboxError(f"the path is longer than {MAX_PATH_BYTES} bytes", fix="use a shorter path")
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in path.split("/")):
        raise SandboxError(f"a name in the path is longer than {MAX_NAME_BYTES} bytes", fix="use shorter names")
