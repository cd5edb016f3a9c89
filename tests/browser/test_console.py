"""The console and the API docs in a real browser (Debian's Chromium driven by Playwright).

Each page is loaded from the API server itself; figures on the page are compared with the API's
answers; a trail answer is altered in flight and the page must flag that entry; /docs and /redoc
must render operations from the project's own assets (nothing may leave the server).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from bridge.raw_reader import RawLedgerReader
from bridge.reconcile import reconcile
from ledger.adapters.orm import Account, Member
from ledger.domain.rules.bike_payout import Cadence
from ledger.domain.types import YearMonth
from ledger.service.apikeys import create_api_key
from ledger.service.bike_accruals import pay
from ledger.service.runs import record_reconcile_run
from tests.keyring import KEYS

pytestmark = [pytest.mark.chain, pytest.mark.browser]

CITIZEN = "0x" + "c7" * 32


def key(stack: Any, *scopes: str) -> str:
    return create_api_key(stack.sessions, f"browser-{scopes[0]}", list(scopes)).key


def seed(stack: Any) -> dict[str, str]:
    """Three rounds (one refused for a rejected row), an account with five entries, a reconcile."""
    with stack.sessions() as s, s.begin():
        s.add(Account(account_id=CITIZEN, citizen_id="browser-citizen", district="Mapo-gu"))
        s.add(Member(program="CAR", member_id="CAR-7", account_id=CITIZEN))
        s.add(Member(program="BIKE", member_id="BIKE-7", account_id=CITIZEN))
    keys = {
        "operator": key(stack, "operator:CAR", "operator:BIKE"),
        "auditor": key(stack, "auditor"),
        "integrator": key(stack, "integrator"),
    }
    post = _client(stack, keys["operator"]).post
    car = {
        "member_id": "CAR-7",
        "vehicle_id": "12가3456",
        "period_start": "2026-01",
        "period_end": "2026-06",
        "baseline_km": 8000,
        "actual_km": 5000,
        "seoul_registered": "true",
        "commercial": "false",
        "seats": 5,
    }
    stranger = dict(car, member_id="CAR-404", vehicle_id="99가9999")
    out = post("/v1/awards", json={"program": "CAR", "items": [car, stranger], "source": "r0"})
    assert out.status_code == 422, out.text  # all or nothing: the round is refused, and shown
    out = post("/v1/awards", json={"program": "CAR", "items": [car], "source": "r1"})
    assert out.json()["recorded"] == 1, out.text
    rides = [
        {
            "member_id": "BIKE-7",
            "month": "2026-05",
            "ride_days": 15,
            "ride_minutes": 500,
            "pass_365": True,
        },
        {
            "member_id": "BIKE-7",
            "month": "2026-06",
            "ride_days": 12,
            "ride_minutes": 300,
            "pass_365": True,
        },
    ]
    assert post("/v1/awards", json={"program": "BIKE", "items": rides}).status_code == 200
    # BIKE accrues (docs/rules.md §2.4): paid month by month here, two awards
    assert pay(stack.sessions, Cadence.MONTHLY, YearMonth(2026, 6), KEYS.award).awards == 2
    stack.wait_rounds(2)
    conv = _client(stack, keys["integrator"]).post(
        "/v1/conversions",
        headers={"Idempotency-Key": "browser-conv"},
        json={"account": CITIZEN, "from_program": "CAR", "amount": 20_000},
    )
    assert conv.status_code in (200, 201, 202), conv.text
    stack.wait_rounds(3)
    with RawLedgerReader(stack.rpc_url, stack.contract) as reader:
        rep = reconcile(stack.sessions, reader)
    record_reconcile_run(stack.sessions, rep)
    return keys


def _client(stack: Any, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


def sign_in(page: Any, stack: Any, api_key: str, hash_: str) -> None:
    page.goto("about:blank")  # a fresh load: the previous key lived in the old page's memory
    page.goto(f"{stack.api_url}/console/{hash_}")
    assert page.locator("#apikey").is_visible()
    page.fill("#apikey", api_key)
    page.click("#signin-form button[type=submit]")


def assert_key_not_stored(page: Any, api_key: str) -> None:
    stored = page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage),"
        " document.cookie])"
    )
    assert api_key not in stored and json.loads(stored)[:2] == [[], []], stored


def test_console_pages_and_docs(stack: Any, page: Any, shot: Any) -> None:
    keys = seed(stack)

    # --- operators: every figure equals the API's answer ------------------------------------
    summary = _client(stack, keys["operator"]).get("/v1/operator/summary").json()
    sign_in(page, stack, keys["operator"], "#/operator")
    page.wait_for_selector("#budgets tbody tr")
    for b in summary["budgets"]:
        row = page.locator(f'#budgets tr[data-program="{b["program"]}"]')
        assert row.locator('[data-field="budget"]').inner_text() == f"{b['budget']:,}"
        assert row.locator('[data-field="issued"]').inner_text() == f"{b['issued']:,}"
        bar = page.locator(f'#budget-chart rect[data-program="{b["program"]}"]')
        assert bar.get_attribute("data-issued") == str(b["issued"])
    car = next(b for b in summary["budgets"] if b["program"] == "CAR")
    assert car["issued"] == 70_000
    rounds = {r["source"]: r for r in summary["rounds"]}
    assert rounds["api:r0"]["rejected"] == 1 and rounds["api:r0"]["awarded"] == 0
    assert rounds["api:r1"]["rejected"] == 0 and rounds["api:r1"]["awarded"] == 1
    for r in summary["rounds"]:
        row = page.locator(f'#rounds tr[data-round="{r["id"]}"]')
        for f in ("awarded", "rejected", "failed", "pending"):
            assert row.locator(f'[data-field="{f}"]').inner_text() == str(r[f])
        amount = row.locator('[data-field="awarded_amount"]').inner_text()
        assert amount == f"{r['awarded_amount']:,}"
    for state, n in summary["queue"]["awards"].items():
        assert page.locator(f'#queue [data-field="awards-{state}"]').inner_text() == str(n)
    assert page.locator('#indexer [data-field="cursor"]').inner_text() == str(
        summary["indexer"]["cursor_block"]
    )
    assert page.locator("#reconcile").get_attribute("data-verdict") == "ok"
    assert summary["last_reconcile"]["summary"] in page.locator("#reconcile").inner_text()
    assert_key_not_stored(page, keys["operator"])
    shot(page, "console-operator-en")
    page.click("#lang")
    page.wait_for_function("document.querySelector('#op-anchor').textContent.startsWith('기준')")
    assert page.locator("#budgets th").first.inner_text() == "프로그램"
    shot(page, "console-operator-ko")

    # --- auditors: the trail verified in the browser ------------------------------------------
    auditor = _client(stack, keys["auditor"])
    proof = auditor.get(f"/v1/accounts/{CITIZEN}/proof").json()
    sign_in(page, stack, keys["auditor"], "#/auditor")
    page.fill("#account", CITIZEN)
    page.click("#trail-form button[type=submit]")
    page.wait_for_selector('#verdict[data-verdict="ok"]')
    text = page.locator("#verdict").inner_text()
    assert f"block {proof['anchor']['block_number']}" in text
    assert proof["anchor"]["block_hash"] in text and proof["head"] in text
    assert page.locator("#trail tbody tr.ok").count() == proof["count"] == 5
    page.wait_for_selector("#bundle-link:not([hidden])")
    with page.expect_download() as dl:
        page.click("#bundle-link")
    bundle = json.loads(open(dl.value.path(), encoding="utf-8").read())  # noqa: SIM115
    assert bundle["account"] == CITIZEN and len(bundle["entries"]) == 5
    assert_key_not_stored(page, keys["auditor"])
    shot(page, "console-auditor-verified")

    # an altered trail answer: entry 2's amount changed in flight; the page flags entry 2
    def alter(route: Any) -> None:
        body = route.fetch().json()
        body["entries"][1]["amount"] += 1
        route.fulfill(json=body)

    page.route(re.compile(r".*/v1/audit/accounts/0x[0-9a-f]{64}/trail$"), alter)
    page.click("#trail-form button[type=submit]")
    page.wait_for_selector('#verdict[data-verdict="broken"]')
    assert page.locator("#verdict").get_attribute("data-first-broken") == "2"
    assert page.locator('#trail tbody tr[data-seq="1"]').get_attribute("class") == "ok"
    assert page.locator('#trail tbody tr[data-seq="2"]').get_attribute("class") == "broken"
    assert page.locator("#trail tbody tr.broken").count() == 1  # only the altered entry
    assert "entry 2" in page.locator("#verdict").inner_text()
    shot(page, "console-auditor-broken")
    page.unroute(re.compile(r".*/v1/audit/accounts/0x[0-9a-f]{64}/trail$"))

    # --- the API's docs, offline -------------------------------------------------------------
    page.goto(f"{stack.api_url}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() >= 10
    assert page.get_by_text("/v1/operator/summary").count() >= 1
    shot(page, "docs-swagger", full_page=False)
    page.goto(f"{stack.api_url}/redoc")
    page.wait_for_selector("h2:has-text('Submit a batch of awards')", timeout=30_000)
    shot(page, "docs-redoc", full_page=False)
    assert page.problems == []
