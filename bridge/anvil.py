"""Start and supervise a local anvil node (the embedded default chain and the test chains).

anvil comes from npm (``@foundry-rs/anvil``); ``--state FILE`` loads the chain at start and dumps
it on exit (SIGTERM or SIGINT), and ``--state-interval`` dumps it every few seconds so a crash
loses at most that.

A node with a state file belongs to that file: it dies with its parent (see
:mod:`bridge.processes`), its pid is kept in ``<state file>.pid``, and a new start on the same
state file stops a node left over from an earlier run (it saves its state) and takes over. A node
on the port that is not ours is refused, never stopped.
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
import structlog

from bridge.errors import ChainUnavailable
from bridge.processes import (
    child_setup,
    command_line,
    read_pid_file,
    remove_pid_file,
    terminate,
    write_pid_file,
)
from bridge.rpc import JsonRpc, RpcError
from ledger.adapters.private_files import private_file

ROOT = Path(__file__).resolve().parent.parent
log = structlog.get_logger("mileage.anvil")


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
    """True if a JSON-RPC node answers ``eth_chainId`` at ``url`` (one try, no retries)."""
    with httpx.Client(timeout=timeout) as http:
        try:
            return JsonRpc(url, http=http).call("eth_chainId", []) is not None
        except RpcError:
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

    @property
    def pid_file(self) -> Path | None:
        """Where the node's pid is kept (beside its state file); None without a state file."""
        return None if self.state_file is None else self.state_file.with_suffix(".pid")

    def owns(self, pid: int) -> bool:
        """True if ``pid`` runs anvil on this node's state file (a pid file can be stale)."""
        args = command_line(pid)
        if not args or self.state_file is None or "--state" not in args[:-1]:
            return False
        state = Path(args[args.index("--state") + 1])
        return Path(args[0]).name == "anvil" and state == self.state_file.resolve()

    def take_over(self) -> bool:
        """Stop a node of an earlier run on the same state file (it dumps its state first).
        True if there was one. A node whose parent still runs (another process using the same
        state file) is not stopped: that is refused with :class:`ChainUnavailable`."""
        recorded = read_pid_file(self.pid_file) if self.pid_file else None
        if recorded is None or not self.owns(pid := recorded[0]):
            return False
        parent = recorded[1]
        if parent is not None and parent != os.getpid() and command_line(parent) is not None:
            raise ChainUnavailable(
                f"{self.state_file} is in use by process {parent} (its anvil, pid {pid}, "
                f"serves it): stop that process first, or use another data directory"
            )
        log.warning("anvil_left_over_stopped", pid=pid, state_file=str(self.state_file))
        terminate(pid)
        return True

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
                str(self.state_file.resolve()),
                "--state-interval",
                str(self.state_interval),
                "--preserve-historical-states",
            ]
        return cmd + self.extra_args

    def start(self, timeout: float = 30.0) -> AnvilProcess:
        self.take_over()
        if rpc_ready(self.url, 0.3):
            mine = f" and it is not the node of {self.state_file}" if self.state_file else ""
            raise ChainUnavailable(
                f"port {self.port} is already serving JSON-RPC{mine}: stop that node, or choose "
                "a free port for ours (MILEAGE_ANVIL_PORT)"
            )
        if self.state_file is not None and self.state_file.exists():
            private_file(self.state_file)
        log_start = self.log_file.stat().st_size if self.log_file and self.log_file.exists() else 0
        out = (
            open(private_file(self.log_file), "ab")  # noqa: SIM115
            if self.log_file
            else subprocess.DEVNULL
        )
        self.proc = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=child_setup(),  # only system calls: see bridge.processes
        )
        if not isinstance(out, int):
            out.close()  # the child has its own copy
        if self.pid_file is not None:
            write_pid_file(self.pid_file, self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainUnavailable(self._start_failure(log_start))
            if rpc_ready(self.url, 0.5):
                return self
            time.sleep(0.1)
        self.stop()
        raise ChainUnavailable(f"anvil did not answer on {self.url} within {timeout:.0f}s")

    def _start_failure(self, log_start: int) -> str:
        """Why anvil exited at start: its exit code and its error line (e.g. a state file cut
        short by a crash while anvil saved it), from what this start wrote to the log."""
        assert self.proc is not None
        message = f"anvil exited with code {self.proc.returncode} at start"
        if self.log_file is None:
            return message
        with self.log_file.open("rb") as fh:
            fh.seek(log_start)
            lines = fh.read().decode(errors="replace").splitlines()
        errors = [line.strip() for line in lines if line.lower().startswith("error")]
        if errors:
            message += f": {errors[-1]}"
        if self.state_file is not None and "state" in message:
            message += f" (restore {self.state_file} from a backup, or remove it: a new chain)"
        return f"{message}; see {self.log_file}"

    def stop(self, timeout: float = 20.0) -> int | None:
        """Stop gracefully (SIGINT: anvil dumps its state file), then kill if it hangs.
        Returns anvil's exit code (0: stopped cleanly, state saved); None if never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.pid_file is not None:
            remove_pid_file(self.pid_file, self.proc.pid)
        return self.proc.returncode

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
