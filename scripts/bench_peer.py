"""What the mirror is compared with: the naive path (one transaction per award, a receipt
awaited each time: the worst case)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from bench_common import (
    BIKE,
    Env,
    say,
)
from eth_utils import keccak
from web3.types import RPCEndpoint

from bridge.client import GrantItem, encode_grant_batch
from ledger.settings import ANVIL_DEV_KEY


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


def peer_baseline(env: Env, n: int, inflight: int = 64) -> dict[str, Any]:
    """A fair peer: one transaction per award as a general-purpose token middleware sends them,
    pipelined. Nonces are assigned locally, each transaction is signed (eth_account) and sent
    at once while fewer than ``inflight`` are unconfirmed, and the receipts are collected per
    block (``eth_getBlockReceipts``) as the chain mines them, with the chain's interval mining
    as in the mirror part. The awards are the mirror run's first ``n`` (same accounts, program
    and amounts) under fresh award numbers: their accounts are on chain already, so the peer
    pays the cheaper existing-account gas, which favours it."""
    from eth_account import Account

    from ledger.adapters.orm import Award

    w3 = env.rt.w3
    acct = Account.from_key(ANVIL_DEV_KEY)
    chain_id = w3.eth.chain_id
    to = env.rt.client.address
    with env.rt.sessions() as s:
        rows = s.execute(
            sa.select(Award.account_id, Award.amount).order_by(Award.award_no).limit(n)
        ).all()
    grants = [
        GrantItem(
            bytes.fromhex(account[2:]), 60_000_000 + i, amount, keccak(text=f"peer-award|{i}")
        )
        for i, (account, amount) in enumerate(rows)
    ]
    n = len(grants)

    def rpc(method: str, params: list[Any]) -> Any:
        resp = w3.provider.make_request(RPCEndpoint(method), params)
        if "error" in resp:
            raise RuntimeError(f"{method}: {resp['error']}")
        return resp.get("result")

    # one gas estimate for the shape (a single grant), with the headroom a middleware adds
    gas = int(
        w3.eth.estimate_gas(
            {"from": acct.address, "to": to, "data": encode_grant_batch(BIKE, grants[:1])}
        )
        * 1.5
    )
    nonce = w3.eth.get_transaction_count(acct.address, "pending")
    say(f"peer: {n:,} awards, one transaction each, up to {inflight} in flight")
    unconfirmed: set[str] = set()
    sent = confirmed = gas_total = 0
    blocks = 0
    last_block = int(rpc("eth_blockNumber", []), 16)
    t0 = time.perf_counter()
    while confirmed < n:
        while sent < n and len(unconfirmed) < inflight:
            signed = acct.sign_transaction(
                {
                    "to": to,
                    "data": encode_grant_batch(BIKE, [grants[sent]]),
                    "gas": gas,
                    "gasPrice": 0,
                    "nonce": nonce,
                    "chainId": chain_id,
                    "value": 0,
                }
            )
            nonce += 1
            sent += 1
            h = rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
            unconfirmed.add(str(h).lower())
        head = int(rpc("eth_blockNumber", []), 16)
        if head == last_block:
            time.sleep(0.02)
            continue
        for number in range(last_block + 1, head + 1):
            blocks += 1
            for rc in rpc("eth_getBlockReceipts", [hex(number)]) or []:
                h = str(rc["transactionHash"]).lower()
                if h not in unconfirmed:
                    continue
                if int(rc["status"], 16) != 1:
                    raise RuntimeError(f"peer grant reverted in block {number}")
                unconfirmed.discard(h)
                confirmed += 1
                gas_total += int(rc["gasUsed"], 16)
        last_block = head
    secs = time.perf_counter() - t0
    say(f"peer: {n:,} awards in {secs:.1f}s over {blocks} blocks")
    return {
        "peer_awards": n,
        "peer_inflight": inflight,
        "peer_s": round(secs, 2),
        "peer_blocks": blocks,
        "peer_awards_per_s": round(n / secs, 1),
        "peer_gas_per_award": round(gas_total / n),
    }
