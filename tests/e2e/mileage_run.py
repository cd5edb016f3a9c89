"""Drive ``mileage run`` as an operator (or systemd, Docker, Kubernetes) would: start it on a data
dir, wait for the API, read what it printed, signal it, and look at what is left behind.

Imported by the stop/restart tests (``from mileage_run import MileageRun``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.anvil import free_port

MILEAGE = str(Path(sys.executable).parent / "mileage")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from bridge_worker import assert_chain_matches  # type: ignore[import-not-found]  # noqa: E402

__all__ = ["MileageRun", "alive", "assert_chain_matches", "poll"]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def poll(
    condition: Callable[[], bool], what: str | Callable[[], str], timeout: float = 60.0
) -> None:
    """Wait until ``condition()`` holds; fail with ``what`` (or what ``what()`` says at that
    moment, e.g. the output so far) after a generous ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(what() if callable(what) else what)
        time.sleep(0.1)


@dataclass
class MileageRun:
    """``mileage run`` on one data dir; each :meth:`start` appends to the same log."""

    data: Path
    log: Path
    citizens: int = 120
    anvil_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _offset: int = 0

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def rpc(self) -> str:
        return f"http://127.0.0.1:{self.anvil_port}"

    @property
    def state_file(self) -> Path:
        return self.data / "anvil-state.json"

    @property
    def pid_file(self) -> Path:
        return self.data / "anvil-state.pid"

    def output(self) -> str:
        """What the current (or last) start printed."""
        return self.log.read_bytes()[self._offset :].decode(errors="replace")

    def start(self, *args: str) -> MileageRun:
        env = {
            **os.environ,
            "MILEAGE_DATA_DIR": str(self.data),
            "MILEAGE_ANVIL_PORT": str(self.anvil_port),
            "MILEAGE_API_PORT": str(self.api_port),
        }
        for var in ("MILEAGE_RPC_URL", "MILEAGE_DATABASE_URL", "MILEAGE_CONTRACT_ADDRESS"):
            env.pop(var, None)
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [MILEAGE, "run", "--citizens", str(self.citizens), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def _exited(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(f"mileage run exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
        return False

    def wait_for(self, text: str, timeout: float = 300) -> None:
        """Wait until this start printed ``text`` (fails if the process exits first)."""
        poll(
            lambda: text in self.output() or self._exited(),
            f"mileage run did not print {text!r} (see {self.log})",
            timeout,
        )

    def wait_ready(self) -> None:
        """Wait until the API answers after the start printed its demo keys."""

        def ready() -> bool:
            if "Things to try" not in self.output() or self._exited():
                return False
            try:
                return httpx.get(f"{self.api}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        poll(
            ready,
            lambda: f"mileage run did not come up in 300 s:\n{self.output()[-4000:]}",
            timeout=300,
        )

    def node_pid_recorded(self) -> int:
        return int(self.pid_file.read_text().split()[0])

    def node_pids(self) -> list[int]:
        """Every running anvil on this data dir's state file (found by its command line)."""
        state = str(self.state_file.resolve()).encode()
        pids = []
        for proc in Path("/proc").iterdir():
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if proc.name.isdigit() and state in args and alive(int(proc.name)):
                pids.append(int(proc.name))
        return pids

    def signal(self, sig: signal.Signals) -> int:
        """Send ``sig`` to the mileage process only (as Docker does) and return its exit code."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"mileage run did not stop on {sig.name}:\n{self.output()[-4000:]}")

    def wallet(self) -> tuple[str, dict[str, str]]:
        """The demo account and the headers of its wallet key, as printed by this start."""
        text = self.output()
        account = re.findall(r"Demo account (0x[0-9a-f]{64})", text)[-1]
        key = re.search(r"Bearer (\S+)' \S+/balances", text[text.rindex("Things to try") :])
        assert key, text
        return account, {"Authorization": f"Bearer {key.group(1)}"}

    def balances(self) -> Any:
        account, headers = self.wallet()
        r = httpx.get(f"{self.api}/v1/accounts/{account}/balances", headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["balances"]

    def cleanup(self) -> None:
        """Leave nothing running, whatever the test did (the node is stopped by its pid)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        for pid in self.node_pids():
            os.kill(pid, signal.SIGKILL)
