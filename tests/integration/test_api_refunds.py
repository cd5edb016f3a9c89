"""Refunds of deductions through the API, the bridge and the chain (anvil), and the verifier's
refund check on the real chain."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, acct

from bridge.client import to_bytes32
from bridge.verify import verify_ledger
from ledger.adapters.orm import Entry, Operation
from ledger.domain.codes import EntryKind

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)
CAR = 3


def error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code, body
    return dict(body)


def deduct(env: ApiEnv, key: str, amount: int, idem: str, settle: bool = True) -> str:
    resp = env.post(
        "/v1/deductions",
        key,
        {
            "account": ALICE,
            "program": "CAR",
            "amount": amount,
            "reason": "GIFT_CERTIFICATE",
            "reference": acct(len(idem)),
        },
        idem,
    )
    assert resp.status_code == 201, resp.text
    if settle:
        env.submit("spender")
        env.index()
    return str(resp.json()["id"])


def get(env: ApiEnv, path: str, key: str, lang: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    if lang == "csv":
        headers["Accept"] = "text/csv"
    elif lang:
        headers["Accept-Language"] = lang
    return env.http.get(path, headers=headers, **kw)


def balance(env: ApiEnv) -> int:
    return int(env.deployed.client.balance_of(to_bytes32(ALICE), CAR))


def test_deduct_refund_balance_back(env: ApiEnv) -> None:
    env.grant("CAR", ALICE, [70_000])
    k = env.key("integrator")
    ded = deduct(env, k, 50_000, "gift-1")
    assert balance(env) == 20_000
    part = env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 30_000}, "r1")
    assert part.status_code == 201, part.text
    body = part.json()
    assert (body["kind"], body["status"], body["deduction"], body["program"]) == (
        "refund",
        "pending",
        ded,
        "CAR",
    )
    assert body["account"] == ALICE and body["reason"] == "GIFT_CERTIFICATE"
    # the same key and body: the same refund (200); another body: 409
    again = env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 30_000}, "r1")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    error(
        env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 1}, "r1"),
        409,
        "idempotency_conflict",
    )
    env.submit("spender")
    env.index()
    assert balance(env) == 50_000
    status = env.get(f"/v1/deductions/{ded}/refunds/{body['id']}", k)
    assert status.status_code == 200 and status.json()["status"] == "final"
    assert status.json()["tx_hash"]
    # the rest of it, then nothing more
    rest = env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 20_000}, "r2")
    assert rest.status_code == 201, rest.text
    over = error(
        env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 1}, "r3"),
        409,
        "refund_exceeds_deduction",
    )
    assert over["details"]["refundable"] == 0 and over["details"]["deducted"] == 50_000
    env.submit("spender")
    env.index()
    assert balance(env) == 70_000
    chain = env.deployed.client.deduction_of(to_bytes32(ALICE), CAR, to_bytes32(ded))
    assert chain == (50_000, 50_000)
    # indexed: two REFUND entries referencing the deduction; the balances projection agrees
    with env.factory() as s:
        refs = s.scalars(
            sa.select(Entry.ref).where(
                Entry.account_id == ALICE, Entry.kind == int(EntryKind.REFUND)
            )
        ).all()
    assert refs == [ded, ded]
    w = env.client(env.key("wallet", account=ALICE))
    by = {x["program"]: x["balance"] for x in w.balances(ALICE)["balances"]}
    assert by["CAR"] == 70_000
    # refunded mileage is a lot of its own (dated at the refund): all 70,000 lapse some day
    assert w.expiring(ALICE, days=1830)["total"] == 70_000
    # settlement lists them (JSON and CSV), filtered by kind and by deduction
    page = env.get("/v1/operations", k, params={"kind": "refund"}).json()
    assert {o["id"] for o in page["operations"]} == {body["id"], rest.json()["id"]}
    assert all(o["deduction"] == ded for o in page["operations"])
    by_ded = env.get("/v1/operations", k, params={"deduction": ded}).json()["operations"]
    assert len(by_ded) == 2
    csv = get(env, "/v1/operations", k, "csv", params={"kind": "refund"})
    assert csv.status_code == 200 and csv.text.splitlines()[0].split(",")[9] == "deduction"
    assert csv.text.count(ded) == 2
    # the citizen's readable history says what it was
    auditor = env.key("auditor")
    path = f"/v1/accounts/{ALICE}/history"
    en = get(env, path, auditor, "en").json()["entries"]
    refunds = [e for e in en if e["kind"] == "REFUND"]
    assert len(refunds) == 2 and refunds[0]["direction"] == "credit"
    assert refunds[0]["kind_label"] == "Refunded (use cancelled)"
    assert refunds[0]["reason_label"] == "Gift certificate"
    assert "Gift certificate" in refunds[0]["description"]
    ko = env.get(path, auditor).json()["entries"]
    assert [e["kind_label"] for e in ko if e["kind"] == "REFUND"] == ["사용 취소 (환불)"] * 2


def test_refund_rejected_before_queuing(env: ApiEnv) -> None:
    env.grant("CAR", ALICE, [70_000])
    k = env.key("integrator")
    ded = deduct(env, k, 20_000, "gift-2")
    error(
        env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 20_001}, "o1"),
        409,
        "refund_exceeds_deduction",
    )
    # several parts: the queued (not yet mined) ones count
    assert env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 15_000}, "o2").status_code == 201
    error(
        env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 5_001}, "o3"),
        409,
        "refund_exceeds_deduction",
    )
    # unknown deduction: 404; a deduction not yet on the chain: 409
    error(env.post(f"/v1/deductions/{acct(404)}/refunds", k, {"amount": 1}, "o4"), 404, "not_found")
    pending = deduct(env, k, 10_000, "gift-3", settle=False)
    error(
        env.post(f"/v1/deductions/{pending}/refunds", k, {"amount": 1}, "o5"),
        409,
        "deduction_not_settled",
    )
    # a conversion is not a deduction
    error(
        env.post(f"/v1/deductions/{acct(7)}/refunds", k, {"amount": 0}, "o6"),
        422,
        "validation_error",
    )
    # no Idempotency-Key: 422
    resp = env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 1})
    assert resp.status_code == 422 and "Idempotency-Key" in resp.text


def test_other_integrator_cannot_refund_or_read(env: ApiEnv) -> None:
    env.grant("CAR", ALICE, [70_000])
    mine, theirs = env.key("integrator"), env.key("integrator")
    ded = deduct(env, mine, 10_000, "gift-4")
    error(env.post(f"/v1/deductions/{ded}/refunds", theirs, {"amount": 1}, "x1"), 403, "forbidden")
    error(
        env.post(f"/v1/deductions/{ded}/refunds", env.key("wallet", account=ALICE), {"amount": 1}),
        403,
        "forbidden",
    )
    ok = env.post(f"/v1/deductions/{ded}/refunds", mine, {"amount": 1_000}, "x2").json()
    error(env.get(f"/v1/deductions/{ded}/refunds/{ok['id']}", theirs), 403, "forbidden")
    assert (
        env.get(f"/v1/deductions/{ded}/refunds/{ok['id']}", env.key("auditor")).status_code == 200
    )
    error(env.get(f"/v1/deductions/{ded}/refunds/{acct(5)}", mine), 404, "not_found")
    assert env.get("/v1/operations", theirs, params={"kind": "refund"}).json()["operations"] == []


def test_chain_refuses_a_refund_the_database_let_through(env: ApiEnv) -> None:
    """The contract checks again: a refund row forged past the API's check fails on chain."""
    env.grant("CAR", ALICE, [70_000])
    k = env.key("integrator")
    ded = deduct(env, k, 10_000, "gift-5")
    resp = env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 10_000}, "f1")
    env.execute(
        sa.update(Operation).where(Operation.op_id == resp.json()["id"]).values(amount=10_001)
    )
    env.submit("spender")
    got = env.get(f"/v1/deductions/{ded}/refunds/{resp.json()['id']}", k).json()
    assert got["status"] == "failed" and "RefundExceedsDeduction" in (got["error"] or "")
    assert balance(env) == 60_000


