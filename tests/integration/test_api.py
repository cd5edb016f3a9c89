"""The HTTP API against a real anvil chain, the real bridge and real databases (both)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, acct, make_env

from api.client import ErrorAnswer
from bridge.client import to_bytes32
from ledger.adapters.orm import ApiKey, Award, AwardWindow, IndexCursor, Operation
from ledger.domain.codes import Program
from ledger.domain.rules.bike_payout import Cadence
from ledger.domain.types import YearMonth
from ledger.feeds import COLUMNS, FeedOptions
from ledger.service.bike_accruals import pay
from ledger.service.feeds import import_feed
from ledger.service.members import import_members
from ledger.service.report import build_report
from ledger.service.witness import live_lists
from tests.keyring import ACCOUNT_KEY, KEYS, set_key_env

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)
BOB = acct(0xB0B)


@pytest.fixture
def env(deployed: Any, session_factory: Any, db_url: str) -> Iterator[ApiEnv]:
    e = make_env(deployed, session_factory, db_url)
    yield e
    e.http.close()


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"code", "message", "details"}, body
    if code is not None:
        assert body["code"] == code, body
    return dict(body)


# --- auth -------------------------------------------------------------------------------------


def test_auth_scopes_and_accounts(env: ApiEnv) -> None:
    path = f"/v1/accounts/{ALICE}/balances"
    assert_error(env.get(path), 401, "unauthorized")
    assert_error(env.get(path, "mlk_not-a-key"), 401, "unauthorized")
    wallet = env.key("wallet", account=ALICE)
    assert env.get(path, wallet).status_code == 200
    body = assert_error(env.get(f"/v1/accounts/{BOB}/balances", wallet), 403, "forbidden")
    assert "own account" in body["message"]
    integrator = env.key("integrator")
    assert_error(env.get(path, integrator), 403, "forbidden")
    auditor = env.key("auditor")
    assert env.get(f"/v1/accounts/{BOB}/balances", auditor).status_code == 200
    assert_error(env.get(f"/v1/audit/accounts/{ALICE}/trail", wallet), 403)
    assert_error(env.post("/v1/conversions", wallet, {}, "k1"), 403)
    # keys are stored hashed, never in clear
    with env.factory() as s:
        rows = s.scalars(sa.select(ApiKey)).all()
    assert all(wallet not in (r.key_hash, r.prefix) and len(r.key_hash) == 64 for r in rows)
    # revocation
    key_id = max(r.id for r in rows if r.scopes == "auditor")
    from ledger.service.apikeys import revoke_api_key

    assert revoke_api_key(env.factory, key_id)
    env.app.state.ctx.keys.invalidate()
    assert_error(env.get(path, auditor), 401)


def test_validation_errors_name_fields(env: ApiEnv) -> None:
    k = env.key("admin")
    body = assert_error(env.get("/v1/accounts/0x1234/balances", k), 422, "validation_error")
    assert body["details"]["errors"][0]["field"] == "account"
    body = assert_error(
        env.post("/v1/conversions", k, {"account": ALICE, "amount": -5}, "v1"),
        422,
        "validation_error",
    )
    fields = {e["field"] for e in body["details"]["errors"]}
    assert {"from_program", "amount"} <= fields
    body = assert_error(env.post("/v1/conversions", k, {"account": ALICE}), 422)
    assert "Idempotency-Key" in {e["field"] for e in body["details"]["errors"]}
    assert_error(env.get(f"/v1/accounts/{ALICE}/history?cursor=zzz", k), 422, "validation_error")


# --- wallet -------------------------------------------------------------------------------------


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


# --- integrators ---------------------------------------------------------------------------------


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


# --- operators -----------------------------------------------------------------------------------


def test_awards_batch(env: ApiEnv) -> None:
    env.member("BIKE", "B-1", ALICE)
    env.member("BIKE", "B-2", BOB)
    op = env.key("operator:BIKE")
    good = [
        {
            "member_id": "B-1",
            "month": "2026-05",
            "ride_days": 12,
            "ride_minutes": 300,
            "pass_365": True,
        },
        {
            "member_id": "B-2",
            "month": "2026-05",
            "ride_days": 3,
            "ride_minutes": 300,
            "pass_365": True,
        },
    ]
    bad = [
        {
            "member_id": "B-9",
            "month": "2026-05",
            "ride_days": 12,
            "ride_minutes": 300,
            "pass_365": True,
        },
        {
            "member_id": "B-1",
            "month": "2026-13",
            "ride_days": 12,
            "ride_minutes": 300,
            "pass_365": True,
        },
        {"member_id": "B-2", "month": "2026-05", "ride_days": 12, "bogus": 1},
        {
            "member_id": "B-1\nB-2",
            "month": "2026-05",
            "ride_days": 12,
            "ride_minutes": 1,
            "pass_365": True,
        },
    ]
    # all or nothing: one rejected item and nothing of the batch is recorded (422 lists them)
    r = env.post("/v1/awards", op, {"program": "BIKE", "items": good + bad})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "rows_rejected" and "nothing was recorded" in body["message"]
    rejects = body["details"]["rejects"]
    assert [x["index"] for x in rejects] == [2, 3, 4, 5]
    assert "unknown member" in rejects[0]["message"]
    assert rejects[1]["message"].startswith("month:")
    assert rejects[2]["message"].startswith("items.4.bogus: unknown column")
    assert "U+000A" in rejects[3]["message"]  # a line break in a cell: a reject, not a 500
    with env.factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Award)) == 0
    r = env.post("/v1/awards", op, {"program": "BIKE", "items": good})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [x["status"] for x in out["results"]] == ["recorded", "zero"]
    assert out["results"][0]["amount"] == 900
    again = env.post("/v1/awards", op, {"program": "BIKE", "items": good[:1]}).json()
    assert again["results"][0]["status"] == "already_recorded"
    assert again["results"][0]["award_no"] == out["results"][0]["award_no"]
    assert_error(env.post("/v1/awards", op, {"program": "CAR", "items": good[:1]}), 403)
    assert_error(
        env.post("/v1/awards", env.key("integrator"), {"program": "BIKE", "items": good[:1]}), 403
    )
    # BIKE accrues (docs/rules.md §2.4): visible to the member, nothing on chain before payout
    accrual = f"/v1/accounts/{ALICE}/bike-accrual"
    wallet = env.key("wallet", account=ALICE)
    assert env.get(accrual, wallet).json() == {
        "account": ALICE,
        "payout_cadence": "yearly",
        "accrued_unpaid": 900,
        "months": [{"month": "2026-05", "amount": 900, "payout_period": "2026"}],
    }
    assert_error(env.get(f"/v1/accounts/{BOB}/bike-accrual", wallet), 403, "forbidden")
    assert_error(env.get(accrual, env.key("integrator")), 403, "forbidden")
    assert_error(env.get(accrual), 401, "unauthorized")
    env.submit("issuer", "BIKE")
    env.index()
    assert env.deployed.client.balance_of(to_bytes32(ALICE), 4) == 0
    paid = pay(
        env.factory, Cadence.YEARLY, YearMonth(2026, 12), KEYS.award, today=YearMonth(2027, 1)
    )
    assert (paid.awards, paid.amount) == (1, 900)
    env.submit("issuer", "BIKE")
    env.index()
    assert env.deployed.client.balance_of(to_bytes32(ALICE), 4) == 900
    assert env.get(accrual, env.key("auditor")).json()["accrued_unpaid"] == 0


def test_awards_batch_keeps_savings_for_reports(env: ApiEnv) -> None:
    """Issue 17.3: awards posted through the API carry what the member saved, like a feed."""
    env.member("CAR", "V-1", ALICE)
    op = env.key("operator:CAR")
    item = {
        "member_id": "V-1",
        "vehicle_id": "12GA3456",
        "period_start": "2025-01",
        "period_end": "2025-06",
        "baseline_km": 6200,
        "actual_km": 4100,
        "seoul_registered": "true",
        "commercial": "false",
        "seats": 5,
    }
    r = env.post("/v1/awards", op, {"program": "CAR", "items": [item]})
    assert r.status_code == 200, r.text
    with env.factory() as s:
        assert s.scalars(sa.select(Award.savings)).all() == ['{"km": "2100"}']


CAR_ITEM = {
    "vehicle_id": "12GA3456",
    "period_start": "2025-01",
    "period_end": "2025-06",
    "seoul_registered": "true",
    "commercial": "false",
    "seats": 5,
}


def write_feed(path: Path, program: Program, items: list[dict[str, Any]]) -> Path:
    """The items as a feed file of ``program`` (the CLI's input)."""
    columns = COLUMNS[program]
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        out.writerows([str(item[c]) for c in columns] for item in items)
    return path


def test_awards_posted_report_what_the_same_rows_imported_report(
    env: ApiEnv, tmp_path: Path
) -> None:
    """Issue 17.3, hostile: the API once re-parsed its items through a CSV and recorded them with
    its own insert, which dropped ``savings``: `mileage report` counted no km (no tCO2) for awards
    posted through the API. The report after POST /v1/awards equals the report after importing
    the same rows as a feed, and it is not empty."""
    env.member("CAR", "V-1", ALICE)
    env.member("CAR", "V-2", BOB)
    items = [
        {**CAR_ITEM, "member_id": "V-1", "baseline_km": 6200, "actual_km": 4100},
        {
            **CAR_ITEM,
            "member_id": "V-2",
            "vehicle_id": "34NA5678",
            "baseline_km": 9000,
            "actual_km": 8000,
        },
    ]
    r = env.post("/v1/awards", env.key("operator:CAR"), {"program": "CAR", "items": items})
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] == 2
    with env.factory() as s:
        posted = build_report(s, year=2025).to_dict()
    assert posted["ghg"]["CAR"]["km"] == "3100"
    assert posted["ghg"]["CAR"]["tco2"] != "0"
    env.execute(sa.delete(AwardWindow))  # the vehicles' windows are written with the awards
    env.execute(sa.delete(Award))
    feed = write_feed(tmp_path / "car.csv", Program.CAR, items)
    imported = import_feed(
        env.factory, Program.CAR, feed, options=FeedOptions(award_key=KEYS.award)
    )
    assert imported.committed and imported.recorded == 2
    with env.factory() as s:
        assert build_report(s, year=2025).to_dict() == posted


