"""The benchmarks of the ledger (issue 7): ``make bench`` = ``.venv/bin/python scripts/bench.py``.

Every part runs on its own fresh anvil chain and SQLite database in a temporary directory
(never ``.mileage/``) and writes its figures into ``bench/results.json`` (merged with the figures
of parts not run this time), then a table is printed.

Parts (``--only a,b``; default all):

- ``mirror``:  end to end for 100,000 BIKE awards over 50,000 accounts (members imported before
  the clock starts): feed import → outbox → ``grantBatch`` transactions on anvil → indexed.
  Twice, each on its own chain: with the phases one after the other (timed separately, for the
  profile), and as the ledger runs, the bridge (``bench_worker.py bridge``) already running in
  its own process while the feed is imported (``mirror_awards_per_s``). anvil mines a block
  every ``--block-time`` seconds (like QBFT's block period) with ``--mirror-gas-limit`` gas; the
  submitter keeps ``--max-inflight`` batches of ``--batch-size`` unconfirmed, so they share
  blocks. Then ``naive``: one web3.py transaction per award (build, sign, send, wait for the
  receipt, sequentially) on the first chain switched to a block per transaction, and the
  speedup. Gas per award is also measured from the receipts (month 1 new, month 2 existing).
- ``proof``:   GET /v1/accounts/{account}/proof (EIP-1186 proofs from the node) at concurrency
  32 against the mirror run's chain and accounts (runs the mirror first if it is not selected).
- ``gas``:     gas per award at batch 200, from bench/gas.json (scripts/bench_gas.py, run if
  missing).
- ``api``:     GET /v1/accounts/{account}/balances at concurrency 32 with 1,000,000 accounts in
  the database, uvicorn in a subprocess, wrk (else a Python load generator) in another.
- ``audit``:   the independent verifier's events/s (scripts/bench_audit.py if present, else
  ``bridge.verify.verify_ledger`` over the scaling chain).
- ``rss``:     peak RSS of the feed import and of the bridge (subprocesses) for a 1,000,000-row
  feed; the bridge is bounded in time (``--bridge-seconds``, default 60).
- ``scaling``: gas and wall time per award at 10,000 / 100,000 / 1,000,000 accounts already on
  chain (populated with batch-500 ``grantBatch`` calls sent directly).

``--scale 0.02`` shrinks every count (for a quick check on a busy machine); ``--profile`` writes
profiles to bench/profile-*.txt: pyinstrument on the mirror phases, py-spy on the API server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa
from bench_common import (
    ACCOUNT_KEY,
    BENCH_DIR,
    REF_KEY,
    ROOT,
    Env,
    bench_env,
    group_cpu_seconds,
    machine,
    run_measured,
    say,
    write_bike_feed,
    write_bike_members,
)
from eth_utils import keccak
from web3.types import RPCEndpoint

from bridge.anvil import free_port
from bridge.client import GrantItem, encode_grant_batch
from bridge.compile import main_artifact
from ledger.domain.codes import Program
from ledger.domain.rules.bike_payout import Cadence
from ledger.domain.types import YearMonth
from ledger.feeds import FeedOptions
from ledger.service.bike_accruals import pay
from ledger.settings import ANVIL_DEV_KEY

PARTS = ("mirror", "proof", "gas", "api", "audit", "rss", "scaling")
BIKE = int(Program.BIKE)

GOALS: dict[str, tuple[str, float]] = {
    # key: (direction, goal)
    "mirror_awards_per_s": (">=", 10_000),
    "mirror_speedup": (">=", 50),
    "gas_per_award_new": ("<=", 50_000),
    "gas_per_award_existing": ("<=", 15_000),
    "api_balance_rps": (">=", 2_000),
    "api_balance_p99_ms": ("<=", 25),
    "audit_events_per_s": (">=", 50_000),
    "import_peak_rss_mb": ("<=", 500),
    "bridge_peak_rss_mb": ("<=", 500),
}


def scaled(n: int, scale: float, minimum: int = 1) -> int:
    return max(minimum, round(n * scale))


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


# =============================================================================================
# mirror: import → submit → index, then the naive baseline on the same chain
# =============================================================================================
def part_mirror(
    env: Env, scale: float, prof: Profiler, naive_n: int, batch_size: int, max_inflight: int
) -> dict[str, Any]:
    from bridge.indexer import Indexer
    from bridge.signer import load_signer
    from bridge.submitter import Submitter
    from ledger.adapters.orm import Award, ChainTx, Entry
    from ledger.service.feeds import import_feed
    from ledger.service.members import import_members

    n_members = scaled(50_000, scale, 100)
    months = ["2025-05", "2025-06"]
    members_csv = write_bike_members(env.data_dir / "members.csv", n_members)
    feed = env.data_dir / "bike.csv"
    rows = write_bike_feed(feed, n_members, months)
    say(f"mirror: importing {n_members:,} members (before the clock starts)")
    t = time.perf_counter()
    mrep = import_members(env.rt.sessions, members_csv, env.rt.keys.account)
    members_s = time.perf_counter() - t
    assert mrep.accounts_created == n_members, mrep

    say(f"mirror: feed of {rows:,} rows: import → outbox")
    anvil_pgid = env.anvil.proc.pid if env.anvil.proc else 0

    cpu: dict[str, float] = {}
    a0 = group_cpu_seconds(anvil_pgid)
    c0 = time.process_time()
    t0 = time.perf_counter()
    with prof("mirror-import"):
        frep = import_feed(
            env.rt.sessions, Program.BIKE, feed, options=FeedOptions(award_key=env.rt.keys.award)
        )
        # BIKE accrues (docs/rules.md §2.4): a monthly payout makes one award per row again
        pay(env.rt.sessions, Cadence.MONTHLY, YearMonth(2025, 6), env.rt.keys.award)
    t1 = time.perf_counter()
    c1 = time.process_time()
    assert frep.recorded == rows and frep.rejected == 0, frep
    say(f"mirror: imported in {t1 - t0:.1f}s; submitting batches of {batch_size}")
    signer = load_signer(env.settings, "issuer-BIKE")
    sub = Submitter(
        env.rt.sessions,
        env.rt.client,
        signer,
        env.settings,
        programs=["BIKE"],
        operations=[],
        batch_size=batch_size,
        max_inflight=max_inflight,
    )
    a1 = group_cpu_seconds(anvil_pgid)
    with prof("mirror-submit"):
        srep = sub.run_until_idle(timeout=6 * 3600)
    t2 = time.perf_counter()
    c2 = time.process_time()
    a2 = group_cpu_seconds(anvil_pgid)
    say(f"mirror: submitted in {t2 - t1:.1f}s ({srep.txs_mined} txs); indexing")
    idx = Indexer(
        env.rt.sessions, env.rt.client, env.deployment.block_number, env.settings.confirmations
    )
    with prof("mirror-index"):
        indexed = idx.run_until_head()
    t3 = time.perf_counter()
    c3 = time.process_time()
    a3 = group_cpu_seconds(anvil_pgid)
    cpu = {
        "import_py": c1 - c0,
        "submit_py": c2 - c1,
        "submit_anvil": a2 - a1,
        "index_py": c3 - c2,
        "index_anvil": a3 - a2,
        "import_anvil": a1 - a0,
    }
    total = t3 - t0
    say(f"mirror: indexed {indexed:,} entries in {t3 - t2:.1f}s; end to end {total:.1f}s")

    with env.rt.sessions() as s:
        final = s.scalar(
            sa.select(sa.func.count()).select_from(Award).where(Award.status == "final")
        )
        entries = s.scalar(sa.select(sa.func.count()).select_from(Entry))
        # gas per award from the receipts: month 1 = new accounts, month 2 = existing ones
        per_tx = s.execute(
            sa.select(
                ChainTx.id,
                ChainTx.gas_used,
                sa.func.min(Award.period),
                sa.func.max(Award.period),
                sa.func.count(),
            )
            .join(Award, Award.tx_id == ChainTx.id)
            .where(ChainTx.status == "final")
            .group_by(ChainTx.id, ChainTx.gas_used)
        ).all()
        blocks = list(s.scalars(sa.select(ChainTx.block_number).where(ChainTx.status == "final")))
    if final != rows or entries != rows:
        raise RuntimeError(
            f"mirror incomplete: {final} final awards, {entries} entries, {rows} expected"
        )
    gas: dict[str, list[int]] = {"new": [0, 0], "existing": [0, 0]}
    batch_sizes = []
    for _id, gas_used, pmin, pmax, n in per_tx:
        batch_sizes.append(n)
        if pmin == pmax:
            g = gas["new" if pmin == months[0] else "existing"]
            g[0] += int(gas_used or 0)
            g[1] += n
    awards_per_s = rows / total

    # --- naive: one transaction per award, build + sign + send + wait, sequentially ---------
    # on the same chain, switched to a block per transaction (automine): the naive path's most
    # favourable mode, it never waits for a block period
    env.rt.w3.provider.make_request(RPCEndpoint("evm_setIntervalMining"), [0])
    env.rt.w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [True])
    naive = naive_baseline(env, naive_n)
    idx.run_until_head()  # the anchor of the proof part: a recent block (anvil prunes old ones)
    return {
        "mirror_awards": rows,
        "mirror_accounts": n_members,
        "mirror_members_import_s": round(members_s, 2),
        "mirror_import_s": round(t1 - t0, 2),
        "mirror_submit_s": round(t2 - t1, 2),
        "mirror_index_s": round(t3 - t2, 2),
        "mirror_total_s": round(total, 2),
        # phases one after the other; the headline figure (mirror_awards_per_s) is the
        # pipelined run (part_pipeline), this one is the fallback when it was not run
        "mirror_sequential_awards_per_s": round(awards_per_s, 1),
        "mirror_awards_per_s": round(awards_per_s, 1),
        "mirror_import_awards_per_s": round(rows / (t1 - t0), 1),
        "mirror_submit_awards_per_s": round(rows / (t2 - t1), 1),
        "mirror_index_awards_per_s": round(rows / (t3 - t2), 1),
        # CPU seconds per phase: the bench process (Python) and the anvil node; on a busy
        # machine wall time > CPU time, and CPU time is the cost that does not depend on load
        "mirror_cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "mirror_cpu_awards_per_s": round(rows / sum(cpu.values()), 1),
        "mirror_txs": len(per_tx),
        "mirror_batch_size": batch_size,
        "mirror_max_inflight": max_inflight,
        "mirror_block_time_s": env.anvil.block_time or 0,
        "mirror_block_gas_limit": env.anvil.gas_limit,
        "mirror_blocks": len({b for b in blocks if b is not None}),
        "mirror_simulations": srep.simulations,
        # batches the submitter wrongly believed replaced ("nonce used by another transaction")
        # and re-sent: the contract skips their awards (AwardSkipped), which also lowers the
        # average gas per award below bench/gas.json's figures
        "mirror_txs_replaced": srep.txs_replaced,
        "mirror_txs_resent": srep.txs_resent,
        "mirror_awards_skipped_on_chain": srep.awards_skipped,
        "mirror_gas_per_award_new": round(gas["new"][0] / gas["new"][1]) if gas["new"][1] else None,
        "mirror_gas_per_award_existing": (
            round(gas["existing"][0] / gas["existing"][1]) if gas["existing"][1] else None
        ),
        **naive,
        "mirror_speedup": round(awards_per_s / naive["naive_awards_per_s"], 1),
    }


def part_pipeline(
    env: Env, scale: float, batch_size: int, max_inflight: int, timeout: float = 6 * 3600
) -> dict[str, Any]:
    """End to end as the ledger runs: the bridge (submitter + indexer, ``bench_worker.py
    bridge``) already runs in its own process while the feed is imported, picking up each
    committed chunk of the outbox; the clock stops when the last entry is indexed."""
    from ledger.adapters.orm import Award, Entry
    from ledger.service.feeds import import_feed
    from ledger.service.members import import_members

    n_members = scaled(50_000, scale, 100)
    members_csv = write_bike_members(env.data_dir / "members.csv", n_members)
    feed = env.data_dir / "bike.csv"
    rows = write_bike_feed(feed, n_members, ["2025-05", "2025-06"])
    import_members(env.rt.sessions, members_csv, env.rt.keys.account)
    worker_env = {
        **env.env_vars(),
        "MILEAGE_BATCH_SIZE": str(batch_size),
        "MILEAGE_MAX_INFLIGHT": str(max_inflight),
    }
    worker = [sys.executable, str(ROOT / "scripts" / "bench_worker.py")]
    # the submitter and the indexer in their own processes, as they run in production
    procs = {
        kind: subprocess.Popen(
            [*worker, kind, str(timeout), str(rows)],
            env=worker_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for kind in ("submitter", "indexer")
    }
    outs: dict[str, dict[str, Any]] = {}
    try:
        time.sleep(3.0)  # the bridge is up and idle before the feed arrives, as in production
        say(f"pipeline: bridge running; importing {rows:,} awards while it mirrors them")
        t0 = time.perf_counter()
        frep = import_feed(
            env.rt.sessions, Program.BIKE, feed, options=FeedOptions(award_key=env.rt.keys.award)
        )
        # BIKE accrues (docs/rules.md §2.4): a monthly payout makes one award per row again
        pay(env.rt.sessions, Cadence.MONTHLY, YearMonth(2025, 6), env.rt.keys.award)
        t1 = time.perf_counter()
        say(f"pipeline: import done in {t1 - t0:.1f}s; waiting for the bridge")
        for kind, proc in procs.items():
            out, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"pipeline {kind} failed: {err.decode()[-2000:]}")
            outs[kind] = json.loads(out.decode().strip().splitlines()[-1])
        t2 = time.perf_counter()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    if frep.recorded != rows or any(o["bounded_by_time"] for o in outs.values()):
        raise RuntimeError(f"pipeline: not finished within {timeout:.0f}s ({frep}, {outs})")
    with env.rt.sessions() as s:
        final = s.scalar(
            sa.select(sa.func.count()).select_from(Award).where(Award.status == "final")
        )
        entries = s.scalar(sa.select(sa.func.count()).select_from(Entry))
    if final != rows or entries != rows:
        raise RuntimeError(f"pipeline incomplete: {final} final, {entries} entries of {rows}")
    total = t2 - t0
    say(f"pipeline: {rows:,} awards imported, mined and indexed in {total:.1f}s")
    return {
        "mirror_pipelined_awards": rows,
        "mirror_pipelined_s": round(total, 2),
        "mirror_pipelined_import_s": round(t1 - t0, 2),
        "mirror_pipelined_awards_per_s": round(rows / total, 1),
    }


def naive_baseline(env: Env, n: int) -> dict[str, Any]:
    """What a naive integration does: per award, build the transaction with web3.py (gas
    estimate, nonce), sign it, send it and wait for its receipt before the next one."""
    from eth_account import Account

    w3 = env.rt.w3
    acct = Account.from_key(ANVIL_DEV_KEY)
    client = env.rt.client
    say(f"naive: {n:,} awards, one transaction each")
    gas_total = 0
    t0 = time.perf_counter()
    for i in range(n):
        grant = (keccak(text=f"naive|{i}"), 50_000_000 + i, 1_000, keccak(text=f"naive-award|{i}"))
        tx = client.function("grantBatch", BIKE, [grant]).build_transaction(
            {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address)}
        )
        signed = acct.sign_transaction(tx)
        h = w3.eth.send_raw_transaction(signed.raw_transaction)
        rc = w3.eth.wait_for_transaction_receipt(h)
        if rc["status"] != 1:
            raise RuntimeError("naive grant reverted")
        gas_total += rc["gasUsed"]
    secs = time.perf_counter() - t0
    return {
        "naive_awards": n,
        "naive_s": round(secs, 2),
        "naive_awards_per_s": round(n / secs, 1),
        "naive_gas_per_award": round(gas_total / n),
    }


# =============================================================================================
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
    res = _load(url, key, accounts, suffix, seconds, connections, workdir, cpu_groups or {})
    return res


def _load(
    url: str,
    key: str,
    accounts: list[str],
    suffix: str,
    seconds: float,
    connections: int,
    workdir: Path,
    groups: dict[str, int],
) -> dict[str, Any]:
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


def part_api(
    base: Path, scale: float, seconds: float, workers: int, database_url: str | None, profile: bool
) -> dict[str, Any]:
    """Balance reads with 1,000,000 accounts in the database."""
    from api.auth import create_api_key
    from ledger.adapters.db import make_engine, make_sessionmaker, migrate
    from ledger.adapters.orm import Account, Balance, Deployment, IndexCursor

    n = scaled(1_000_000, scale, 1000)
    data_dir = base / "api"
    data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{(data_dir / 'ledger.db').resolve()}"
    if url.startswith("postgresql"):
        _reset_postgres(url)
    migrate(url)
    engine = make_engine(url)
    say(f"api: inserting {n:,} accounts with balances into {engine.dialect.name}")
    t = time.perf_counter()
    rng = random.Random(3)
    chunk = 20_000
    accounts_t = Account.__table__
    balances_t = Balance.__table__
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for start in range(0, n, chunk):
        ids = range(start + 1, min(n, start + chunk) + 1)
        acc_rows = [
            {
                "account_id": f"0x{i:064x}",
                "citizen_id": f"C{i:09d}",
                "district": f"D{i % 25:02d}",
                "donation_consent": False,
                "merged_into": None,
                "created_at": now,
            }
            for i in ids
        ]
        bal_rows = []
        for i in ids:
            bal_rows.append(
                {"account_id": f"0x{i:064x}", "program": BIKE, "balance": rng.randrange(1, 16_000)}
            )
            if i % 3 == 0:
                bal_rows.append(
                    {"account_id": f"0x{i:064x}", "program": 1, "balance": rng.randrange(1, 50_000)}
                )
            if i % 7 == 0:
                bal_rows.append(
                    {"account_id": f"0x{i:064x}", "program": 7, "balance": rng.randrange(1, 30_000)}
                )
        with engine.begin() as conn:
            conn.execute(sa.insert(accounts_t), acc_rows)
            conn.execute(sa.insert(balances_t), bal_rows)
        if (start // chunk) % 10 == 0:
            say(f"api: {min(n, start + chunk):,}/{n:,} accounts")
    with engine.begin() as conn:
        conn.execute(
            sa.insert(IndexCursor.__table__),
            [
                {
                    "name": "entries",
                    "block_number": 12_345,
                    "block_hash": "0x" + keccak(text="bench-block").hex(),
                }
            ],
        )
        conn.execute(
            sa.insert(Deployment.__table__),
            [
                {
                    "chain_id": 31337,
                    "address": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                    "block_number": 1,
                    "block_hash": "0x" + "11" * 32,
                    "abi_hash": main_artifact().abi_hash,
                    "deployer": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                    "created_at": now,
                }
            ],
        )
    insert_s = time.perf_counter() - t
    key = create_api_key(make_sessionmaker(engine), "bench-auditor", ["auditor"]).key
    engine.dispose()
    say(f"api: inserted in {insert_s:.1f}s; serving with uvicorn ({workers} worker(s))")
    env_vars = {
        **os.environ,
        "MILEAGE_DATA_DIR": str(data_dir),
        "MILEAGE_DATABASE_URL": url,
        "MILEAGE_RPC_URL": f"http://127.0.0.1:{free_port()}",
        "MILEAGE_ACCOUNT_KEY": ACCOUNT_KEY,
        "MILEAGE_REF_KEY": REF_KEY,
    }  # no node: reads only
    sample = [f"0x{rng.randrange(1, n + 1):064x}" for _ in range(min(n, 100_000))]
    with serve_api(env_vars, workers) as (api_url, pid):
        import httpx

        r = httpx.get(
            f"{api_url}/v1/accounts/{sample[0]}/balances",
            headers={"Authorization": f"Bearer {key}"},
        )
        if r.status_code != 200:
            raise RuntimeError(f"balance read failed: {r.status_code} {r.text[:300]}")
        say(f"api: load {seconds:.0f}s at concurrency 32")
        with spy(pid, seconds, "api-balance", enabled=profile):
            res = load_test(
                api_url, key, sample, "/balances", seconds, 32, data_dir, {"server": pid}
            )
    say(f"api: {res['rps']:,.0f} req/s, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms")
    return {
        "api_accounts": n,
        "api_database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "api_insert_s": round(insert_s, 1),
        "api_workers": workers,
        "api_load_tool": res["tool"],
        "api_balance_rps": round(res["rps"], 1),
        "api_balance_p50_ms": res["p50_ms"],
        "api_balance_p90_ms": res.get("p90_ms"),
        "api_balance_p99_ms": res["p99_ms"],
        "api_balance_errors": res["errors"],
        # server CPU per request: 1000 / this = req/s one worker sustains on a free core
        "api_balance_server_cpu_ms_per_req": res.get("cpu_ms_per_req_server"),
    }


def _reset_postgres(url: str) -> None:
    from ledger.adapters.db import make_engine

    eng = make_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    eng.dispose()


def part_proof(env: Env, seconds: float, workers: int, profile: bool) -> dict[str, Any]:
    """Reads with EIP-1186 proofs against the mirror run's chain and accounts."""
    from api.auth import create_api_key
    from ledger.adapters.orm import Account

    key = create_api_key(env.rt.sessions, "bench-proof", ["auditor"]).key
    with env.rt.sessions() as s:
        accounts = list(s.scalars(sa.select(Account.account_id).limit(20_000)))
    with serve_api(env.env_vars(), workers) as (api_url, pid):
        import httpx

        r = httpx.get(
            f"{api_url}/v1/accounts/{accounts[0]}/proof",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        if r.status_code != 200:
            raise RuntimeError(f"proof read failed: {r.status_code} {r.text[:300]}")
        say(f"proof: load {seconds:.0f}s at concurrency 32")
        with spy(pid, seconds, "api-proof", enabled=profile):
            res = load_test(
                api_url,
                key,
                accounts,
                "/proof",
                seconds,
                32,
                env.data_dir,
                {"server": pid, "anvil": env.anvil.proc.pid if env.anvil.proc else 0},
            )
    say(f"proof: {res['rps']:,.0f} req/s, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms")
    return {
        "api_verified_rps": round(res["rps"], 1),
        "api_verified_p50_ms": res["p50_ms"],
        "api_verified_p99_ms": res["p99_ms"],
        "api_verified_errors": res["errors"],
        "api_verified_server_cpu_ms_per_req": res.get("cpu_ms_per_req_server"),
        "api_verified_anvil_cpu_ms_per_req": res.get("cpu_ms_per_req_anvil"),
        "api_verified_accounts": len(accounts),
    }


# =============================================================================================
# gas, audit, rss, scaling
# =============================================================================================
def part_gas(refresh: bool) -> dict[str, Any]:
    path = BENCH_DIR / "gas.json"
    if refresh or not path.exists():
        say("gas: running scripts/bench_gas.py")
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "bench_gas.py")], cwd=ROOT, check=True
        )
    data = json.loads(path.read_text())
    row = next(r for r in data["rows"] if r["batch_size"] == 200)
    extra = {
        f"gas_per_award_{k.removesuffix('_per_award')}": v
        for k, v in row.items()
        if k.startswith("existing_") and k.endswith("_per_award")
    }
    return {
        "gas_per_award_new": row["new_per_award"],
        "gas_per_award_existing": row["existing_per_award"],
        **extra,  # e.g. existing_3rd, existing_steady, existing_spent (bench_gas's extra columns)
        "gas_source": "bench/gas.json (scripts/bench_gas.py, batch 200)",
        "gas_by_batch": {
            r["batch_size"]: {"new": r["new_per_award"], "existing": r["existing_per_award"]}
            for r in data["rows"]
        },
    }


