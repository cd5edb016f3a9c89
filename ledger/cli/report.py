"""``mileage report``: the plans' indicators (PROGRAM_RULES §4) as a table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.service.report import Report, build_report
from ledger.service.runtime import Runtime

app = typer.Typer()


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _history(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        parts = [int(v) for v in value.split(",")]
    except ValueError:
        raise typer.BadParameter("three whole numbers, e.g. 950000,1010000,1040000") from None
    if len(parts) != 3:
        raise typer.BadParameter("exactly three yearly cumulative figures")
    return parts


def rows(rep: Report) -> list[tuple[str, str, str, str, str]]:
    """Every figure as (section, key, period, metric, value): the CSV's long form."""
    out: list[tuple[str, str, str, str, str]] = []
    for program, g in rep.ghg.items():
        for metric in ("toe", "km", "tco2", "krw"):
            out.append(("ghg", program, "", metric, str(getattr(g, metric))))
    for item in rep.to_dict()["fiscal_years"]:  # type: ignore[attr-defined]
        for metric, value in item.items():
            if metric in ("program", "fiscal_year"):
                continue
            if metric == "spent":
                for reason, amount in value.items():
                    out.append(
                        (
                            "year",
                            item["program"],
                            str(item["fiscal_year"]),
                            f"spent:{reason}",
                            str(amount),
                        )
                    )
            else:
                out.append(
                    (
                        "year",
                        item["program"],
                        str(item["fiscal_year"]),
                        metric,
                        "" if value is None else str(value),
                    )
                )
    for (route, month), (n, amount) in rep.conversions.items():
        out.append(("conversion", route, month, "count", str(n)))
        out.append(("conversion", route, month, "amount", str(amount)))
    for district, d in rep.districts.items():
        for program, n in d.members.items():
            out.append(("district", district, str(rep.year), f"members:{program}", str(n)))
        for program, n in d.signups.items():
            out.append(("district", district, str(rep.year), f"signups:{program}", str(n)))
        out.append(("district", district, str(rep.year), "participating", str(d.participating)))
        out.append(("district", district, str(rep.year), "awarded", str(d.awarded)))
    for y, n in rep.cumulative_households.items():
        out.append(("participation", "ECO_HOUSEHOLD", str(y), "cumulative_households", str(n)))
    growth = rep.participation_growth_pct
    out.append(
        (
            "participation",
            "ECO_HOUSEHOLD",
            str(rep.year),
            "growth_pct",
            "" if growth is None else str(growth),
        )
    )
    return out


def _table(rep: Report) -> None:
    echo = typer.echo
    echo("Savings (from the awarded rounds' savings; factors: ledger/domain/report.py)")
    echo(f"{'program':14s} {'TOE':>12s} {'km':>14s} {'tCO2':>12s} {'KRW value':>16s}")
    for p, g in rep.ghg.items():
        echo(f"{p:14s} {g.toe:>12,} {g.km:>14,} {g.tco2:>12,} {g.krw:>16,}")
    echo("\nPer fiscal year (KRW; donated = expiring mileage owed to the energy welfare fund)")
    head = (
        f"{'program':14s} {'year':>4s} {'awarded':>12s} {'converted':>11s} {'spent':>11s} "
        f"{'refunded':>10s} {'expired':>9s} {'donated':>9s} {'outstanding':>12s} {'budget':>15s} "
        f"{'exec %':>7s}"
    )
    echo(head)
    echo("-" * len(head))
    for (p, y), f in rep.years.items():
        budget = "-" if f.budget is None else f"{f.budget:,}"
        pct = "-" if f.execution_pct is None else str(f.execution_pct)
        echo(
            f"{p:14s} {y:4d} {f.awarded:12,} {f.converted_out:11,} {sum(f.spent.values()):11,} "
            f"{f.refunded:10,} {f.expired:9,} {f.donated:9,} {f.outstanding:12,} {budget:>15s} "
            f"{pct:>7s}"
        )
        for reason, amount in sorted(f.spent.items()):
            echo(f"{'':20s}spent {reason}: {amount:,}")
    echo("\nConversions per route and month (settlement with Seoul Mileage)")
    for (route, month), (n, amount) in rep.conversions.items():
        echo(f"  {route:24s} {month}  {n:6d} conversions  {amount:14,} KRW")
    if not rep.conversions:
        echo("  (none)")
    if rep.in_kind:
        echo("\nIn-kind rewards (included in 'awarded')")
    for program, (n, amount) in rep.in_kind.items():
        echo(f"  {program}: {n} awards, {amount:,} KRW in kind (보상품, counted at value)")
    echo(f"\nDistricts in {rep.year}")
    for district, d in rep.districts.items():
        members = ", ".join(f"{p} {n}" for p, n in sorted(d.members.items())) or "-"
        signups = ", ".join(f"{p} {n}" for p, n in sorted(d.signups.items())) or "-"
        echo(
            f"  {district:16s} members: {members}; sign-ups: {signups}; "
            f"participating {d.participating}, awarded {d.awarded:,} KRW"
        )
    growth = rep.participation_growth_pct
    echo(
        "\nParticipation growth (government joint evaluation indicator, target 4 %): "
        + (f"{growth} %" if growth is not None else "n/a")
    )
    echo(f"  {rep.participation_note}")


@app.command()
@friendly_errors
def report(
    year: Annotated[int | None, typer.Option(help="report year (default: this year, KST)")] = None,
    history: Annotated[
        str | None,
        typer.Option(
            help="override the 3 previous years' cumulative participating households, e.g. "
            "950000,1010000,1040000 (default: counted from the sign-up dates)"
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
) -> None:
    """The plans' indicators: savings (TOE, tCO2, KRW value) per program; per fiscal year
    awarded, converted, spent by reason, expired, donated on expiry, outstanding, budget and
    execution; conversions per route and month; districts; participation growth."""
    rt = Runtime.open()
    try:
        with rt.sessions() as s:
            rep = build_report(s, year=year, history=_history(history), budgets=rt.client.budget_of)
    finally:
        rt.close()
    if fmt is Format.json:
        typer.echo(json.dumps(rep.to_dict(), ensure_ascii=False, indent=2))
    elif fmt is Format.csv:
        w = csv.writer(sys.stdout)
        w.writerow(("section", "key", "period", "metric", "value"))
        w.writerows(rows(rep))
    else:
        _table(rep)
