"""Integrators through the HTTP API: conversions and deductions (idempotency, rules, failures)
and the operation rows the submitter takes them from."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, acct, assert_error

from api.client import ErrorAnswer
from bridge.client import to_bytes32
from ledger.adapters.orm import Operation

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)


def test_conversion_idempotency_and_flow(env: ApiEnv) -> None:
    env.grant("ECO_HOUSEHOLD", ALICE, [30_000])
    k = env.key("integrator")
    body = {
        "account": ALICE,
        "from_program": "ECO_HOUSEHOLD",
        "to_program": "SEOUL",
        "amount": 10_000,
    }
    r1 = env.post("/v1/conversions", k, body, "conv-1")
    assert r1.status_code == 201, r1.text
    op = r1.json()
    assert op["status"] == "pending" and op["tx_hash"] is None and op["kind"] == "conversion"
    r2 = env.post("/v1/conversions", k, body, "conv-1")
    assert r2.status_code == 200 and r2.json()["id"] == op["id"]
    assert_error(
        env.post("/v1/conversions", k, {**body, "amount": 10_001}, "conv-1"),
        409,
        "idempotency_conflict",
    )
    # another integrator's key space is separate
    k2 = env.key("integrator")
    assert env.post("/v1/conversions", k2, {**body, "amount": 1}, "conv-1").status_code == 201
    # balance check counts the pending debits: 30,000 - 10,000 - 1 left
    over = assert_error(
        env.post("/v1/conversions", k, {**body, "amount": 20_000}, "conv-2"),
        409,
        "insufficient_balance",
    )
    assert over["details"]["balance"] == 19_999 and over["details"]["amount"] == 20_000
    # routes
    assert_error(
        env.post(
            "/v1/conversions", k, {**body, "from_program": "SEOUL", "to_program": "CAR"}, "conv-3"
        ),
        422,
        "rule_violation",
    )
    assert_error(
        env.post("/v1/conversions", k, {**body, "to_program": "ECO_HOUSEHOLD"}, "conv-4"),
        422,
        "rule_violation",
    )
    # the bridge sends it; the client follows it to final
    env.submit("converter")
    env.index()
    c = env.client(k)
    final = c.conversion(op["id"])
    assert final["status"] == "final" and final["tx_hash"] and final["block_number"]
    assert_error(env.get(f"/v1/conversions/{op['id']}", k2), 403)
    assert_error(env.get(f"/v1/deductions/{op['id']}", k), 404)
    w = env.client(env.key("wallet", account=ALICE))
    b = {x["program"]: x["balance"] for x in w.balances(ALICE)["balances"]}
    assert b["ECO_HOUSEHOLD"] == 19_999 and b["SEOUL"] == 10_001
    kinds = [e["kind"] for e in w.history(ALICE)["entries"]]
    assert kinds.count("CONVERSION_IN") == 2 and kinds.count("CONVERSION_OUT") == 2


def test_deductions_rules(env: ApiEnv) -> None:
    env.grant("CAR", ALICE, [70_000])
    k = env.key("integrator")
    base = {"account": ALICE, "program": "CAR", "reason": "GIFT_CERTIFICATE", "reference": acct(99)}
    for bad in (5_000, 15_000, 60_000):
        body = assert_error(
            env.post("/v1/deductions", k, {**base, "amount": bad}, f"g{bad}"), 422, "rule_violation"
        )
        assert body["details"]["rule"] == "gift_certificate_units"
    assert_error(
        env.post("/v1/deductions", k, {**base, "reason": "EXPIRY", "amount": 1}, "x"),
        422,
        "validation_error",
    )
    ok = env.post("/v1/deductions", k, {**base, "amount": 50_000}, "gift-50k")
    assert ok.status_code == 201
    tax = env.post(
        "/v1/deductions",
        k,
        {**base, "reason": "TAX_PAYMENT", "amount": 20_000, "reference": acct(100)},
        "tax-1",
    )
    assert tax.status_code == 201
    assert_error(
        env.post(
            "/v1/deductions",
            k,
            {**base, "reason": "CASH", "amount": 1, "reference": acct(101)},
            "cash-1",
        ),
        409,
        "insufficient_balance",
    )
    env.submit("spender")
    env.index()
    c = env.client(k)
    assert c.deduction(ok.json()["id"])["status"] == "final"
    assert c.deduction(tax.json()["id"])["status"] == "final"
    assert env.deployed.client.balance_of(to_bytes32(ALICE), 3) == 0
    # once indexed, the mined debits leave the pending sum: nothing is counted twice
    env.grant("CAR", ALICE, [100])
    again = env.post(
        "/v1/deductions",
        k,
        {**base, "reason": "CASH", "amount": 100, "reference": acct(102)},
        "cash-2",
    )
    assert again.status_code == 201, again.text


def test_failed_operation_reports_error(env: ApiEnv) -> None:
    """The contract checks again: a debit the index allowed but the chain refuses ends failed."""
    env.grant("CAR", ALICE, [1_000])
    k = env.key("integrator")
    op = env.post(
        "/v1/deductions",
        k,
        {
            "account": ALICE,
            "program": "CAR",
            "amount": 1_000,
            "reason": "CASH",
            "reference": acct(5),
        },
        "d1",
    ).json()
    # a stale index: the chain already spent it (spend directly as the spender)
    from eth_account import Account as EthAccount

    d = env.deployed
    spender = EthAccount.from_key(d.spender_key)
    tx = {
        "from": spender.address,
        "to": d.address,
        "gasPrice": 0,
        "chainId": d.chain_id,
        "nonce": d.w3.eth.get_transaction_count(spender.address),
        "gas": 300_000,
        "data": d.client.call_data(
            "deduct", to_bytes32(ALICE), 3, 1_000, 3, to_bytes32(acct(6)), []
        ),
    }
    d.w3.eth.wait_for_transaction_receipt(
        d.w3.eth.send_raw_transaction(spender.sign_transaction(tx).raw_transaction)
    )
    env.submit("spender")
    got = env.client(k).deduction(op["id"])
    assert got["status"] == "failed" and "InsufficientBalance" in (got["error"] or "")


def test_operation_rows_for_submitter(env: ApiEnv) -> None:
    """The Operation row carries what the submitter needs (kind, programs, reason, reference)."""
    env.grant("ECO_ORG", ALICE, [100_000])
    k = env.key("integrator")
    env.post(
        "/v1/conversions", k, {"account": ALICE, "from_program": "ECO_ORG", "amount": 100}, "r1"
    )
    env.post(
        "/v1/deductions",
        k,
        {
            "account": ALICE,
            "program": "ECO_ORG",
            "amount": 100,
            "reason": "DONATION",
            "reference": acct(3),
        },
        "r2",
    )
    with env.factory() as s:
        ops = {o.kind: o for o in s.scalars(sa.select(Operation))}
    assert ops["conversion"].to_program == "SEOUL" and ops["conversion"].reason == "CONVERSION"
    assert ops["deduction"].reason == "DONATION" and ops["deduction"].reference == acct(3)
    with pytest.raises(ErrorAnswer) as err:
        env.client(k).conversion(acct(1))
    assert err.value.status == 404