def test_verifier_passes_real_refunds(env: ApiEnv) -> None:
    env.grant("CAR", ALICE, [70_000])
    k = env.key("integrator")
    ded = deduct(env, k, 30_000, "gift-6")
    c = env.client(k)
    op = c.refund(ded, 30_000, acct(0xCA), idempotency_key="v1")
    assert (op["kind"], op["deduction"], op["reference"]) == ("refund", ded, acct(0xCA))
    env.submit("spender")
    assert c.wait_final(op, timeout=5)["status"] == "final"
    d = env.deployed
    report = verify_ledger(d.url, d.address, accounts=[ALICE])
    assert [m for m in report.mismatches if m.field == "refund"] == []


def test_verifier_catches_a_refund_without_its_deduction(env: ApiEnv) -> None:
    """Through ``verify_ledger`` itself: a node that hides the DEDUCTION from the verifier's one
    read of the logs (as if the REFUND had been forged) makes the run report the refund."""
    from bridge.audit_consent import CONSENT_TOPIC
    from bridge.raw_reader import RawLedgerReader

    env.grant("CAR", ALICE, [70_000])
    k = env.key("integrator")
    ded = deduct(env, k, 10_000, "gift-7")
    env.post(f"/v1/deductions/{ded}/refunds", k, {"amount": 4_000}, "h1")
    env.submit("spender")

    class HidingReader(RawLedgerReader):
        def entry_logs_text(self, a: int, b: int, accounts: Any = None, **kw: Any) -> Any:
            assert kw == {"consent": True}  # one read: both events in one filter
            assert CONSENT_TOPIC in self._entry_filter(a, b, accounts, True)["topics"][0]
            return [
                lg
                for lg in self.entry_logs(a, b, accounts, **kw)
                if ded[2:] not in lg["data"]
                or int(lg["data"][2:66], 16) >> 48 & 0xFF != int(EntryKind.DEDUCTION)
            ]

    d = env.deployed
    with HidingReader(d.url, d.address) as rd:
        report = verify_ledger(d.url, d.address, accounts=[ALICE], reader=rd)
    bad = [m for m in report.mismatches if m.field == "refund"]
    assert [(m.account, m.actual) for m in bad] == [(ALICE, "none")]
    assert not report.ok


def test_card_points_deduction(env: ApiEnv) -> None:
    env.grant("CAR", ALICE, [10_000])
    k = env.key("integrator")
    body = {
        "account": ALICE,
        "program": "CAR",
        "amount": 3_000,
        "reason": "CARD_POINTS",
        "reference": acct(0xCA4D),
    }
    resp = env.post("/v1/deductions", k, body, "card-1")
    assert resp.status_code == 201, resp.text
    env.submit("spender")
    env.index()
    assert env.client(k).deduction(resp.json()["id"])["status"] == "final"
    with env.factory() as s:
        reason = s.scalar(
            sa.select(Entry.reason).where(
                Entry.account_id == ALICE, Entry.kind == int(EntryKind.DEDUCTION)
            )
        )
    assert reason == 14
    entries = get(env, f"/v1/accounts/{ALICE}/history", env.key("auditor"), "en").json()
    spent = [e for e in entries["entries"] if e["kind"] == "DEDUCTION"]
    assert spent[0]["reason"] == "CARD_POINTS"
    assert spent[0]["reason_label"] == "Card points conversion"
