"""The embedded anvil node belongs to its parent and to its data directory (issue 13 item 4):

- it does not outlive its parent, even a parent killed with SIGKILL, and it saves its state then;
- a new start on the same state file stops a node left over from an earlier run and takes over
  its chain (pid file beside the state file); a pid file pointing at an unrelated process is
  ignored, never acted on;
- a node that is not ours on the port is refused with a message that names the port;
- its state, pid and log files are private (0600).

Waits poll with generous deadlines (a loaded 2-core machine): nothing asserts on a duration.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mileage_run import alive, poll  # type: ignore[import-not-found]

from bridge.anvil import AnvilProcess, free_port, rpc_ready
from bridge.errors import ChainUnavailable

pytestmark = pytest.mark.chain
ROOT = Path(__file__).resolve().parents[2]

# A parent that starts its node, prints the node's pid, then waits to be killed.
PARENT = """
import sys, time
from pathlib import Path
from bridge.anvil import AnvilProcess
node = AnvilProcess(port=int(sys.argv[1]), state_file=Path(sys.argv[2])).start()
print(node.proc.pid, flush=True)
time.sleep(600)
"""


def rpc(url: str, method: str, params: list[object] | None = None) -> object:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    return httpx.post(url, json=body, timeout=10).json()["result"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def lax_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_node_dies_with_a_sigkilled_parent_and_saves_its_state(tmp_path: Path) -> None:
    port, state = free_port(), tmp_path / "state.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(port), str(state)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    pid = 0
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        rpc(url, "anvil_mine", ["0x7"])
        parent.kill()  # SIGKILL: no cleanup code of the parent runs
        parent.wait(30)
        poll(lambda: not alive(pid), f"anvil {pid} outlived its SIGKILLed parent", timeout=30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(30)
        if pid and alive(pid):  # the old code leaves it running: do not leak it
            os.kill(pid, signal.SIGKILL)
    assert not rpc_ready(url, 0.5)
    assert int(json.loads(state.read_text())["block"]["number"], 16) == 7, "state not saved"
    with AnvilProcess(port=port, state_file=state) as node:
        assert int(str(rpc(node.url, "eth_blockNumber")), 16) == 7


def test_restart_stops_the_leftover_node_of_the_same_state_file_and_takes_over(
    tmp_path: Path, lax_umask: None
) -> None:
    port, state = free_port(), tmp_path / "state.json"
    old = AnvilProcess(port=port, state_file=state, log_file=tmp_path / "anvil.log").start()
    new = AnvilProcess(port=port, state_file=state, log_file=tmp_path / "anvil.log")
    try:
        assert old.proc is not None
        rpc(old.url, "anvil_mine", ["0x5"])
        new.start()  # the leftover (e.g. of a run killed before it could stop it) is stopped
        assert old.proc.poll() is not None, "the leftover node still runs"
        assert new.proc is not None and new.proc.pid != old.proc.pid
        assert int(str(rpc(new.url, "eth_blockNumber")), 16) == 5, "its chain was not taken over"
        pid_file = new.pid_file
        assert pid_file is not None
        assert pid_file.read_text().split() == [str(new.proc.pid), str(os.getpid())]
        for path in (state, pid_file, tmp_path / "anvil.log"):
            assert mode(path) == 0o600, path
    finally:
        new.stop()
        old.stop()
    assert not pid_file.exists(), "a clean stop leaves no pid file"


def test_a_node_that_is_not_ours_on_the_port_is_refused(tmp_path: Path) -> None:
    with AnvilProcess() as foreign:  # no state file: not the node of any data dir
        ours = AnvilProcess(port=foreign.port, state_file=tmp_path / "state.json")
        with pytest.raises(ChainUnavailable, match=rf"port {foreign.port} .*MILEAGE_ANVIL_PORT"):
            ours.start()
        assert rpc_ready(foreign.url), "the foreign node must be left alone"
        # a node of another state file is not ours either
        other = AnvilProcess(state_file=tmp_path / "other.json")
        with other:
            mine = AnvilProcess(port=other.port, state_file=tmp_path / "state.json")
            with pytest.raises(ChainUnavailable, match=f"port {other.port}"):
                mine.start()
            assert rpc_ready(other.url)


def test_a_stale_pid_file_never_stops_an_unrelated_process(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    bystander = subprocess.Popen(["sleep", "600"])
    try:
        node = AnvilProcess(state_file=state)
        assert node.pid_file is not None
        node.pid_file.write_text(f"{bystander.pid}\n")  # the pid was reused by another program
        with node:
            assert rpc_ready(node.url)
        assert bystander.poll() is None, "an unrelated process was signalled"
    finally:
        bystander.send_signal(signal.SIGKILL)
        bystander.wait(30)


def test_a_damaged_state_file_is_named_in_the_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with AnvilProcess(state_file=state):
        pass
    state.write_text(state.read_text()[:100])  # cut short, as by a crash while anvil saved it
    node = AnvilProcess(state_file=state, log_file=tmp_path / "anvil.log")
    with pytest.raises(ChainUnavailable, match=r"(?s)code 2 at start.*state.json.*parse json"):
        node.start()


def test_the_node_of_a_live_parent_is_not_taken_over(tmp_path: Path) -> None:
    """Two runs on one data dir: the second is refused, the first keeps its node."""
    port, state = free_port(), tmp_path / "state.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(port), str(state)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        second = AnvilProcess(port=port, state_file=state)
        with pytest.raises(ChainUnavailable, match=rf"in use by process {parent.pid}"):
            second.start()
        assert alive(pid) and rpc_ready(f"http://127.0.0.1:{port}")
    finally:
        parent.kill()
        parent.wait(30)
