"""HTTP load on the API: uvicorn in a subprocess, wrk (else a Python load generator)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_common import (
    ROOT,
    group_cpu_seconds,
)

from bridge.anvil import free_port


# API load: uvicorn subprocess + wrk (or the Python load generator)
# =============================================================================================
@contextmanager
def serve_api(env_vars: dict[str, str], workers: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "api.main:app_factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    log = open(Path(env_vars["MILEAGE_DATA_DIR"]) / f"uvicorn-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, env=env_vars, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited ({proc.returncode}); see {log.name}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start; see {log.name}")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        import signal

        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


WRK_LUA = """
local key = "{key}"
local accounts = {{}}
for line in io.lines("{accounts}") do accounts[#accounts + 1] = line end
local n = #accounts
local hdr = {{ ["Authorization"] = "Bearer " .. key }}
function init(args)
  math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16) % 100000)
end
function request()
  return wrk.format("GET", "{prefix}" .. accounts[math.random(1, n)] .. "{suffix}", hdr)
end
"""


def _ms(text: str) -> float:
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
    for u in ("us", "ms", "s", "m"):
        if text.endswith(u):
            return float(text[: -len(u)]) * units[u]
    return float(text)


def load_test(
    url: str,
    key: str,
    accounts: list[str],
    suffix: str,
    seconds: float,
    connections: int,
    workdir: Path,
    cpu_groups: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Requests/s and latency percentiles for GET {url}/v1/accounts/{random account}{suffix};
    with ``cpu_groups`` ({name: process group}) also the CPU ms per request of each group."""
    groups = cpu_groups or {}
    cpu0: dict[str, float] = {}

    def cpu_start() -> None:
        cpu0.update({n: group_cpu_seconds(g) for n, g in groups.items()})

    def cpu_end(res: dict[str, Any]) -> dict[str, Any]:
        n = max(1, int(res.get("requests") or res["rps"] * seconds))
        for name, g in groups.items():
            res[f"cpu_ms_per_req_{name}"] = round((group_cpu_seconds(g) - cpu0[name]) / n * 1000, 3)
        return res

    acc_file = workdir / f"accounts-{len(accounts)}.txt"
    acc_file.write_text("\n".join(accounts) + "\n")
    wrk = None if os.environ.get("BENCH_NO_WRK") else shutil.which("wrk")
    if wrk:
        lua = workdir / f"wrk{suffix.replace('/', '-')}.lua"
        lua.write_text(
            WRK_LUA.format(key=key, accounts=acc_file, prefix="/v1/accounts/", suffix=suffix)
        )
        base = [wrk, "-t", "2", "-c", str(connections), "--latency", "-s", str(lua)]
        subprocess.run([*base, "-d", "2s", url], capture_output=True, check=True)  # warm-up
        cpu_start()
        out = subprocess.run(
            [*base, "-d", f"{int(seconds)}s", "--timeout", "10s", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        res: dict[str, Any] = {"tool": "wrk 4 (-t2)"}
        for line in out.splitlines():
            parts = line.split()
            if line.strip().startswith("Requests/sec:"):
                res["rps"] = float(parts[1])
            elif len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
                res[f"p{parts[0][:-1]}_ms"] = round(_ms(parts[1]), 2)
            elif "Non-2xx" in line:
                res["errors"] = int(parts[-1])
            elif "requests in" in line:
                res["requests"] = int(parts[0])
            elif line.strip().startswith("Socket errors"):
                res["socket_errors"] = line.strip()
        res.setdefault("errors", 0)
        return cpu_end(res)
    # Python load generator: 2 processes × connections/2 asyncio clients
    urls = workdir / "urls.txt"
    urls.write_text("\n".join(f"{url}/v1/accounts/{a}{suffix}" for a in accounts) + "\n")
    procs = 2
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_worker.py"), "load", str(urls), key]
    cpu_start()
    ps = [
        subprocess.Popen(
            [*cmd, str(seconds), str(connections // procs)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(procs)
    ]
    lat: list[float] = []
    errors = 0
    for p in ps:
        out = json.loads(p.communicate()[0])
        lat += out["latencies_ms"]
        errors += out["errors"]
    lat.sort()

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 2)

    return cpu_end(
        {
            "tool": "python httpx asyncio (2 processes)",
            "rps": len(lat) / seconds,
            "p50_ms": pct(0.5),
            "p90_ms": pct(0.9),
            "p99_ms": pct(0.99),
            "errors": errors,
            "requests": len(lat),
        }
    )
