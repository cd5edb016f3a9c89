"""The scaling part: gas and time per award at 10,000 / 100,000 / 1,000,000 accounts on chain."""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from bench_common import (
    BIKE,
    Env,
    group_cpu_seconds,
    say,
    scaled,
)
from eth_utils import keccak

from bridge.client import GrantItem, encode_grant_batch
from ledger.settings import ANVIL_DEV_KEY


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
