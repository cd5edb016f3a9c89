"""``mileage report``: per program and district, members, awarded, spent, expired, outstanding;
GHG reduction estimates; the government participation-growth indicator (PROGRAM_RULES §4).

Money figures come from the index of on-chain entries (what the chain recorded), not from the
outbox; savings come from the award feeds (what members saved in the rounds that were awarded).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.adapters.orm import Account, Award, Balance, Entry, Member
from ledger.domain.codes import EntryKind, Program
from ledger.domain.errors import InvalidValue
from ledger.domain.report import (
    DEFAULT_REPORT_FACTORS,
    ReportFactors,
    car_tco2,
    participation_growth_pct,
    tco2_from_toe,
    toe_from_energy,
)

SPENT_KINDS = (EntryKind.DEDUCTION, EntryKind.CONVERSION_OUT)
ECO_PROGRAMS = (Program.ECO_HOUSEHOLD, Program.ECO_SEASON)
CAR_PROGRAMS = (Program.CAR, Program.CAR_SEASON)


@dataclass
class Row:
    """Figures of one program in one district (mileage = KRW)."""

    members: int = 0
    awarded: int = 0
    spent: int = 0
    expired: int = 0
    corrected: int = 0
    outstanding: int = 0


@dataclass
class Ghg:
    """GHG reduction estimate of one program."""

    toe: Decimal = Decimal(0)
    tco2: Decimal = Decimal(0)
    km: Decimal = Decimal(0)


@dataclass
class Report:
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    ghg: dict[str, Ghg] = field(default_factory=dict)
    participation_growth_pct: Decimal | None = None
    participation_note: str = ""


def build_report(
    s: Session,
    *,
    year: int | None = None,
    history: Sequence[int] | None = None,
    factors: ReportFactors = DEFAULT_REPORT_FACTORS,
) -> Report:
    """Compute the report. ``history``: cumulative participating households of the three years
    before ``year`` (the registry here only knows members since the ledger started)."""
    rows: dict[tuple[str, str], Row] = defaultdict(Row)
    for program, district, n in s.execute(
        sa.select(Member.program, Member.district, sa.func.count()).group_by(
            Member.program, Member.district
        )
    ):
        rows[(program, district)].members = int(n)
    for code, district, kind_code, total in s.execute(
        sa.select(Entry.program, Account.district, Entry.kind, sa.func.sum(Entry.amount))
        .join(Account, Account.account_id == Entry.account_id)
        .group_by(Entry.program, Account.district, Entry.kind)
    ):
        row = rows[(Program(code).name, district)]
        kind = EntryKind(kind_code)
        if kind is EntryKind.GRANT:
            row.awarded += int(total)
        elif kind in SPENT_KINDS:
            row.spent += int(total)
        elif kind is EntryKind.EXPIRY:
            row.expired += int(total)
        elif kind is EntryKind.CORRECTION:
            row.corrected += int(total)
    for code, district, total in s.execute(
        sa.select(Balance.program, Account.district, sa.func.sum(Balance.balance))
        .join(Account, Account.account_id == Balance.account_id)
        .group_by(Balance.program, Account.district)
    ):
        rows[(Program(code).name, district)].outstanding += int(total)

    report = Report(rows=dict(sorted(rows.items())))
    report.ghg = _ghg(s, factors)
    _participation(s, report, year, history)
    return report


def _ghg(s: Session, factors: ReportFactors) -> dict[str, Ghg]:
    out: dict[str, Ghg] = {}
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    q = sa.select(Award.program, Award.savings).where(
        Award.savings.is_not(None), Award.status != "failed"
    )
    for program, savings in s.execute(q.execution_options(yield_per=10_000)):
        for k, v in json.loads(savings or "{}").items():
            sums[program][k] += Decimal(v)
    for program, sv in sums.items():
        g = Ghg()
        if Program[program] in ECO_PROGRAMS or Program[program] is Program.ECO_ORG:
            g.toe = toe_from_energy(
                max(sv["electricity_kwh"], Decimal(0)),
                max(sv["gas_m3"], Decimal(0)),
                max(sv["heat_mcal"], Decimal(0)),
                factors,
            )
            g.tco2 = tco2_from_toe(g.toe, factors)
        if Program[program] in CAR_PROGRAMS:
            g.km = max(sv["km"], Decimal(0))
            g.tco2 = car_tco2(g.km, factors)
        out[program] = g
    return out


def _participation(
    s: Session, report: Report, year: int | None, history: Sequence[int] | None
) -> None:
    year = year or datetime.now().year
    end = datetime(year + 1, 1, 1)
    this_year = int(
        s.scalar(
            sa.select(sa.func.count()).where(
                Member.program == Program.ECO_HOUSEHOLD.name, Member.registered_at < end
            )
        )
        or 0
    )
    if not history:
        report.participation_note = (
            f"{this_year} households participate in {year}; pass --history N1,N2,N3 (cumulative "
            "participating households of the three previous years) for the growth indicator"
        )
        return
    try:
        report.participation_growth_pct = participation_growth_pct(this_year, list(history))
        report.participation_note = (
            f"{this_year} households in {year} against {', '.join(map(str, history))}"
        )
    except InvalidValue as exc:
        report.participation_note = str(exc)
