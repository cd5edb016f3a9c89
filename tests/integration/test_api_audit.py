"""What auditors and monitors read through the HTTP API: the trail (and a doctored row), the
program totals, health, readiness and metrics."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, acct

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)
BOB = acct(0xB0B)


def test_trail_and_doctored_row(env: ApiEnv) -> None:
    env.grant("ECO_HOUSEHOLD", ALICE, [10_000, 30_000])
    env.grant("CAR", ALICE, [20_000])
    a = env.client(env.key("auditor"))
    t = a.trail(ALICE)
    assert t["verdict"] == "ok" and t["problems"] == []
    assert t["onchain"] == t["recomputed"] and t["onchain"]["count"] == 3
    assert all(e["link_ok"] for e in t["entries"])
    assert t["entries"][0]["prev_head"] == "0x" + "00" * 24
    assert t["entries"][1]["prev_head"] == t["entries"][0]["recomputed_head"]
    # a doctored database row: the amount of entry 2 changed
    from ledger.adapters.orm import Entry

    env.execute(
        sa.update(Entry).where(Entry.account_id == ALICE, Entry.seq == 2).values(amount=99_999)
    )
    bad = a.trail(ALICE)
    assert bad["verdict"] == "broken"
    assert not bad["entries"][1]["link_ok"] and bad["entries"][0]["link_ok"]
    assert any("on-chain head" in p for p in bad["problems"])
    # a deleted row
    env.execute(
        sa.update(Entry).where(Entry.account_id == ALICE, Entry.seq == 2).values(amount=30_000)
    )
    assert a.trail(ALICE)["verdict"] == "ok"
    env.execute(sa.delete(Entry).where(Entry.account_id == ALICE, Entry.seq == 3))
    gone = a.trail(ALICE)
    assert gone["verdict"] == "broken" and any("counts 3" in p for p in gone["problems"])


def test_program_totals(env: ApiEnv) -> None:
    env.grant("ECO_HOUSEHOLD", ALICE, [10_000])
    env.grant("ECO_HOUSEHOLD", BOB, [30_000])
    k = env.key("integrator")
    env.post(
        "/v1/conversions",
        k,
        {"account": BOB, "from_program": "ECO_HOUSEHOLD", "amount": 5_000},
        "p1",
    )
    env.submit("converter")
    env.index()
    out = env.client(env.key("auditor")).programs()
    assert out["verdict"] == "ok"
    eco = next(p for p in out["programs"] if p["program"] == "ECO_HOUSEHOLD")
    seoul = next(p for p in out["programs"] if p["program"] == "SEOUL")
    assert eco["indexed_balance"] == eco["onchain_balance"] == 35_000
    assert eco["onchain_granted"] == 40_000 and eco["used"] == 40_000
    assert eco["budget_left"] == eco["budget"] - 40_000
    assert seoul["indexed_balance"] == 5_000
    from ledger.adapters.orm import Balance

    env.execute(
        sa.update(Balance).where(Balance.account_id == BOB, Balance.program == 1).values(balance=1)
    )
    assert env.client(env.key("auditor")).programs()["verdict"] == "mismatch"


def test_health_ready_metrics(env: ApiEnv) -> None:
    assert env.get("/healthz").json()["status"] == "ok"
    r = env.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["indexer_lag"] == 0
    for _ in range(25):
        env.mine()
    env.app.state.ctx._head_cache = None
    lag = env.get("/readyz")
    assert lag.status_code == 503 and "lagging" in lag.json()["checks"]["indexer"]
    env.index()
    env.app.state.ctx._head_cache = None
    assert env.get("/readyz").status_code == 200
    env.get(f"/v1/accounts/{ALICE}/balances", env.key("auditor"))
    text = env.get("/metrics").text
    assert 'route="/v1/accounts/{account}/balances"' in text
    assert "mileage_api_request_duration_seconds_bucket" in text
