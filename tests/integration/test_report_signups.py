"""`mileage report` counts sign-ups and the participation-growth indicator from the members
file's ``joined_at`` (the program's own sign-up date), not from when the row was imported."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ledger.adapters.orm import Account, Member
from ledger.service.report import build_report


def test_signups_and_growth_follow_joined_at(session_factory: Any) -> None:
    # every membership was *imported* in 2026; they *signed up* between 2022 and 2026
    imported = datetime(2026, 3, 1, tzinfo=UTC)
    joined = {2022: 10, 2023: 2, 2024: 3, 2025: 5, 2026: 4}
    with session_factory() as s, s.begin():
        n = 0
        for year, count in joined.items():
            for _ in range(count):
                n += 1
                account = f"0x{n:064x}"
                s.add(Account(account_id=account, citizen_id=f"C{n}", district="Mapo-gu"))
                s.add(
                    Member(
                        program="ECO_HOUSEHOLD",
                        member_id=f"H{n}",
                        account_id=account,
                        district="Mapo-gu",
                        registered_at=imported,
                        joined_at=date(year, 12, 31),
                    )
                )
        # a membership recorded without a sign-up date counts from when it was recorded
        s.add(Account(account_id=f"0x{999:064x}", citizen_id="C999", district="Jung-gu"))
        s.add(
            Member(
                program="ECO_HOUSEHOLD",
                member_id="H999",
                account_id=f"0x{999:064x}",
                district="Jung-gu",
                registered_at=datetime(2023, 6, 1, tzinfo=UTC),
            )
        )
    with session_factory() as s:
        rep = build_report(s, year=2026)
        assert rep.districts["Mapo-gu"].signups == {"ECO_HOUSEHOLD": 4}
        assert rep.districts["Mapo-gu"].members == {"ECO_HOUSEHOLD": 24}
        assert rep.districts["Jung-gu"].signups == {}
        # cumulative households at each year's end: 2023 = 10 + 2 + H999, 2024 = 16, 2025 = 21
        assert {y: rep.cumulative_households[y] for y in (2023, 2024, 2025, 2026)} == {
            2023: 13,
            2024: 16,
            2025: 21,
            2026: 25,
        }
        # (25 - mean(13, 16, 21)) / mean * 100 = (25 - 16.666..) / 16.666.. * 100 = 50.00
        assert rep.participation_growth_pct == Decimal("50.00")
        old = build_report(s, year=2023)
        assert old.districts["Mapo-gu"].signups == {"ECO_HOUSEHOLD": 2}
        assert old.districts["Jung-gu"].signups == {"ECO_HOUSEHOLD": 1}