@pytest.mark.parametrize("member", ["V\t1", "V\u200b1", "V\r1"])
def test_a_control_character_in_a_member_id_is_refused_in_every_path(
    env: ApiEnv, tmp_path: Path, member: str
) -> None:
    """One member-id rule (ledger.feeds.fields): a tab, an invisible character or a line break
    in a member id is refused by the members import, the feed import and the API alike, and
    nothing is recorded."""
    citizens = tmp_path / "members.csv"
    with citizens.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(
            [
                ["member_id", "program", "citizen_id", "district", "donation_consent"],
                [member, "CAR", "C-1", "D01", "false"],
            ]
        )
    members = import_members(env.factory, citizens, ACCOUNT_KEY.encode())
    assert [r.line for r in members.rejects] == [2] and not members.committed
    assert "member_id: contains the control character U+" in members.rejects[0].reason
    env.member("CAR", member, ALICE)  # even a member registered behind the rule's back
    item = {**CAR_ITEM, "member_id": member, "baseline_km": 6200, "actual_km": 4100}
    feed = write_feed(tmp_path / "car.csv", Program.CAR, [item])
    report = import_feed(env.factory, Program.CAR, feed, options=FeedOptions(award_key=KEYS.award))
    assert report.rejected == 1 and not report.committed
    assert "member_id: contains the control character U+" in report.rejects[0].reason
    r = env.post("/v1/awards", env.key("operator:CAR"), {"program": "CAR", "items": [item]})
    assert r.status_code == 422, r.text
    message = r.json()["details"]["rejects"][0]["message"]
    assert "member_id: contains the control character U+" in message
    with env.factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Award)) == 0


