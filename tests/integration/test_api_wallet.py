"""The wallet's reads through the HTTP API: balances, history, what expires and when (FIFO, as
the contract does)."""

from __future__ import annotations

from datetime import datetime

import pytest
from api_harness import ApiEnv, acct

from bridge.client import to_bytes32
from ledger.adapters.orm import IndexCursor
from ledger.service.witness import live_lists

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)


def test_balances_history_expiring(env: ApiEnv) -> None:
    env.grant("ECO_HOUSEHOLD", ALICE, [30_000, 10_000])
    env.grant("CAR", ALICE, [20_000])
    w = env.client(env.key("wallet", account=ALICE))
    b = w.balances(ALICE)
    by = {x["program"]: x["balance"] for x in b["balances"]}
    assert by["ECO_HOUSEHOLD"] == 40_000 and by["CAR"] == 20_000 and by["SEOUL"] == 0
    assert b["total"] == 60_000 and b["seoul_mileage"] == 0 and b["convertible"] == 60_000
    chain = env.deployed.client.balances_of(to_bytes32(ALICE))
    assert chain[1] == 40_000 and chain[3] == 20_000
    with env.factory() as s:
        cur = s.get(IndexCursor, "entries")
    assert cur is not None
    assert b["anchor"] == {
        "chain_id": env.deployed.chain_id,
        "contract": env.deployed.address,
        "block_number": cur.block_number,
        "block_hash": cur.block_hash,
    }
    assert env.deployed.w3.eth.get_block(cur.block_number)["hash"].to_0x_hex() == cur.block_hash

    # history: newest first, cursor pagination, filters
    page1 = w.history(ALICE, limit=2)
    assert [e["seq"] for e in page1["entries"]] == [3, 2] and page1["next_cursor"]
    page2 = w.history(ALICE, limit=2, cursor=page1["next_cursor"])
    assert [e["seq"] for e in page2["entries"]] == [1] and page2["next_cursor"] is None
    assert len(w.all_history(ALICE, limit=1)) == 3
    car = w.history(ALICE, program="CAR")["entries"]
    assert [(e["program"], e["amount"], e["kind"]) for e in car] == [("CAR", 20_000, "GRANT")]
    assert w.history(ALICE, kind="DEDUCTION")["entries"] == []
    assert w.history(ALICE, since="2100-01-01T00:00:00Z")["entries"] == []

    # expiring: nothing within 60 days, everything within 5 years + a bit
    assert w.expiring(ALICE, days=60)["total"] == 0
    late = w.expiring(ALICE, days=1830)
    assert late["total"] == 60_000
    assert {p["program"]: p["amount"] for p in late["by_program"]} == {
        "ECO_HOUSEHOLD": 40_000,
        "CAR": 20_000,
    }


def test_expiring_follows_fifo_and_matches_contract(env: ApiEnv) -> None:
    """Two grants a year apart; a spend takes the older first; the expiring amount at each
    horizon equals the contract's own expirableAt."""
    env.grant("BIKE", ALICE, [2_000])
    env.mine(365 * 86400)
    env.grant("BIKE", ALICE, [1_500])
    integ = env.client(env.key("integrator"))
    op = integ.deduct(ALICE, "BIKE", 1_200, "BIKE_PASS", acct(7), idempotency_key="fifo-1")
    env.submit("spender")
    env.index()
    assert integ.deduction(op["id"])["status"] == "final"
    w = env.client(env.key("wallet", account=ALICE))
    now = env.deployed.w3.eth.get_block("latest")["timestamp"]
    # the older grant is a live checkpoint the chain keeps off-chain: rebuilt from the index
    live = live_lists(env.deployed.client, env.factory, ALICE, [4])[4]
    assert len(live) == 1 and env.deployed.client.position_of(to_bytes32(ALICE), 4).live == 1
    for days in (0, 30, 365 * 4, 365 * 4 + 200, 365 * 5 + 10, 365 * 6, 365 * 7):
        got = w.expiring(ALICE, days=days)
        horizon = int(datetime.fromisoformat(got["until"].replace("Z", "+00:00")).timestamp())
        at = max(horizon, now)
        expected = env.deployed.client.function(
            "expirableAt", to_bytes32(ALICE), 4, at, live
        ).call()
        assert got["total"] == expected, (days, got)
    # the older grant (800 left) lapses first
    lots = w.expiring(ALICE, days=365 * 7)["lots"]
    assert [lot["amount"] for lot in lots] == [800, 1_500]
