"""`pay` against the general path it speeds up (SQLite and PostgreSQL): for any accrued months,
already-paid months, periods paid before (late months), cadence and `through`, the payout
writes exactly the awards (in award number order), windows and accrual marks, and reports
exactly what the general path below gives: `plan_payouts` over `Accrual`s, `awards.award_id`
per payout, and the ride minutes summed as Decimals from each month's savings JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Award, AwardWindow, BikeAccrual
from ledger.domain import awards
from ledger.domain.codes import Program
from ledger.domain.rules.bike_payout import Accrual, Cadence, payout_period, plan_payouts
from ledger.domain.types import YearMonth
from ledger.service.bike_accruals import PAYOUT_TIER, pay
from tests.keyring import KEYS

TODAY = YearMonth(2026, 3)
MEMBERS = ["B1", "B2", "B10", "b1", "Z", "가나", "B-01"]
MONTHS = [str(YearMonth(2024, 10).plus(i)) for i in range(14)]  # 2024-10 .. 2025-11
SAVINGS = st.one_of(
    st.none(),
    st.just(""),
    st.integers(0, 10**6).map(lambda n: f'{{"ride_minutes": "{n}"}}'),  # as `accrue` writes
    st.text("0123456789", min_size=1, max_size=32).map(lambda d: f'{{"ride_minutes": "{d}"}}'),
    st.sampled_from(["007", "0", "00", "10", "1" * 19, "9" * 30]).map(
        lambda d: f'{{"ride_minutes": "{d}"}}'
    ),
    st.sampled_from(["12.5", "1e3", "-0", "٣", " 7"]).map(
        lambda v: json.dumps({"ride_minutes": v})
    ),
    st.integers(0, 10**30).map(lambda n: json.dumps({"ride_minutes": n})),
    st.just(json.dumps({"km": "3"})),
)
ACCRUAL = st.tuples(
    st.sampled_from(MEMBERS),
    st.sampled_from(MONTHS),
    st.one_of(st.just(0), st.integers(1, 5_000), st.integers(1, 10**12)),
    SAVINGS,
    st.booleans().map(lambda paid: "0x" + "ee" * 32 if paid else None),  # paid before
)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    accruals = draw(st.lists(ACCRUAL, max_size=40, unique_by=lambda a: (a[0], a[1])))
    cadence = draw(st.sampled_from(list(Cadence)))
    # periods paid before (of accrued months, mostly): their months accrued since are late
    periods = [(m, payout_period(YearMonth.parse(mo), cadence)) for m, mo, *_ in accruals]
    before = draw(
        st.lists(
            st.one_of(
                st.sampled_from(periods or [("B1", "2025")]),
                st.tuples(st.sampled_from(MEMBERS), st.sampled_from(["2024", "2025-Q1"])),
            ),
            max_size=4,
            unique=True,
        )
    )
    through = draw(st.sampled_from(MONTHS[2:]).map(YearMonth.parse))
    return {"accruals": accruals, "cadence": cadence, "through": through, "before": before}


def account(member: str) -> str:
    return "0x" + awards.award_id(Program.BIKE, member, "acct", KEYS.award).hex()


def _ride(savings: str | None) -> Decimal:
    if not savings:
        return Decimal(0)
    return Decimal(str(json.loads(savings).get("ride_minutes", "0")))


def general(case: dict[str, Any]) -> tuple[list[tuple[Any, ...]], set[Any], dict[Any, Any], Any]:
    """What the payout must write, by the general path: awards in award number order,
    windows, accrual marks, and (awards, amount, months, late)."""
    cadence, through = case["cadence"], case["through"]
    unpaid = [a for a in case["accruals"] if a[4] is None and a[1] <= str(through)]
    savings = {(m, mo): sv for m, mo, _, sv, _ in unpaid}
    plan = plan_payouts(
        [Accrual(m, YearMonth.parse(mo), amount) for m, mo, amount, _, _ in unpaid],
        cadence,
        through,
    )
    before = set(case["before"])
    rows, windows, late = [], set(), []
    marks = {(m, mo): paid for m, mo, _, _, paid in case["accruals"]}
    amount = months = 0
    for p in plan:
        if (p.member_id, p.period) in before:
            late.append((p.member_id, p.period))
            continue
        aid = "0x" + awards.award_id(Program.BIKE, p.member_id, p.period, KEYS.award).hex()
        ride = Decimal(0)
        for m in p.months:
            ride += _ride(savings[(p.member_id, str(m))])
            windows.add(("BIKE", f"member:{p.member_id}", str(m), aid))
            marks[(p.member_id, str(m))] = aid
        rows.append(
            (
                aid,
                "BIKE",
                p.member_id,
                account(p.member_id),
                p.period,
                p.amount,
                PAYOUT_TIER,
                f"bike-payout:{cadence.value}:{through}",
                json.dumps({"ride_minutes": str(ride)}),
                "pending",
            )
        )
        amount += p.amount
        months += len(p.months)
    return rows, windows, marks, (len(rows), amount, months, late)


def _reset(factory: sessionmaker[Session], case: dict[str, Any]) -> None:
    with factory() as s, s.begin():
        for table in (AwardWindow, Award, BikeAccrual):
            s.execute(sa.delete(table))
        for member, period in case["before"]:
            s.add(
                Award(
                    award_id="0x" + awards.award_id(Program.BIKE, member, period, b"o" * 32).hex(),
                    program="BIKE",
                    member_id=member,
                    account_id=account(member),
                    period=period,
                    amount=1,
                    status="final",
                )
            )
        for member, month, amount, savings, paid in case["accruals"]:
            s.add(
                BikeAccrual(
                    member_id=member,
                    month=month,
                    account_id=account(member),
                    amount=amount,
                    savings=savings,
                    award_id=paid,
                )
            )


def _stored(factory: sessionmaker[Session]) -> tuple[list[Any], set[Any], dict[Any, Any]]:
    cols = [getattr(Award, c) for c in ("award_id", "program", "member_id", "account_id")]
    cols += [getattr(Award, c) for c in ("period", "amount", "tier", "source", "savings")]
    with factory() as s:
        rows = s.execute(
            sa.select(*cols, Award.status).where(Award.tier == PAYOUT_TIER).order_by(Award.award_no)
        )
        windows = s.execute(
            sa.select(
                AwardWindow.program, AwardWindow.holder, AwardWindow.month, AwardWindow.award_id
            )
        )
        marks = s.execute(sa.select(BikeAccrual.member_id, BikeAccrual.month, BikeAccrual.award_id))
        return (
            [tuple(r) for r in rows],
            {tuple(w) for w in windows},
            {(m, mo): a for m, mo, a in marks},
        )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_payout_writes_what_the_general_path_gives(
    session_factory: sessionmaker[Session], case: dict[str, Any]
) -> None:
    _reset(session_factory, case)
    rows, windows, marks, summary = general(case)
    report = pay(session_factory, case["cadence"], case["through"], KEYS.award, today=TODAY)
    assert _stored(session_factory) == (rows, windows, marks)
    assert (report.awards, report.amount, report.months, report.late) == summary
    # a re-run pays nothing twice: the same rows, and only the late months reported again
    again = pay(session_factory, case["cadence"], case["through"], KEYS.award, today=TODAY)
    assert (again.awards, again.amount, again.months) == (0, 0, 0)
    assert _stored(session_factory) == (rows, windows, marks)


def test_the_connection_gets_its_page_cache_back(
    session_factory: sessionmaker[Session], db_kind: str
) -> None:
    """SQLite: the payout raises its connection's page cache while it writes and restores it,
    whether it pays or stops (a stray window: rolled back); the connection goes back to the pool."""
    if db_kind != "sqlite":
        pytest.skip("a SQLite connection's page cache")
    case = {
        "accruals": [("B1", "2025-01", 100, None, None), ("B2", "2025-02", 100, None, None)],
        "cadence": Cadence.MONTHLY,
        "through": YearMonth(2025, 2),
        "before": [],
    }
    _reset(session_factory, case)

    def cache_sizes() -> set[int]:
        with session_factory() as s:
            return {int(s.execute(sa.text("PRAGMA cache_size")).scalar_one())}

    before = cache_sizes()
    assert before and max(before) > -(64 * 1024)  # smaller than the payout's
    with session_factory() as s, s.begin():  # a window no payout wrote: the payout stops
        s.add(AwardWindow(program="BIKE", holder="member:B2", month="2025-02", award_id="0x01"))
    with pytest.raises(sa.exc.IntegrityError):
        pay(session_factory, Cadence.MONTHLY, YearMonth(2025, 2), KEYS.award, today=TODAY)
    assert cache_sizes() == before
    with session_factory() as s, s.begin():
        s.execute(sa.delete(AwardWindow))
    assert (
        pay(session_factory, Cadence.MONTHLY, YearMonth(2025, 2), KEYS.award, today=TODAY).awards
        == 2
    )
    assert cache_sizes() == before