# --- audit ---------------------------------------------------------------------------------------


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


# --- health --------------------------------------------------------------------------------------


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


def test_apikeys_cli(env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mileage apikeys create|list|revoke`: the key is printed once, stored hashed, and works."""
    from typer.testing import CliRunner

    from ledger.cli.apikeys import app as apikeys_app
    from ledger.settings import get_settings

    monkeypatch.setenv("MILEAGE_DATABASE_URL", env.db_url)
    set_key_env(monkeypatch)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        res = runner.invoke(
            apikeys_app, ["create", "wallet-app", "-s", "wallet", "--account", ALICE]
        )
        assert res.exit_code == 0, res.output
        key = res.stdout.strip().splitlines()[0]
        assert key.startswith("mlk_") and len(key) > 40
        assert env.get(f"/v1/accounts/{ALICE}/balances", key).status_code == 200
        bad = runner.invoke(apikeys_app, ["create", "x", "-s", "wallet"])
        assert bad.exit_code == 2 and "--account" in bad.output
        bad = runner.invoke(apikeys_app, ["create", "x", "-s", "superuser"])
        assert bad.exit_code == 2 and "unknown scopes" in bad.output
        listing = runner.invoke(apikeys_app, ["list"])
        assert listing.exit_code == 0 and "wallet-app" in listing.output
        assert key not in listing.output and key[4:12] in listing.output
        key_id = next(
            line.split()[0] for line in listing.output.splitlines() if "wallet-app" in line
        )
        assert runner.invoke(apikeys_app, ["revoke", key_id]).exit_code == 0
        assert runner.invoke(apikeys_app, ["revoke", key_id]).exit_code == 1
        env.app.state.ctx.keys.invalidate()
        assert_error(env.get(f"/v1/accounts/{ALICE}/balances", key), 401)
    finally:
        get_settings.cache_clear()
