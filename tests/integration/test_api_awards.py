"""Operators post awards through the HTTP API: the batch, its savings in the report, the same
result as importing the rows, and member ids refused in every path."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, acct, assert_error

from bridge.client import to_bytes32
from ledger.adapters.orm import Award, AwardWindow
from ledger.domain.codes import Program
from ledger.domain.rules.bike_payout import Cadence
from ledger.domain.types import YearMonth
from ledger.feeds import COLUMNS, FeedOptions
from ledger.service.bike_accruals import pay
from ledger.service.feeds import import_feed
from ledger.service.members import import_members
from ledger.service.report import build_report
from tests.keyring import ACCOUNT_KEY, KEYS

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)
BOB = acct(0xB0B)

CAR_ITEM = {
    "vehicle_id": "12GA3456",
    "period_start": "2025-01",
    "period_end": "2025-06",
    "seoul_registered": "true",
    "commercial": "false",
    "seats": 5,
}


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
