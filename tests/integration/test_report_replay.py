"""`mileage report`'s figures against a replay of the chain's own `EntryRecorded` events, and the
operators' summary endpoint (budgets, rounds, queue, indexer, last reconcile)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, acct

from ledger.adapters.orm import Account
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.domain.report import fiscal_year_of, month_of
from ledger.service.report import build_report
from ledger.service.runs import record_reconcile_run

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)
BOB = acct(0xB0B)


def replay(env: ApiEnv) -> tuple[dict[tuple[str, int], dict[str, int]], dict[Any, list[int]]]:
    """Per (program, fiscal year) flows and per (route, month) conversions, from the chain's
    events alone (no database)."""
    head = int(env.deployed.w3.eth.block_number)
    entries = [
        ev.chain_entry for ev in env.deployed.client.entry_logs(env.deployed.block_number, head)
    ]
    flows: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in entries:
        f = flows[(Program(e.program).name, fiscal_year_of(e.timestamp))]
        kind = EntryKind(e.kind)
        name = {
            EntryKind.GRANT: "awarded",
            EntryKind.CONVERSION_OUT: "converted_out",
            EntryKind.CONVERSION_IN: "converted_in",
            EntryKind.DEDUCTION: f"spent:{Reason(e.reason).name}",
            EntryKind.EXPIRY: "donated" if e.reason == Reason.EXPIRY_DONATION else "expired",
        }[kind]
        f[name] += e.amount
        f["balance"] += e.amount if kind.is_credit else -e.amount
    ins = {(e.account, e.ref): e for e in entries if e.kind == EntryKind.CONVERSION_IN}
    routes: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for e in entries:
        if e.kind == EntryKind.CONVERSION_OUT:
            dst = ins[(e.account, e.ref)]
            key = (f"{Program(e.program).name}→{Program(dst.program).name}", month_of(e.timestamp))
            routes[key][0] += 1
            routes[key][1] += e.amount
    return flows, routes


def test_report_equals_a_replay_of_the_events(env: ApiEnv) -> None:
    env.grant("ECO_HOUSEHOLD", ALICE, [10_000, 30_000])
    env.grant("CAR", BOB, [70_000])
    env.execute(sa.update(Account).where(Account.account_id == ALICE).values(district="Mapo-gu"))
    k = env.key("integrator")
    conv = {"account": BOB, "from_program": "CAR", "amount": 20_000}
    assert env.post("/v1/conversions", k, conv, "r-c1").status_code < 300
    env.submit("converter")
    env.index()
    deduction = {
        "account": ALICE,
        "program": "ECO_HOUSEHOLD",
        "amount": 10_000,
        "reason": "TAX_PAYMENT",
        "reference": "0x" + "ab" * 32,
    }
    assert env.post("/v1/deductions", k, deduction, "r-d1").status_code < 300, "deduction"
    env.submit("spender")
    env.index()

    with env.factory() as s:
        rep = build_report(
            s,
            budgets=env.deployed.client.budget_of,
        )
    flows, routes = replay(env)
    assert set(rep.years) == set(flows)
    for key, f in rep.years.items():
        want = flows[key]
        assert f.awarded == want["awarded"], key
        assert f.converted_out == want["converted_out"] and f.converted_in == want["converted_in"]
        assert {f"spent:{r}": a for r, a in f.spent.items()} == {
            k: v for k, v in want.items() if k.startswith("spent:")
        }
        assert f.expired == want["expired"] and f.donated == want["donated"]
        assert f.outstanding == want["balance"], key
        if key[0] == "SEOUL":  # only reached by conversion: no issuance budget
            assert f.budget is None and f.issued is None
        else:
            assert f.issued == want["awarded"] and f.budget and f.execution_pct is not None
    assert {k: list(v) for k, v in rep.conversions.items()} == dict(routes)
    assert list(rep.conversions) == [("CAR→SEOUL", next(iter(routes))[1])]
    eco = rep.years[("ECO_HOUSEHOLD", next(y for p, y in rep.years if p == "ECO_HOUSEHOLD"))]
    assert eco.spent == {"TAX_PAYMENT": 10_000} and eco.outstanding == 30_000
    assert rep.districts["Mapo-gu"].participating == 1
    assert rep.districts["Mapo-gu"].awarded == 40_000
    assert set(rep.ghg) == {p.name for p in Program if p is not Program.SEOUL}


def test_operator_summary(env: ApiEnv) -> None:
    env.member("CAR", "CAR-1", ALICE)
    op = env.key("operator:CAR")
    car = {
        "member_id": "CAR-1",
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
    body = {"program": "CAR", "items": [car, stranger], "source": "round-1"}
    refused = env.post("/v1/awards", op, body)  # all or nothing: the round records nothing
    assert refused.status_code == 422 and refused.json()["code"] == "rows_rejected"
    body = {"program": "CAR", "items": [car], "source": "round-2"}
    assert env.post("/v1/awards", op, body).json()["recorded"] == 1
    before = env.get("/v1/operator/summary", op).json()
    assert before["queue"]["awards"] == {"pending": 1}
    assert before["queue"]["oldest_waiting_age_s"] >= 0
    assert before["rounds"][0]["pending"] == 1 and before["last_reconcile"] is None
    env.submit("issuer", "CAR")
    env.index()
    out = env.get("/v1/operator/summary", op).json()
    r, rejected = out["rounds"]
    assert (r["source"], r["rows"], r["recorded"], r["rejected"]) == ("api:round-2", 1, 1, 0)
    assert (r["awarded"], r["awarded_amount"], r["failed"], r["pending"]) == (1, 70_000, 0, 0)
    assert (rejected["source"], rejected["rows"], rejected["recorded"]) == ("api:round-1", 2, 0)
    assert (rejected["rejected"], rejected["awarded"], rejected["pending"]) == (1, 0, 0)
    budget = next(b for b in out["budgets"] if b["program"] == "CAR")
    assert budget["issued"] == 70_000
    assert budget["execution_pct"] == round(70_000 * 100 / budget["budget"], 4)
    assert out["queue"]["awards"] == {"final": 1} or out["queue"]["awards"] == {"mined": 1}
    assert out["indexer"]["cursor_block"] == out["anchor"]["block_number"]
    assert (
        out["indexer"]["lag_blocks"] == out["indexer"]["chain_head"] - out["anchor"]["block_number"]
    )
    from bridge.reconcile import Discrepancy, ReconcileReport

    off = [Discrepancy(ALICE, "count", "1", "2"), Discrepancy(ALICE, "head", "0x1", "0x2")]
    record_reconcile_run(env.factory, ReconcileReport(5, 1, 1, off))
    last = env.get("/v1/operator/summary", op).json()["last_reconcile"]
    assert last["verdict"] == "discrepancies" and last["discrepancies"] == 2
    assert last["summary"] == ReconcileReport(5, 1, 1, off).summary()
    assert env.get("/v1/operator/summary", env.key("auditor")).status_code == 403
    assert env.get("/v1/operator/summary").status_code == 401
