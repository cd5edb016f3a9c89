"""Child processes that die with their parent, and pid files to find them after a crash.

Why ``PR_SET_PDEATHSIG`` (Linux): the kernel sends the child SIGTERM when its parent dies, even
by SIGKILL, with no helper process to supervise. anvil dumps its state on SIGTERM, so the chain
is saved even then. The signal fires when the *thread* that forked the child ends, so
:func:`child_setup` asks for it only when called from the main thread (the one whose end is the
process's end); a child started from another thread does not get it, and the pid file recovers
it on the next start instead. Elsewhere than Linux only the pid file is used.

The setup also sets the child's umask to 0o077: the files it creates (anvil's state dump) are
private to the owner.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ledger.adapters.private_files import private_file

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    prctl: Callable[..., int] = libc.prctl
    return prctl


_PRCTL = _load_prctl()  # resolved before any fork: the child only calls it


def child_setup() -> Callable[[], None]:
    """A ``preexec_fn``: private umask, and SIGTERM to the child when this process dies (Linux,
    main thread only; see the module docstring). Runs between fork and exec, so it only makes
    system calls (no imports, no locks)."""
    parent = os.getpid()
    pdeathsig = _PRCTL if threading.current_thread() is threading.main_thread() else None

    def setup() -> None:
        os.umask(0o077)
        if pdeathsig is not None:
            pdeathsig(PR_SET_PDEATHSIG, int(signal.SIGTERM))
            if os.getppid() != parent:  # the parent died before prctl: nobody would signal us
                os._exit(1)

    return setup


def write_pid_file(path: Path, pid: int) -> None:
    """Record ``pid`` and its parent, this process, in ``path`` (mode 0600)."""
    private_file(path).write_text(f"{pid}\n{os.getpid()}\n")


def read_pid_file(path: Path) -> tuple[int, int | None] | None:
    """The pid recorded in ``path`` and its parent's (None if not recorded); None if there is
    no file or it holds no pid."""
    try:
        words = path.read_text().split()
    except FileNotFoundError:
        return None
    if not words or not all(w.isdigit() for w in words[:2]):
        return None
    return int(words[0]), int(words[1]) if len(words) > 1 else None


def remove_pid_file(path: Path, pid: int) -> None:
    """Remove ``path`` if it still records ``pid`` (a newer owner's file is left alone)."""
    recorded = read_pid_file(path)
    if recorded is not None and recorded[0] == pid:
        path.unlink(missing_ok=True)


def command_line(pid: int) -> list[str] | None:
    """The arguments of the running process ``pid``; None if it is gone, a zombie or unknown."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a] or None


def terminate(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM ``pid`` (not our child) and wait until it is gone; SIGKILL it after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if command_line(pid) is None:
                return
            time.sleep(0.05)
