"""Profiles of the benchmarks: pyinstrument around a phase, py-spy on a server process."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench_common import (
    BENCH_DIR,
    ROOT,
    say,
)


class Profiler:
    """pyinstrument around a block when --profile is on; writes bench/profile-<name>.txt."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.files: dict[str, str] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        from pyinstrument import Profiler as P

        p = P(interval=0.002)
        p.start()
        try:
            yield
        finally:
            p.stop()
            path = BENCH_DIR / f"profile-{name}.txt"
            path.write_text(p.output_text(unicode=False, color=False, show_all=False))
            self.files[name] = str(path.relative_to(ROOT))
            say(f"profile of {name} written to {path.relative_to(ROOT)}")


@contextmanager
def spy(pid: int, seconds: float, name: str, *, enabled: bool) -> Iterator[None]:
    """py-spy (sampling, every thread, native idle excluded) on a server process during a load;
    writes bench/profile-<name>.txt with the top frames by own and by total time."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not enabled or not Path(exe).exists():
        yield
        return
    raw = BENCH_DIR / f"profile-{name}.collapsed"
    proc = subprocess.Popen(
        [
            exe,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "250",
            "-f",
            "raw",
            "-o",
            str(raw),
            "--nonblocking",
            "--subprocesses",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield
    finally:
        try:
            _o, err = proc.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            err = b"timeout"
        if raw.exists():
            text = top_frames(raw.read_text())
            (BENCH_DIR / f"profile-{name}.txt").write_text(text)
            raw.unlink()
            say(f"profile of {name} written to bench/profile-{name}.txt")
        else:
            say(f"py-spy failed: {err.decode(errors='replace')[-300:]}")


def top_frames(collapsed: str, n: int = 25) -> str:
    """Top frames of py-spy's collapsed stacks: by own samples and by inclusive samples."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        c = int(count)
        total += c
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + c
        for f in set(frames):
            incl[f] = incl.get(f, 0) + c
    out = [f"{total} samples (py-spy, all threads, idle excluded)", "", "own time:"]
    for f, c in sorted(own.items(), key=lambda kv: -kv[1])[:n]:
        out.append(f"  {c / total * 100:5.1f}%  {f}")
    out += ["", "total time (frame on the stack):"]
    for f, c in sorted(incl.items(), key=lambda kv: -kv[1])[:n]:
        out.append(f"  {c / total * 100:5.1f}%  {f}")
    return "\n".join(out) + "\n"
