"""Start and supervise a local anvil node (the embedded default chain and the test chains).

anvil comes from npm (``@foundry-rs/anvil``); ``--state FILE`` loads the chain at start and dumps
it on exit, and ``--state-interval`` dumps it every few seconds so a crash loses at most that.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bridge.errors import ChainUnavailable

ROOT = Path(__file__).resolve().parent.parent


def anvil_binary() -> str:
    """Path to the anvil executable installed by ``npm ci``."""
    local = ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found:
        return found
    raise ChainUnavailable("anvil is not installed: run `npm ci` (or `make install`) first")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rpc_ready(url: str, timeout: float = 1.0) -> bool:
    """True if a JSON-RPC node answers ``eth_chainId`` at ``url``."""
    try:
        r = httpx.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            timeout=timeout,
        )
        return r.status_code == 200 and "result" in r.json()
    except (httpx.HTTPError, ValueError):
        return False


@dataclass
class AnvilProcess:
    """A supervised anvil process. Use as a context manager or call start()/stop()."""

    port: int = field(default_factory=free_port)
    state_file: Path | None = None
    chain_id: int = 31337
    block_time: float | None = None
    state_interval: int = 2
    gas_limit: int = 60_000_000
    log_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            anvil_binary(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--gas-limit",
            str(self.gas_limit),
            "--base-fee",
            "0",
            "--gas-price",
            "0",
            "--silent",
        ]
        if self.block_time:
            cmd += ["--block-time", str(self.block_time)]
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            cmd += [
                "--state",
                str(self.state_file),
                "--state-interval",
                str(self.state_interval),
                "--preserve-historical-states",
            ]
        return cmd + self.extra_args

    def start(self, timeout: float = 30.0) -> AnvilProcess:
        if rpc_ready(self.url, 0.3):
            raise ChainUnavailable(f"port {self.port} is already serving JSON-RPC; stop that node")
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainUnavailable(
                    f"anvil exited with code {self.proc.returncode} at start; see {self.log_file}"
                )
            if rpc_ready(self.url, 0.5):
                return self
            time.sleep(0.1)
        self.stop()
        raise ChainUnavailable(f"anvil did not answer on {self.url} within {timeout:.0f}s")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop gracefully (SIGINT: anvil dumps its state file), then kill if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
