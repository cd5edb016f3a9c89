"""Money is an integer; what the wallet sees as spendable is spendable (lapses at chain time);
every timestamp carries its zone; auditors follow operations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from api_harness import ApiEnv, acct

from bridge.client import to_bytes32

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)
VALIDITY = 157_766_400  # 1,826 days (contracts/README.md)


CONVERSION = {"account": ALICE, "from_program": "ECO_HOUSEHOLD", "to_program": "SEOUL"}
DEDUCTION = {"account": ALICE, "program": "ECO_HOUSEHOLD", "reason": "CASH", "reference": acct(9)}


@pytest.mark.parametrize(
    "path,base", [("/v1/conversions", CONVERSION), ("/v1/deductions", DEDUCTION)]
)
def test_amount_is_a_json_integer(env: ApiEnv, path: str, base: dict[str, Any]) -> None:
    env.grant("ECO_HOUSEHOLD", ALICE, [30_000])
    k = env.key("integrator")
    raw = {
        "true": "true",
        "string": '"100"',
        "exp": "1e3",
        "float": "1.0",
        "zero": "0",
        "negative": "-5",
        "too_big": str(2**40),
        "uint96": str(2**96),
    }
    for name, literal in raw.items():
        body = (
            '{"amount": '
            + literal
            + ", "
            + ", ".join(f'"{k_}": "{v}"' for k_, v in base.items())
            + "}"
        )
        r = env.http.post(
            path,
            content=body,
            headers={
                "Authorization": f"Bearer {k}",
                "Idempotency-Key": f"amt-{name}",
                "Content-Type": "application/json",
            },
        )
        assert r.status_code == 422, (name, r.text)
        assert r.json()["code"] == "validation_error", (name, r.text)
        assert "amount" in {e["field"] for e in r.json()["details"]["errors"]}, (name, r.text)
    ok = env.post(path, k, {**base, "amount": 1_000}, "amt-ok")
    assert ok.status_code == 201, ok.text


def _lapse(env: ApiEnv) -> None:
    """Move the chain past one validity period (no block is indexed after it)."""
    env.mine(VALIDITY + 86_400)


def test_lapsed_mileage_is_not_spendable(env: ApiEnv) -> None:
    """The case seen: /balances showed 29,000 and a conversion of 1,000 was accepted (201), then
    failed on chain with InsufficientBalance(balance=0). Now: spendable 0 and 409 naming the
    lapse; the contract agrees."""
    env.grant("ECO_HOUSEHOLD", ALICE, [29_000])
    granted_at = env.deployed.w3.eth.get_block("latest")["timestamp"]
    w = env.key("wallet", account=ALICE)
    before = {
        b["program"]: b for b in env.get(f"/v1/accounts/{ALICE}/balances", w).json()["balances"]
    }
    assert before["ECO_HOUSEHOLD"]["spendable"] == 29_000
    _lapse(env)
    # not indexed yet: the acceptance check reads the latest block's time itself
    k = env.key("integrator")
    r = env.post("/v1/conversions", k, {**CONVERSION, "amount": 1_000}, "lapsed-1")
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "mileage_lapsed"
    assert body["details"]["lapsed"] == 29_000 and body["details"]["spendable"] == 0
    since = datetime.fromisoformat(body["details"]["lapsed_since"].replace("Z", "+00:00"))
    assert int(since.timestamp()) == granted_at + VALIDITY
    assert "lapsed" in body["message"]
    r = env.post("/v1/deductions", k, {**DEDUCTION, "amount": 1_000}, "lapsed-2")
    assert r.status_code == 409 and r.json()["code"] == "mileage_lapsed", r.text
    env.index()
    got = env.get(f"/v1/accounts/{ALICE}/balances", w).json()
    eco = {b["program"]: b for b in got["balances"]}["ECO_HOUSEHOLD"]
    assert eco["balance"] == 29_000 and eco["spendable"] == 0 and eco["lapsed"] == 29_000
    assert eco["lapsed_since"] == body["details"]["lapsed_since"]
    assert eco["lapsed_since"].endswith("Z")
    assert got["convertible"] == 0
    # the contract agrees: the balance is still 29,000, but all of it would expire first
    c = env.deployed.client
    assert c.balance_of(to_bytes32(ALICE), 1) == 29_000
    now = env.deployed.w3.eth.get_block("latest")["timestamp"]
    assert c.function("expirableAt", to_bytes32(ALICE), 1, now, []).call() == 29_000


def test_lapse_checked_at_chain_time_without_indexing(env: ApiEnv) -> None:
    """The index may still stand before the time jump: acceptance uses the latest block's time."""
    env.grant("ECO_HOUSEHOLD", ALICE, [5_000])
    _lapse(env)
    env.grant("ECO_HOUSEHOLD", ALICE, [2_000])  # a fresh grant after the lapse
    k = env.key("integrator")
    r = env.post("/v1/conversions", k, {**CONVERSION, "amount": 3_000}, "part-1")
    assert r.status_code == 409 and r.json()["code"] == "mileage_lapsed", r.text
    d = r.json()["details"]
    assert (d["balance"], d["lapsed"], d["spendable"]) == (7_000, 5_000, 2_000)
    r = env.post("/v1/conversions", k, {**CONVERSION, "amount": 2_000}, "part-2")
    assert r.status_code == 201, r.text
    env.submit("converter")
    env.index()
    assert env.client(k).conversion(r.json()["id"])["status"] == "final"


def test_expiring_uses_chain_time(env: ApiEnv) -> None:
    env.grant("BIKE", ALICE, [1_000])
    a = env.key("auditor")
    assert env.get(f"/v1/accounts/{ALICE}/expiring?days=30", a).json()["total"] == 0
    env.mine(VALIDITY - 10 * 86_400)  # the chain is now 10 days before the lapse
    env.index()
    got = env.get(f"/v1/accounts/{ALICE}/expiring?days=30", a).json()
    assert got["total"] == 1_000, got
    as_of = datetime.fromisoformat(got["as_of"].replace("Z", "+00:00"))
    assert int(as_of.timestamp()) == env.deployed.w3.eth.get_block("latest")["timestamp"]


def test_timestamps_carry_their_zone_and_auditors_follow(env: ApiEnv) -> None:
    env.grant("ECO_HOUSEHOLD", ALICE, [10_000])
    k = env.key("integrator")
    body = {**CONVERSION, "amount": 1_000}
    first = env.post("/v1/conversions", k, body, "tz-1")
    replay = env.post("/v1/conversions", k, body, "tz-1")
    assert first.status_code == 201 and replay.status_code == 200
    op_id = first.json()["id"]
    answers = [first.json(), replay.json(), env.get(f"/v1/conversions/{op_id}", k).json()]
    for answer in answers:
        for field in ("created_at", "updated_at"):
            value = answer[field]
            assert value.endswith("Z"), (field, value)
            assert datetime.fromisoformat(value).tzinfo is not None
    auditor = env.key("auditor")
    got = env.get(f"/v1/conversions/{op_id}", auditor)
    assert got.status_code == 200, got.text
    assert got.json()["created_at"] == replay.json()["created_at"]
    d = env.post("/v1/deductions", k, {**DEDUCTION, "amount": 1_000}, "tz-2").json()
    assert env.get(f"/v1/deductions/{d['id']}", auditor).status_code == 200
    assert env.get(f"/v1/deductions/{d['id']}", auditor).json()["created_at"].endswith("Z")
