"""``mileage report``: the plans' indicators (PROGRAM_RULES §4), reproducible from the chain.

- per program: TOE saved, tCO₂ and the KRW value of the energy saved (from the awarded rounds'
  savings; factors in :class:`ledger.domain.report.ReportFactors`);
- per program and fiscal year (KST): awarded, converted, spent by reason, expired and donated on
  expiry apart, outstanding at the year's end; budget and execution rate (from the contract);
- conversions per route and month, for settlement with Seoul Mileage;
- per district: members by program, sign-ups in the year, participating accounts and what they
  were awarded; the government's participation-growth indicator from the sign-up dates.

Money figures come from the index of on-chain entries (``entries``: the chain's
``EntryRecorded`` events, each link proven by the hash chain), never from the outbox. Sign-up
dates are the members file's ``joined_at`` (the program's own sign-up date, a Korean calendar
date); a membership without one counts from ``registered_at``, when it was recorded here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ledger.adapters.orm import Account, Award, Entry, Member
from ledger.domain.codes import EntryKind, Program
from ledger.domain.errors import InvalidValue
from ledger.domain.report import (
    DEFAULT_REPORT_FACTORS,
    KST,
    ReportFactors,
    YearFigures,
    car_tco2,
    fiscal_year_bounds,
    fiscal_year_of,
    month_of,
    participation_growth_pct,
    round_half_up,
    savings_krw,
    tco2_from_toe,
    toe_from_energy,
)
from ledger.domain.rules.common import exact
from ledger.service.flags import IN_KIND_NOTE, in_kind_totals

#: (program, fiscal year) -> (budget, issued) as the contract counts them
BudgetLookup = Callable[[int, int], tuple[int, int]]
ENERGY_PROGRAMS = (Program.ECO_HOUSEHOLD, Program.ECO_SEASON)


@dataclass
class Ghg:
    """Savings of one program: TOE, km (car and bike programs), tCO₂ and the KRW value."""

    toe: Decimal = Decimal(0)
    km: Decimal = Decimal(0)
    tco2: Decimal = Decimal(0)
    krw: int = 0


@dataclass
class District:
    """One district in the report year."""

    members: dict[str, int] = field(default_factory=dict)
    signups: dict[str, int] = field(default_factory=dict)
    participating: int = 0
    """Accounts of the district awarded at least once in the year."""
    awarded: int = 0


@dataclass
class Report:
    year: int
    ghg: dict[str, Ghg] = field(default_factory=dict)
    years: dict[tuple[str, int], YearFigures] = field(default_factory=dict)
    conversions: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """(route "FROM→TO", month) -> (count, amount)."""
    districts: dict[str, District] = field(default_factory=dict)
    cumulative_households: dict[int, int] = field(default_factory=dict)
    participation_growth_pct: Decimal | None = None
    participation_note: str = ""
    in_kind: dict[str, tuple[int, int]] = field(default_factory=dict)
    """program -> (awards, amount) given in kind (ledger.service.flags.in_kind_totals)."""

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready figures (Decimals as strings)."""
        return {
            "year": self.year,
            "ghg": {
                p: {"toe": str(g.toe), "km": str(g.km), "tco2": str(g.tco2), "krw": g.krw}
                for p, g in self.ghg.items()
            },
            "fiscal_years": [
                {
                    "program": p,
                    "fiscal_year": y,
                    "awarded": f.awarded,
                    "converted_out": f.converted_out,
                    "converted_in": f.converted_in,
                    "spent": dict(sorted(f.spent.items())),
                    "expired": f.expired,
                    "donated_on_expiry": f.donated,
                    "corrected": f.corrected,
                    "merged_out": f.merged_out,
                    "merged_in": f.merged_in,
                    "refunded": f.refunded,
                    "outstanding": f.outstanding,
                    "budget": f.budget,
                    "issued": f.issued,
                    "execution_pct": None if f.execution_pct is None else str(f.execution_pct),
                }
                for (p, y), f in self.years.items()
            ],
            "conversions": [
                {"route": r, "month": m, "count": n, "amount": a}
                for (r, m), (n, a) in self.conversions.items()
            ],
            "districts": {
                d: {
                    "members": v.members,
                    "signups": v.signups,
                    "participating": v.participating,
                    "awarded": v.awarded,
                }
                for d, v in self.districts.items()
            },
            "participation": {
                "cumulative_households": self.cumulative_households,
                "growth_pct": None
                if self.participation_growth_pct is None
                else str(self.participation_growth_pct),
                "note": self.participation_note,
            },
            "in_kind": {
                "note": IN_KIND_NOTE,
                "programs": {p: {"awards": n, "amount": a} for p, (n, a) in self.in_kind.items()},
            },
        }


