"""Files and directories private to the owner: the data directory (0700), the SQLite database
and its -wal/-shm (0600), keystores, the chain state and pid files (0600).

They hold citizen ids and signing keys, so nothing here depends on the process umask: new
directories and files get their mode explicitly, and an existing one that group or others can
read is narrowed with a warning (``private_path_fixed``) naming the path and its old mode.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import structlog

log = structlog.get_logger("mileage.files")

DIR_MODE = 0o700
FILE_MODE = 0o600


def _narrow(path: Path, private: int) -> None:
    """chmod ``path`` to ``private`` if group or others have any access, with a warning."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & 0o077:
        os.chmod(path, private)
        log.warning(
            "private_path_fixed",
            path=str(path),
            was=oct(current),
            now=oct(private),
            hint="it holds citizen ids or keys; keep it readable by its owner only",
        )


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; narrow it if it already exists."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created concurrently
            p.mkdir(mode=DIR_MODE)
        os.chmod(p, DIR_MODE)  # mkdir's mode is masked by the umask
    if not missing:
        _narrow(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if missing; narrow it to 0600 if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _narrow(path, FILE_MODE)
        return path
    try:
        os.fchmod(fd, FILE_MODE)  # the open mode is masked by the umask
    finally:
        os.close(fd)
    return path


def narrow_existing(*paths: Path) -> None:
    """Narrow each of ``paths`` that exists to 0600 (warning for each one that was readable)."""
    for path in paths:
        _narrow(path, FILE_MODE)
