"""Shared plumbing of the benchmarks (scripts/bench.py and its subprocess workers).

A benchmark environment is a fresh anvil chain plus a SQLite database in a temporary directory,
the ledger deployed with the development key (one key holds every role). Nothing here touches
``.mileage/``.
"""

from __future__ import annotations

import os
import platform
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from bridge.anvil import AnvilProcess, anvil_binary  # noqa: E402
from ledger.adapters.orm import Deployment  # noqa: E402
from ledger.domain.codes import Program  # noqa: E402
from ledger.feeds import safecsv  # noqa: E402
from ledger.service.deployment import ensure_deployment  # noqa: E402
from ledger.service.runtime import Runtime  # noqa: E402
from ledger.settings import ANVIL_DEV_KEY, Settings  # noqa: E402

BENCH_DIR = ROOT / "bench"
# the bench's secrets (docs/keys.md: 32+ bytes each, two different ones)
ACCOUNT_KEY = "bench-account-key-0123456789abcdef"
REF_KEY = "bench-ref-key-0123456789abcdef-0123"
DISTRICTS = 25
BIKE = int(Program.BIKE)


def scaled(n: int, scale: float, minimum: int = 1) -> int:
    """``n`` times the bench's ``--scale``, at least ``minimum``."""
    return max(minimum, round(n * scale))


def say(msg: str) -> None:
    """Progress line (stderr, flushed, with the wall clock)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_settings(
    data_dir: Path, rpc_url: str | None, database_url: str | None = None, **extra: Any
) -> Settings:
    """Settings of a bench environment: explicit values only, dev key for every role."""
    return Settings(
        data_dir=data_dir,
        rpc_url=rpc_url,
        database_url=database_url or f"sqlite:///{(data_dir / 'ledger.db').resolve()}",
        private_key=SecretStr(ANVIL_DEV_KEY),
        account_key=SecretStr(ACCOUNT_KEY),
        ref_key=SecretStr(REF_KEY),
        **extra,
    )


@dataclass
class Env:
    """A fresh chain + database with the ledger deployed."""

    data_dir: Path
    anvil: AnvilProcess
    settings: Settings
    rt: Runtime
    deployment: Deployment

    @property
    def rpc_url(self) -> str:
        return self.anvil.url

    @property
    def database_url(self) -> str:
        return self.settings.effective_database_url

    def env_vars(self) -> dict[str, str]:
        """MILEAGE_* variables that point a subprocess (API, worker) at this environment."""
        return {
            **os.environ,
            "MILEAGE_DATA_DIR": str(self.data_dir),
            "MILEAGE_RPC_URL": self.rpc_url,
            "MILEAGE_DATABASE_URL": self.database_url,
            "MILEAGE_PRIVATE_KEY": ANVIL_DEV_KEY,
            "MILEAGE_ACCOUNT_KEY": ACCOUNT_KEY,
            "MILEAGE_REF_KEY": REF_KEY,
            "MILEAGE_CONTRACT_ADDRESS": self.deployment.address,
        }


@contextmanager
def bench_env(
    base: Path,
    name: str,
    *,
    gas_limit: int = 100_000_000,
    database_url: str | None = None,
    block_time: float | None = None,
) -> Iterator[Env]:
    """Start anvil, open (migrate) a fresh database, deploy the ledger; stop anvil on exit.
    ``block_time``: interval mining (a block every so many seconds, like QBFT's block period)
    instead of a block per transaction."""
    data_dir = base / name
    data_dir.mkdir(parents=True, exist_ok=True)
    # anvil keeps every block's state in memory (~10 MB a block at 50,000 accounts): the mirror
    # part's 2,000+ blocks got it OOM-killed at 24 GB. The benchmarks read only recent states.
    node = AnvilProcess(
        gas_limit=gas_limit,
        log_file=data_dir / "anvil.log",
        block_time=block_time,
        extra_args=["--prune-history", "256"],
    )
    node.start()
    try:
        settings = make_settings(data_dir, node.url, database_url)
        rt = Runtime.open(settings)
        try:
            dep, _ = ensure_deployment(rt)
            yield Env(data_dir, node, settings, rt, dep)
        finally:
            rt.close()
    finally:
        node.stop()


# --- synthetic data --------------------------------------------------------------------------
def bike_member(i: int) -> str:
    return f"B{i:08d}"


def write_bike_members(path: Path, n: int, seed: int = 7) -> Path:
    """members.csv: ``n`` BIKE members, one citizen each."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = safecsv.writer(fh)
        w.writerow(
            ["member_id", "program", "citizen_id", "district", "donation_consent", "joined_at"]
        )
        for i in range(1, n + 1):
            w.writerow(
                [
                    bike_member(i),
                    "BIKE",
                    f"C{i:09d}",
                    f"D{rng.randrange(DISTRICTS):02d}",
                    "false",
                    "2020-01-01",
                ]
            )
    return path


def write_bike_feed(path: Path, n_members: int, months: list[str], seed: int = 11) -> int:
    """A BIKE feed: every member rides >= 10 days in every month (so every row earns an award).
    Rows are month-major (all members of the first month, then the second ...), so the first
    month's awards go to new on-chain accounts and the later months' to existing ones."""
    rng = random.Random(seed)
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = safecsv.writer(fh)
        w.writerow(["member_id", "month", "ride_days", "ride_minutes", "pass_365"])
        for month in months:
            for i in range(1, n_members + 1):
                days = rng.randrange(10, 26)
                w.writerow([bike_member(i), month, days, days * rng.randrange(10, 60), "true"])
                rows += 1
    return rows


# --- processes ---------------------------------------------------------------------------------
def run_measured(
    cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None
) -> tuple[int, float, float, str, str]:
    """Run ``cmd``; returns (exit code, wall seconds, ru_maxrss in MiB from wait4() on that very
    child, stdout, stderr). Other children (anvil, uvicorn) do not count, but Linux carries the
    forking process's image into the child's ru_maxrss across exec, so this is only an upper
    bound: the workers report their own VmHWM (scripts/bench_worker.py)."""
    t0 = time.perf_counter()
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{time.time_ns()}"
    with open(f"{out_path}.out", "w+b") as out, open(f"{out_path}.err", "w+b") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=ROOT)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    return proc.returncode, wall, usage.ru_maxrss / 1024.0, stdout, stderr