def build_report(
    s: Session,
    *,
    year: int | None = None,
    history: Sequence[int] | None = None,
    factors: ReportFactors = DEFAULT_REPORT_FACTORS,
    budgets: BudgetLookup | None = None,
) -> Report:
    """The report of fiscal year ``year`` (default: this year, KST); the yearly flows cover
    every fiscal year that has entries. ``history`` overrides the three previous years'
    cumulative participating households (otherwise counted from the sign-up dates)."""
    year = year or datetime.now(KST).year
    report = Report(year=year)
    report.years = _years(s, budgets)
    report.conversions = _conversions(s)
    report.ghg = _ghg(s, factors)
    report.districts = _districts(s, year)
    _participation(s, report, history)
    report.in_kind = in_kind_totals(s)
    return report


def _year_case(s: Session) -> tuple[sa.ColumnElement[int], list[int]]:
    lo, hi = s.execute(sa.select(sa.func.min(Entry.timestamp), sa.func.max(Entry.timestamp))).one()
    if lo is None:
        return sa.literal(0), []
    years = list(range(fiscal_year_of(int(lo)), fiscal_year_of(int(hi)) + 1))
    case = sa.case(
        *[(Entry.timestamp < fiscal_year_bounds(y)[1], y) for y in years], else_=years[-1]
    )
    return case, years


def _years(s: Session, budgets: BudgetLookup | None) -> dict[tuple[str, int], YearFigures]:
    fy, years = _year_case(s)
    if not years:
        return {}
    out: dict[tuple[str, int], YearFigures] = {}
    for code, y, kind, reason, total in s.execute(
        sa.select(Entry.program, fy, Entry.kind, Entry.reason, sa.func.sum(Entry.amount))
        .group_by(Entry.program, fy, Entry.kind, Entry.reason)
        .order_by(Entry.program, fy)
    ):
        out.setdefault((Program(code).name, int(y)), YearFigures()).add(kind, reason, int(total))
    for program in {p for p, _ in out}:
        running = 0
        for y in years:
            f = out.get((program, y))
            if f is None:
                continue
            running += (
                f.awarded
                + f.converted_in
                + f.merged_in
                + f.refunded
                - f.converted_out
                - sum(f.spent.values())
                - f.expired
                - f.donated
                - f.corrected
                - f.merged_out
            )
            f.outstanding = running
            if budgets is not None and Program[program] is not Program.SEOUL:
                f.budget, f.issued = budgets(int(Program[program]), y)
    return dict(sorted(out.items(), key=lambda kv: (int(Program[kv[0][0]]), kv[0][1])))


def _conversions(s: Session) -> dict[tuple[str, str], tuple[int, int]]:
    out_e, in_e = aliased(Entry), aliased(Entry)
    acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    q = (
        sa.select(out_e.program, in_e.program, out_e.timestamp, out_e.amount)
        .join(
            in_e,
            sa.and_(
                in_e.account_id == out_e.account_id,
                in_e.ref == out_e.ref,
                in_e.kind == int(EntryKind.CONVERSION_IN),
            ),
        )
        .where(out_e.kind == int(EntryKind.CONVERSION_OUT))
    )
    for src, dst, ts, amount in s.execute(q.execution_options(yield_per=10_000)):
        key = (f"{Program(src).name}→{Program(dst).name}", month_of(int(ts)))
        acc[key][0] += 1
        acc[key][1] += int(amount)
    return {k: (v[0], v[1]) for k, v in sorted(acc.items())}


