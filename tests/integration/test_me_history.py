"""/v1/me/... with a real OIDC token answers what /v1/accounts/{account}/... answers; the
history carries what a citizen can read (program, kind, period, tier, other program, reason,
Korea time) in Korean or English, next to the raw fields and the anchor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import OIDC_KEY, ApiEnv, acct

from ledger.adapters.orm import Award
from ledger.domain.accounts import account_id
from tests.oidc_helpers import Provider

pytestmark = pytest.mark.chain


def citizen_account(e: ApiEnv, citizen: str) -> str:
    return "0x" + account_id(citizen, e.app.state.ctx.id_keys.account).hex()


def me(e: ApiEnv, provider: Provider, path: str, citizen: str, **headers: str) -> Any:
    token = provider.token(OIDC_KEY, citizen)
    return e.http.get(f"/v1/me/{path}", headers={"Authorization": f"Bearer {token}", **headers})


def test_me_answers_what_the_account_endpoints_answer(
    signed_in_env: tuple[ApiEnv, Provider],
) -> None:
    e, provider = signed_in_env
    alice = citizen_account(e, "citizen-42")
    e.grant("ECO_HOUSEHOLD", alice, [30_000], period="2024-01..2024-06")
    e.execute(sa.update(Award).where(Award.account_id == alice).values(tier="10_to_15pct"))
    k = e.key("integrator")
    conv = {"account": alice, "from_program": "ECO_HOUSEHOLD", "to_program": "SEOUL"}
    assert e.post("/v1/conversions", k, {**conv, "amount": 20_000}, "c1").status_code == 201
    e.submit("converter")
    e.index()
    spend = {"account": alice, "program": "SEOUL", "reason": "GIFT_CERTIFICATE"}
    body = {**spend, "amount": 10_000, "reference": acct(5)}
    assert e.post("/v1/deductions", k, body, "d1").status_code == 201, "deduction"
    e.submit("spender")
    e.index()
    auditor = e.key("auditor")
    for path in ("balances", "history", "expiring?days=3650", "proof"):
        theirs = e.get(f"/v1/accounts/{alice}/{path}", auditor)
        mine = me(e, provider, path, "citizen-42")
        assert theirs.status_code == mine.status_code == 200, (path, mine.text)
        assert mine.json() == theirs.json(), path
    assert me(e, provider, "balances", "citizen-42").json()["total"] == 20_000

    # the history a citizen reads: Korean by default
    page = me(e, provider, "history", "citizen-42")
    assert page.headers["Content-Language"] == "ko" and page.json()["language"] == "ko"
    by_kind = {x["kind"]: x for x in page.json()["entries"]}
    grant = by_kind["GRANT"]
    assert grant["program_label"] == "에코마일리지(가정)" and grant["kind_label"] == "적립"
    assert grant["period"] == "2024-01..2024-06" and grant["tier"] == "10_to_15pct"
    assert grant["tier_label"] == "10–15 % 절감"
    assert "2024-01..2024-06" in grant["description"]
    kst = datetime.fromisoformat(grant["time_kst"])
    assert grant["time_kst"].endswith("+09:00")
    assert kst == datetime.fromtimestamp(grant["timestamp"], UTC)
    assert by_kind["CONVERSION_OUT"]["other_program"] == "SEOUL"
    assert by_kind["CONVERSION_IN"]["other_program"] == "ECO_HOUSEHOLD"
    assert by_kind["CONVERSION_IN"]["other_program_label"] == "에코마일리지(가정)"
    assert by_kind["DEDUCTION"]["reason_label"] == "상품권"
    assert by_kind["DEDUCTION"]["other_program"] is None and grant["reason_label"] is None
    # raw fields stay for verification
    for field in ("seq", "ref", "head", "block_hash", "tx_hash", "log_index", "time"):
        assert field in grant
    assert page.json()["anchor"]["block_hash"].startswith("0x")

    # English when Accept-Language prefers it
    en = me(e, provider, "history", "citizen-42", **{"Accept-Language": "en-US,ko;q=0.5"})
    assert en.headers["Content-Language"] == "en"
    by_kind = {x["kind"]: x for x in en.json()["entries"]}
    assert by_kind["GRANT"]["tier_label"] == "10–15 % reduction"
    assert by_kind["DEDUCTION"]["reason_label"] == "Gift certificate"
    assert by_kind["CONVERSION_OUT"]["other_program_label"] == "Seoul Mileage"


def test_a_citizen_not_yet_a_member_gets_empty_anchored_answers(
    signed_in_env: tuple[ApiEnv, Provider],
) -> None:
    e, provider = signed_in_env
    e.grant("CAR", acct(0xB0B), [70_000])  # someone else's mileage
    balances = me(e, provider, "balances", "newcomer-1")
    assert balances.status_code == 200, balances.text
    body = balances.json()
    assert body["account"] == citizen_account(e, "newcomer-1")
    assert body["total"] == 0 and {b["balance"] for b in body["balances"]} == {0}
    assert body["anchor"]["block_number"] > 0
    history = me(e, provider, "history", "newcomer-1").json()
    assert history["entries"] == [] and history["anchor"] == body["anchor"]
    expiring = me(e, provider, "expiring", "newcomer-1").json()
    assert expiring["total"] == 0 and expiring["anchor"] == body["anchor"]


def test_me_bike_accrual(signed_in_env: tuple[ApiEnv, Provider]) -> None:
    """The citizen sees the BIKE mileage accrued and not yet paid (docs/rules.md §2.4), as the
    account endpoint answers it."""
    e, provider = signed_in_env
    alice = citizen_account(e, "citizen-7")
    e.member("BIKE", "B-7", alice)
    ride = {"member_id": "B-7", "month": "2026-05", "ride_days": 12, "ride_minutes": 300}
    items = [{**ride, "pass_365": True}]
    r = e.post("/v1/awards", e.key("operator:BIKE"), {"program": "BIKE", "items": items})
    assert r.status_code == 200, r.text
    mine = me(e, provider, "bike-accrual", "citizen-7")
    assert mine.status_code == 200, mine.text
    assert mine.json()["accrued_unpaid"] == 900
    assert mine.json() == e.get(f"/v1/accounts/{alice}/bike-accrual", e.key("auditor")).json()
    assert me(e, provider, "bike-accrual", "citizen-8").json()["accrued_unpaid"] == 0