def part_audit(base: Path, scale: float, scaling_env: dict[str, Any] | None) -> dict[str, Any]:
    script = ROOT / "scripts" / "bench_audit.py"
    if script.exists():
        say("audit: running scripts/bench_audit.py")
        # a reduced-scale run must not overwrite bench/audit.json (bench_audit's full figures)
        out_json = BENCH_DIR / "audit.json" if scale == 1 else base / "audit.json"
        before = out_json.stat().st_mtime if out_json.exists() else None
        proc = subprocess.run(
            [sys.executable, str(script), "--scale", str(scale), "--out", str(out_json)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        sys.stderr.write(proc.stderr[-3000:])
        found = _find_events_per_s(proc.stdout)
        if out_json.exists() and out_json.stat().st_mtime != before:
            found = found or _find_events_per_s(out_json.read_text())
        if proc.returncode == 0 and found:
            return {
                "audit_events_per_s": round(found["events_per_s"], 1),
                "audit_entries": found.get("entries"),
                "audit_accounts": found.get("accounts"),
                "audit_replay_events_per_s": found.get("replay_events_per_s"),
                "audit_ok": found.get("ok"),
                "audit_source": "scripts/bench_audit.py",
            }
        say(f"audit: bench_audit.py gave no events/s (exit {proc.returncode}); falling back")
    if scaling_env is None:
        return {
            "audit_note": "needs the scaling chain (run with --only scaling,audit) or "
            "scripts/bench_audit.py"
        }
    return {k: v for k, v in scaling_env.items() if k.startswith("audit_")}


def _find_events_per_s(text: str) -> dict[str, Any] | None:
    """The events/s figure in bench_audit.py's JSON output (any key naming events per s)."""
    for chunk in reversed([text, *text.splitlines()]):
        try:
            data = json.loads(chunk)
        except ValueError:
            continue
        found = _walk(data)
        if found:
            return found
    return None


def _walk(data: Any) -> dict[str, Any] | None:
    if isinstance(data, dict):
        if isinstance(data.get("events_per_s"), int | float):
            return {
                "events_per_s": float(data["events_per_s"]),
                "entries": data.get("entries"),
                "accounts": data.get("accounts"),
                "replay_events_per_s": data.get("replay_events_per_s"),
                "ok": data.get("ok"),
            }
        for v in data.values():
            found = _walk(v)
            if found:
                return found
    return None


def part_rss(env: Env, scale: float, bridge_seconds: float) -> dict[str, Any]:
    from ledger.service.members import import_members

    n_rows = scaled(1_000_000, scale, 1000)
    n_members = n_rows // 2
    say(f"rss: {n_members:,} members, feed of {n_rows:,} rows")
    members_csv = write_bike_members(env.data_dir / "members.csv", n_members)
    feed = env.data_dir / "bike.csv"
    write_bike_feed(feed, n_members, ["2025-05", "2025-06"])
    t = time.perf_counter()
    import_members(env.rt.sessions, members_csv, env.rt.keys.account)
    say(f"rss: members imported in {time.perf_counter() - t:.1f}s; import subprocess")
    worker = [sys.executable, str(ROOT / "scripts" / "bench_worker.py")]
    code, _wall, rss_import, out, err = run_measured(
        [*worker, "import", "BIKE", str(feed)], env.env_vars()
    )
    if code != 0:
        raise RuntimeError(f"import worker failed: {err[-2000:]}")
    imp = json.loads(out.strip().splitlines()[-1])
    say(
        f"rss: import {imp['recorded']:,} awards in {imp['seconds']:.1f}s, peak RSS "
        f"{imp.get('peak_rss_mb')} MiB; bridge subprocess (at most {bridge_seconds:.0f}s)"
    )
    code, _wall, rss_bridge, out, err = run_measured(
        [*worker, "bridge", str(bridge_seconds)], env.env_vars()
    )
    if code != 0:
        raise RuntimeError(f"bridge worker failed: {err[-2000:]}")
    br = json.loads(out.strip().splitlines()[-1])
    say(
        f"rss: bridge mined {br['awards_mined']:,} awards, indexed {br['entries_indexed']:,} in "
        f"{br['seconds']:.0f}s, peak RSS {br.get('peak_rss_mb')} MiB"
    )
    return {
        "rss_feed_rows": n_rows,
        # VmHWM reported by the worker itself; wait4's ru_maxrss would also count this (big)
        # process's image at the fork, so it is kept only as an upper bound
        "import_peak_rss_mb": imp.get("peak_rss_mb") or round(rss_import, 1),
        "import_peak_rss_mb_wait4_upper_bound": round(rss_import, 1),
        "import_rss_awards": imp["recorded"],
        "import_rss_s": round(imp["seconds"], 1),
        "bridge_peak_rss_mb": br.get("peak_rss_mb") or round(rss_bridge, 1),
        "bridge_peak_rss_mb_wait4_upper_bound": round(rss_bridge, 1),
        "bridge_rss_awards_mined": br["awards_mined"],
        "bridge_rss_entries_indexed": br["entries_indexed"],
        "bridge_rss_s": round(br["seconds"], 1),
        "bridge_rss_bounded": (
            f"bounded to {bridge_seconds:.0f}s: mined {br['awards_mined']:,} "
            f"of {imp['recorded']:,} awards"
            if br["bounded_by_time"]
            else "ran to completion"
        ),
    }


def part_scaling(env: Env, scale: float, measure_batches: int, audit: bool) -> dict[str, Any]:
    """Gas and wall time per award at growing numbers of accounts on chain."""
    from eth_account import Account

    w3 = env.rt.w3
    client = env.rt.client
    acct = Account.from_key(ANVIL_DEV_KEY)
    chain_id = w3.eth.chain_id
    anvil_pgid = env.anvil.proc.pid if env.anvil.proc else 0

    def rpc(method: str, params: list[Any]) -> Any:
        resp = w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in resp:
            raise RuntimeError(f"{method}: {resp['error']}")
        return resp.get("result")

    nonce = w3.eth.get_transaction_count(acct.address, "pending")
    award_no = 1
    # each point needs room for disjoint windows of 200 existing accounts populated just before it
    floor = 200 * (measure_batches + 1)
    targets: list[int] = []
    for t in (10_000, 100_000, 1_000_000):
        targets.append(max(scaled(t, scale), (targets[-1] if targets else 0) + floor))
    on_chain = 0

    def send(items: list[GrantItem], gas: int, wait: bool = True) -> tuple[Any, float]:
        nonlocal nonce
        t = time.perf_counter()
        data = encode_grant_batch(BIKE, items)
        signed = acct.sign_transaction(
            {
                "to": client.address,
                "data": data,
                "gas": gas,
                "gasPrice": 0,
                "nonce": nonce,
                "chainId": chain_id,
                "value": 0,
            }
        )
        nonce += 1
        h = w3.eth.send_raw_transaction(signed.raw_transaction)
        rc = w3.eth.wait_for_transaction_receipt(h) if wait else h
        return rc, time.perf_counter() - t

    def grants(accounts: range, tag: str) -> list[GrantItem]:
        nonlocal award_no
        out = []
        for i in accounts:
            out.append(
                GrantItem(keccak(text=f"acct|{i}"), award_no, 100, keccak(text=f"{tag}|{award_no}"))
            )
            award_no += 1
        return out

    points = []
    pop_time = 0.0
    pop_gas = 0
    prev_target = 0
    for target in targets:
        say(f"scaling: populating to {target:,} accounts (batch 500)")
        t = time.perf_counter()
        # anvil 1.7 rebuilds the whole state trie for every block (O(state), see the README):
        # populate with 20 transactions of 500 grants per block (automine off, evm_mine)
        rpc("evm_setAutomine", [False])
        try:
            pending = []
            while on_chain < target:
                hi = min(target, on_chain + 500)
                _h, _ = send(grants(range(on_chain, hi), "pop"), 45_000_000, wait=False)
                pending.append(_h)
                on_chain = hi
                if len(pending) >= 20 or on_chain >= target:
                    rpc("evm_mine", [])
                    pop_gas += _check(w3, pending)
                    pending = []
                if on_chain % 50_000 == 0:
                    say(f"scaling: {on_chain:,} accounts on chain")
        finally:
            rpc("evm_setAutomine", [True])
        pop_time += time.perf_counter() - t
        rpc("evm_increaseTime", [86_400])
        row: dict[str, Any] = {"accounts_on_chain": on_chain}
        next_new = 10**9 + on_chain * 10
        # existing accounts: disjoint windows of 200 among the accounts populated for this point
        # (one grant each, one day earlier: every point measures accounts of the same history)
        first = prev_target // 200 + (1 if prev_target % 200 else 0)
        windows = random.Random(on_chain).sample(range(first, on_chain // 200), measure_batches + 1)
        for label in ("new", "existing"):
            gas_sum = 0
            times: list[float] = []
            anvil_cpu = 0.0
            for b in range(measure_batches + 1):  # the first batch of each kind warms up
                if label == "new":
                    rng_ = range(next_new, next_new + 200)
                    next_new += 200
                else:
                    rng_ = range(windows[b] * 200, windows[b] * 200 + 200)
                items = grants(rng_, label)
                a0 = group_cpu_seconds(anvil_pgid)
                rc, dt = send(items, 20_000_000)
                if rc["status"] != 1:
                    raise RuntimeError("scaling grant reverted")
                if b:
                    gas_sum += rc["gasUsed"]
                    times.append(dt)
                    anvil_cpu += group_cpu_seconds(anvil_pgid) - a0
            row[f"gas_per_award_{label}"] = round(gas_sum / (200 * measure_batches))
            row[f"us_per_award_{label}"] = round(statistics.median(times) / 200 * 1e6, 1)
            # the node's CPU per award: the chain's own cost, independent of machine load
            row[f"anvil_cpu_us_per_award_{label}"] = round(
                anvil_cpu / (200 * measure_batches) * 1e6, 1
            )
        # what a block costs the node apart from its awards: an empty block, then one block of
        # 10 batches of 200 new accounts; their difference / 2,000 is the marginal time per award
        rpc("evm_setAutomine", [False])
        try:
            a0, t = group_cpu_seconds(anvil_pgid), time.perf_counter()
            rpc("evm_mine", [])
            empty_s, empty_cpu = time.perf_counter() - t, group_cpu_seconds(anvil_pgid) - a0
            pending = []
            for _ in range(10):
                h, _ = send(grants(range(next_new, next_new + 200), "block"), 20_000_000, False)
                pending.append(h)
                next_new += 200
            a0, t = group_cpu_seconds(anvil_pgid), time.perf_counter()
            rpc("evm_mine", [])
            full_s, full_cpu = time.perf_counter() - t, group_cpu_seconds(anvil_pgid) - a0
            _check(w3, pending)
        finally:
            rpc("evm_setAutomine", [True])
        row["empty_block_ms"] = round(empty_s * 1000, 1)
        row["anvil_cpu_ms_empty_block"] = round(empty_cpu * 1000, 1)
        row["us_per_award_marginal"] = round(max(full_s - empty_s, 0.0) / 2000 * 1e6, 1)
        row["anvil_cpu_us_per_award_marginal"] = round(
            max(full_cpu - empty_cpu, 0.0) / 2000 * 1e6, 1
        )
        say(f"scaling: {row}")
        points.append(row)
        prev_target = target
    out: dict[str, Any] = {
        "scaling": points,
        "scaling_populate_grants_per_s": round(on_chain / pop_time, 1) if pop_time else None,
        "scaling_populate_gas_per_award": round(pop_gas / on_chain) if on_chain else None,
    }
    for kind in ("new", "existing"):
        g = [p[f"gas_per_award_{kind}"] for p in points]
        u = [p[f"us_per_award_{kind}"] for p in points]
        out[f"scaling_gas_drift_pct_{kind}"] = round((max(g) - min(g)) / min(g) * 100, 2)
        out[f"scaling_time_drift_pct_{kind}"] = round((max(u) - min(u)) / min(u) * 100, 1)
    # 0 = below the resolution (the block's own cost, seconds at 1,000,000 accounts, varies by
    # more than the 2,000 awards add): left out of the drift
    m = [p["us_per_award_marginal"] for p in points if p["us_per_award_marginal"] > 0]
    if len(m) > 1:
        out["scaling_marginal_time_drift_pct"] = round((max(m) - min(m)) / min(m) * 100, 1)
    out["scaling_gas_drift_pct"] = max(
        out["scaling_gas_drift_pct_new"], out["scaling_gas_drift_pct_existing"]
    )
    out["scaling_time_drift_pct"] = max(
        out["scaling_time_drift_pct_new"], out["scaling_time_drift_pct_existing"]
    )
    if audit:
        from bridge.verify import verify_ledger

        say("audit (fallback): verify_ledger over the scaling chain")
        rep = verify_ledger(
            env.rpc_url, env.deployment.address, from_block=env.deployment.block_number
        )
        if not rep.ok:
            raise RuntimeError(f"verifier found mismatches: {rep.mismatches[:3]}")
        out["audit_events_per_s"] = round(rep.events_per_second, 1)
        out["audit_entries"] = rep.entries
        out["audit_s"] = round(rep.seconds, 2)
        out["audit_source"] = "bridge.verify.verify_ledger over the scaling chain"
        say(f"audit: {rep.summary()}")
    return out


def _check(w3: Any, hashes: list[Any]) -> int:
    gas = 0
    for h in hashes:
        rc = w3.eth.wait_for_transaction_receipt(h)
        if rc["status"] != 1:
            raise RuntimeError("populating grant reverted")
        gas += rc["gasUsed"]
    return gas


# =============================================================================================
# results
# =============================================================================================
def verdict(key: str, value: Any) -> str:
    if key not in GOALS or not isinstance(value, int | float):
        return ""
    op, goal = GOALS[key]
    ok = value >= goal if op == ">=" else value <= goal
    return f"{op} {goal:,.0f}  {'met' if ok else 'MISSED'}"


TABLE = [
    ("mirror_awards_per_s", "awards/s end to end (bridge running during import)"),
    ("mirror_pipelined_import_s", "  import, s (bridge mirroring meanwhile)"),
    ("mirror_pipelined_s", "  import to last entry indexed, s"),
    ("mirror_sequential_awards_per_s", "awards/s with the phases one after the other"),
    ("mirror_import_s", "  import phase, s"),
    ("mirror_submit_s", "  submit phase, s"),
    ("mirror_index_s", "  index phase, s"),
    ("naive_awards_per_s", "naive: one tx per award, awards/s"),
    ("mirror_speedup", "speedup mirror / naive"),
    ("gas_per_award_new", "gas per award, new account (batch 200)"),
    ("gas_per_award_existing", "gas per award, existing account (batch 200)"),
    ("gas_per_award_existing_steady", "  existing, unspent balance, steady state (bench_gas)"),
    ("gas_per_award_existing_spent", "  existing, balance spent before (bench_gas)"),
    ("mirror_gas_per_award_new", "  measured in the mirror run, new"),
    ("mirror_gas_per_award_existing", "  measured in the mirror run, existing"),
    ("api_balance_rps", "balance reads, req/s (c=32)"),
    ("api_balance_p50_ms", "  p50 ms"),
    ("api_balance_p99_ms", "  p99 ms"),
    ("api_verified_rps", "reads with proofs, req/s (c=32)"),
    ("api_verified_p99_ms", "  p99 ms"),
    ("audit_events_per_s", "verifier events/s"),
    ("import_peak_rss_mb", "feed import peak RSS, MiB"),
    ("bridge_peak_rss_mb", "bridge peak RSS, MiB"),
    ("scaling_gas_drift_pct", "gas per award drift 10k→1M accounts, % (max)"),
    ("scaling_time_drift_pct", "time per award drift 10k→1M accounts, % (max)"),
    ("scaling_marginal_time_drift_pct", "  marginal time per award (block cost apart), %"),
]


def print_table(res: dict[str, Any]) -> None:
    m = res.get("machine", {})
    print(
        f"\nmachine: {m.get('cpu')} × {m.get('cores')} cores, {m.get('ram_gb')} GB, "
        f"Python {m.get('python')}, {m.get('anvil')}"
    )
    print(f"{'figure':<46} {'value':>14}  goal")
    print("-" * 84)
    for key, label in TABLE:
        if key not in res:
            continue
        v = res[key]
        sv = f"{v:,.1f}" if isinstance(v, float) else (f"{v:,}" if isinstance(v, int) else str(v))
        scale = res.get("scales", {}).get(key)
        mark = f"  (scale {scale})" if scale not in (None, 1, 1.0) else ""
        print(f"{label:<46} {sv:>14}  {verdict(key, v)}{mark}")
    for p in res.get("scaling", []):
        print(
            f"  scaling @ {p['accounts_on_chain']:>9,} accounts: gas/award new "
            f"{p['gas_per_award_new']:,} existing {p['gas_per_award_existing']:,}; "
            f"µs/award new {p['us_per_award_new']:,} existing {p['us_per_award_existing']:,}; "
            f"anvil CPU µs/award new {p.get('anvil_cpu_us_per_award_new')} "
            f"existing {p.get('anvil_cpu_us_per_award_existing')}; empty block "
            f"{p.get('empty_block_ms')} ms; marginal µs/award {p.get('us_per_award_marginal')}"
        )
    if "bridge_rss_bounded" in res:
        print(f"  bridge RSS run: {res['bridge_rss_bounded']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts: {', '.join(PARTS)} (default: all)",
    )
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every count (0.02: quick)")
    ap.add_argument("--api-seconds", type=float, default=30.0, help="duration of each API load")
    ap.add_argument(
        "--api-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="uvicorn worker processes (default: one per core)",
    )
    ap.add_argument(
        "--api-database-url",
        default=None,
        help="database for the api part (default SQLite; a postgresql+psycopg URL is WIPED first)",
    )
    ap.add_argument(
        "--bridge-seconds",
        type=float,
        default=60.0,
        help="time bound of the bridge in the rss part",
    )
    ap.add_argument("--naive", type=int, default=None, help="naive sample size (default 500×scale)")
    ap.add_argument(
        "--scaling-batches",
        type=int,
        default=5,
        help="measured batches of 200 per point and kind in the scaling part",
    )
    ap.add_argument(
        "--batch-size", type=int, default=500, help="awards per grantBatch in the mirror part"
    )
    ap.add_argument(
        "--block-time",
        type=float,
        default=1.0,
        help="mirror chain: a block every so many seconds, like QBFT's period (0: one per tx)",
    )
    ap.add_argument(
        "--mirror-gas-limit",
        type=int,
        default=1_000_000_000,
        help="mirror chain: block gas limit (1 G: the chain is not the limit; the capacity "
        "plan's 100 M per 2 s caps a chain at ~1,000-1,300 awards/s)",
    )
    ap.add_argument(
        "--max-inflight",
        type=int,
        default=16,
        help="mirror part: batches the submitter keeps unconfirmed (they share a block)",
    )
    ap.add_argument("--refresh-gas", action="store_true", help="re-run scripts/bench_gas.py")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="profile: pyinstrument on the mirror phases, py-spy on the API server",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "results.json")
    args = ap.parse_args(argv)
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    bad = [p for p in only if p not in PARTS]
    if bad:
        ap.error(f"unknown parts {bad}; choose from {', '.join(PARTS)}")
    BENCH_DIR.mkdir(exist_ok=True)
    os.environ.setdefault("MILEAGE_LOG_JSON", "false")
    _quiet_logs()

    results: dict[str, Any] = {}
    if args.out.exists():
        try:
            results = json.loads(args.out.read_text())
        except ValueError:
            results = {}
    results["machine"] = machine()
    results.setdefault("scales", {})
    results.setdefault("measured_at", {})
    prof = Profiler(args.profile)
    base = Path(tempfile.mkdtemp(prefix="mileage-bench-"))
    say(f"bench: parts {', '.join(only)} at scale {args.scale}; temp dir {base}")

    def record(part: str, figures: dict[str, Any]) -> None:
        # merge into the file as it is now (another bench run may have written other parts)
        if args.out.exists():
            try:
                current = json.loads(args.out.read_text())
            except ValueError:
                current = {}
            for k, v in current.items():
                if k not in ("machine", "scales", "measured_at", "profiles"):
                    results.setdefault(k, v)
                elif isinstance(v, dict) and k != "machine":
                    results[k] = {**v, **results.get(k, {})}
        results.update(figures)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for k in figures:
            results["scales"][k] = args.scale
            results["measured_at"][k] = stamp
        results["machine"]["loadavg_at_end"] = list(os.getloadavg())
        if prof.files:
            results["profiles"] = {**results.get("profiles", {}), **prof.files}
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        say(f"{part}: done, results in {args.out}")

    failures: list[str] = []

    def run(part: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        try:
            figures = fn()
        except Exception as exc:
            import traceback

            traceback.print_exc()
            failures.append(f"{part}: {type(exc).__name__}: {exc}")
            return None
        record(part, figures)
        return figures

    try:
        naive_n = args.naive or scaled(500, args.scale, 100)
        if "gas" in only:
            run("gas", lambda: part_gas(args.refresh_gas))
        mirrored: dict[str, Any] | None = None
        if "mirror" in only or "proof" in only:
            with bench_env(
                base, "mirror", block_time=args.block_time or None, gas_limit=args.mirror_gas_limit
            ) as env:
                # the proof part reads the mirror run's chain and accounts: it needs the mirror
                mirrored = run(
                    "mirror",
                    lambda: part_mirror(
                        env, args.scale, prof, naive_n, args.batch_size, args.max_inflight
                    ),
                )
                if "proof" in only and mirrored is not None:
                    run(
                        "proof",
                        lambda: part_proof(env, args.api_seconds, args.api_workers, args.profile),
                    )
        if "mirror" in only:
            with bench_env(
                base,
                "pipeline",
                block_time=args.block_time or None,
                gas_limit=args.mirror_gas_limit,
            ) as env:
                piped = run(
                    "pipeline",
                    lambda: part_pipeline(env, args.scale, args.batch_size, args.max_inflight),
                )
            if piped is not None and mirrored is not None:
                rate = piped["mirror_pipelined_awards_per_s"]
                record(
                    "mirror",
                    {
                        "mirror_awards_per_s": rate,
                        "mirror_speedup": round(rate / mirrored["naive_awards_per_s"], 1),
                    },
                )
        if "api" in only:
            run(
                "api",
                lambda: part_api(
                    base,
                    args.scale,
                    args.api_seconds,
                    args.api_workers,
                    args.api_database_url,
                    args.profile,
                ),
            )
        if "rss" in only:
            with bench_env(base, "rss") as env:
                run("rss", lambda: part_rss(env, args.scale, args.bridge_seconds))
        scaling_figs = None
        if "scaling" in only:
            # 1 G gas per block: 20 populating transactions of 37.5 M gas fit one block
            with bench_env(base, "scaling", gas_limit=1_000_000_000) as env:
                scaling_figs = run(
                    "scaling",
                    lambda: part_scaling(
                        env,
                        args.scale,
                        args.scaling_batches,
                        audit="audit" in only and not (ROOT / "scripts/bench_audit.py").exists(),
                    ),
                )
        if "audit" in only:
            run("audit", lambda: part_audit(base, args.scale, scaling_figs))
    finally:
        if args.keep:
            say(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print_table(results)
    if failures:
        print("\nFAILED PARTS:\n  " + "\n  ".join(failures))
        return 1
    return 0


def _quiet_logs() -> None:
    """The bridge logs every batch at info level; the bench prints its own progress."""
    import logging

    import structlog

    logging.getLogger().setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


if __name__ == "__main__":
    sys.exit(main())