def _ghg(s: Session, factors: ReportFactors) -> dict[str, Ghg]:
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    q = sa.select(Award.program, Award.savings).where(
        Award.savings.is_not(None), Award.status != "failed"
    )
    for program, savings in s.execute(q.execution_options(yield_per=10_000)):
        for k, v in json.loads(savings or "{}").items():
            value = Decimal(v)
            if k == "season_km":  # CAR_SEASON: below Seoul's average distance
                k, value = "km", max(factors.seoul_season_km - value, Decimal(0))
            sums[program][k] += value
    out: dict[str, Ghg] = {}
    for p in Program:
        if p is Program.SEOUL:
            continue
        sv = sums.get(p.name, defaultdict(Decimal))
        g = Ghg()
        if p in ENERGY_PROGRAMS:
            g.toe = toe_from_energy(
                max(sv["electricity_kwh"], Decimal(0)),
                max(sv["gas_m3"], Decimal(0)),
                max(sv["heat_mcal"], Decimal(0)),
                factors,
            )
        elif p is Program.ECO_ORG:
            g.toe = round_half_up(exact(sv["toe"]), 3)
        elif p is Program.BIKE:
            km = (
                exact(sv["ride_minutes"])
                * exact(factors.bike_km_per_minute)
                * exact(factors.bike_car_substitution)
            )
            g.km = round_half_up(km, 1)
        else:
            g.km = max(sv["km"], Decimal(0))
        g.tco2 = tco2_from_toe(g.toe, factors) if g.toe else car_tco2(g.km, factors)
        g.krw = savings_krw(g.toe, factors)
        out[p.name] = g
    return out


def _utc(year: int) -> tuple[datetime, datetime]:
    start, end = fiscal_year_bounds(year)
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)


def _joined_before(year: int) -> sa.ColumnElement[bool]:
    """The membership signed up before fiscal year ``year + 1`` began (KST calendar year)."""
    _, end = _utc(year)
    return sa.or_(
        sa.and_(Member.joined_at.is_not(None), Member.joined_at < date(year + 1, 1, 1)),
        sa.and_(Member.joined_at.is_(None), Member.registered_at < end),
    )


def _districts(s: Session, year: int) -> dict[str, District]:
    out: dict[str, District] = defaultdict(District)
    for program, district, n in s.execute(
        sa.select(Member.program, Member.district, sa.func.count())
        .where(_joined_before(year))
        .group_by(Member.program, Member.district)
    ):
        out[district or "-"].members[program] = int(n)
    for program, district, n in s.execute(
        sa.select(Member.program, Member.district, sa.func.count())
        .where(_joined_before(year), sa.not_(_joined_before(year - 1)))
        .group_by(Member.program, Member.district)
    ):
        out[district or "-"].signups[program] = int(n)
    lo, hi = fiscal_year_bounds(year)
    for district, accounts, total in s.execute(
        sa.select(
            Account.district,
            sa.func.count(sa.distinct(Entry.account_id)),
            sa.func.sum(Entry.amount),
        )
        .join(Account, Account.account_id == Entry.account_id)
        .where(Entry.kind == int(EntryKind.GRANT), Entry.timestamp >= lo, Entry.timestamp < hi)
        .group_by(Account.district)
    ):
        d = out[district or "-"]
        d.participating, d.awarded = int(accounts), int(total)
    return dict(sorted(out.items()))


def _participation(s: Session, report: Report, history: Sequence[int] | None) -> None:
    year = report.year
    for y in range(year - 3, year + 1):
        report.cumulative_households[y] = int(
            s.scalar(
                sa.select(sa.func.count()).where(
                    Member.program == Program.ECO_HOUSEHOLD.name, _joined_before(y)
                )
            )
            or 0
        )
    this_year = report.cumulative_households[year]
    previous = (
        list(history)
        if history
        else [report.cumulative_households[y] for y in range(year - 3, year)]
    )
    source = "given" if history else "from sign-up dates"
    try:
        report.participation_growth_pct = participation_growth_pct(this_year, previous)
        report.participation_note = (
            f"{this_year} households in {year} against {', '.join(map(str, previous))} "
            f"({source}; sign-up = the members file's joined_at, else when the membership was "
            "recorded)"
        )
    except InvalidValue as exc:
        report.participation_note = (
            f"{exc}: pass --history N1,N2,N3 (cumulative participating households of the three "
            "previous years)"
        )
