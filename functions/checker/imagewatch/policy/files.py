"""Reading the files an operator points imagewatch at (policy files, the channels file): regular files
only, size-checked before reading, read with a bound.

A folder of files is outside input too. The review (issue 12, row 9) found a symlink to ``/dev/zero``
read until ``MemoryError``, and a FIFO named ``x.json`` that hung the run. So a file is opened only
when ``lstat`` says it is a regular file, without following a link at open (``O_NOFOLLOW``) and without
waiting on a pipe (``O_NONBLOCK``); ``fstat`` on the open file checks again (the path may have been
swapped in between) and its size is checked before a byte is read; the read itself stops one byte past
the limit, so a file growing after the check is refused too.

Symbolic links: in a folder, a link is followed only to a regular file inside the same folder (its
real path). That keeps packs built from links working (a Kubernetes ConfigMap mounts each file as a
link into a ``..data`` folder) and refuses links that leave the folder (``/dev/zero``,
``/etc/shadow``). A path the operator names directly may be a link to anywhere: they chose it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_FILE_BYTES = 1_000_000  # 1 MB, as documented; the largest sensible policy is tens of kB

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefused(ValueError):
    """A file that is not read: not a regular file, too large, a link leaving its folder, unreadable."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _regular(mode: int, what: str) -> None:
    if not stat.S_ISREG(mode):
        raise FileRefused(f"{what}{_kind(mode)}; expected a regular file")


def _target(path: Path, inside: Path | None) -> Path:
    """The path to open: ``path`` itself, or the real file a symbolic link names (checked)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as error:
        raise FileRefused(f"cannot read it ({error.strerror or error})") from None
    if not stat.S_ISLNK(mode):
        _regular(mode, "")
        return path
    real = Path(os.path.realpath(path))
    if inside is not None:
        folder = Path(os.path.realpath(inside))
        if not real.is_relative_to(folder):
            raise FileRefused(
                f"a symbolic link to {real}, outside the folder {folder}; expected a regular file,"
                " or a link to one inside the folder"
            )
    try:
        _regular(os.stat(real).st_mode, f"a symbolic link to {real}, ")
    except OSError as error:
        raise FileRefused(f"a symbolic link to {real}, which cannot be read: {error.strerror}") from None
    return real


def read_regular_file(path: Path | str, limit: int, unit: str, inside: Path | None = None) -> bytes:
    """The content of ``path``, a regular file of at most ``limit`` bytes; raises ``FileRefused``.

    ``unit`` ends the size message (``"per policy file"``); ``inside`` is the folder a symbolic link
    must stay in (None: the operator named this path, follow it anywhere)."""
    target = _target(Path(path), inside)
    try:
        fd = os.open(target, _OPEN_FLAGS)
    except OSError as error:
        raise FileRefused(f"cannot read it ({error.strerror or error})") from None
    try:
        status = os.fstat(fd)
        _regular(status.st_mode, "")  # swapped between the check and the open
        if status.st_size > limit:
            raise FileRefused(f"{status.st_size} bytes; expected at most {limit} {unit}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, 1 << 16))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise FileRefused(f"grew past {limit} bytes while being read; expected at most {limit} {unit}")
    except OSError as error:
        raise FileRefused(f"cannot read it ({error.strerror or error})") from None
    finally:
        os.close(fd)


def json_files(folder: Path) -> list[Path]:
    """The candidate policy files under ``folder``, in sorted path order: every entry named ``*.json``
    (not ``*.schema.json``, not under a dot folder) that is not a real folder. Linked folders are not
    descended; such entries are listed so that reading them reports what they are."""
    found: list[Path] = []
    for current, folders, files in os.walk(folder, followlinks=False):
        base = Path(current)
        folders[:] = [name for name in folders if not name.startswith(".")]
        linked = [name for name in folders if (base / name).is_symlink()]
        for name in [*files, *linked]:
            if name.endswith(".json") and not name.endswith(".schema.json") and not name.startswith("."):
                found.append(base / name)
    return sorted(found)