# --- the machine -------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        m = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        ram_gb = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        pass
    try:
        anvil = (
            subprocess.run(
                [anvil_binary(), "--version"], capture_output=True, text=True, timeout=10
            )
            .stdout.splitlines()[0]
            .strip()
        )
    except Exception:
        anvil = "unknown"
    import sqlalchemy
    import web3

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "anvil": anvil,
        "sqlite": sqlite3.sqlite_version,
        "web3": web3.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "loadavg_at_start": list(os.getloadavg()),
        "py_reference_cpu_s": py_reference_cpu_s(),
    }


def py_reference_cpu_s() -> dict[str, float]:
    """CPU seconds of two fixed pure-Python workloads (best of three each): 10,000,000 integer
    additions (what stays in the CPU's caches) and a dict of 1,000,000 string keys built (what
    goes to memory). CPU figures of two machines differ (the same code's mirror measured 2–2.6×
    apart on two machines of the same size here: docs/PERFORMANCE.md); these two say how fast
    each runs Python, to set figures of two machines side by side."""

    def loop() -> None:
        s = 0
        for i in range(10_000_000):
            s += i

    def table() -> None:
        d = {}
        for i in range(1_000_000):
            d[str(i)] = i

    out = {}
    for name, work in (("int_loop", loop), ("dict_1m", table)):
        best = float("inf")
        for _ in range(3):
            t = time.process_time()
            work()
            best = min(best, time.process_time() - t)
        out[name] = round(best, 3)
    return out


def stamp_figures(results: dict[str, Any], keys: Iterable[str], scale: float) -> None:
    """Note in ``results`` the scale and the time (UTC) each of ``keys`` was measured at."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for k in keys:
        results.setdefault("scales", {})[k] = scale
        results.setdefault("measured_at", {})[k] = stamp


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group ``pgid``
    (a server started with ``start_new_session=True`` leads its own group)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3); pgrp is field 5, utime 14, stime 15
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick
