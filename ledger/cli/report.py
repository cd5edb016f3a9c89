"""``mileage report``: program × district figures, GHG estimates, participation growth."""

from __future__ import annotations

from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.service.report import build_report
from ledger.service.runtime import Runtime

app = typer.Typer()


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


@app.command()
@friendly_errors
def report(
    year: Annotated[int | None, typer.Option(help="report year (default: this year)")] = None,
    history: Annotated[
        str | None,
        typer.Option(
            help="cumulative participating households of the 3 previous years, e.g. "
            "950000,1010000,1040000"
        ),
    ] = None,
) -> None:
    """Per program and district: members, awarded, spent, expired, outstanding (KRW); the GHG
    reduction estimate; the government participation-growth indicator (PROGRAM_RULES §4)."""
    rt = Runtime.open()
    with rt.sessions() as s:
        rep = build_report(s, year=year, history=_history(history))
    head = (
        f"{'program':14s} {'district':16s} {'members':>8s} {'awarded':>14s} {'spent':>12s} "
        f"{'expired':>10s} {'outstanding':>14s}"
    )
    typer.echo(head)
    typer.echo("-" * len(head))
    totals: dict[str, list[int]] = {}
    for (program, district), r in rep.rows.items():
        typer.echo(
            f"{program:14s} {district or '-':16s} {r.members:8d} {r.awarded:14,d} "
            f"{r.spent:12,d} {r.expired:10,d} {r.outstanding:14,d}"
        )
        t = totals.setdefault(program, [0, 0, 0, 0, 0])
        for i, v in enumerate((r.members, r.awarded, r.spent, r.expired, r.outstanding)):
            t[i] += v
    typer.echo("-" * len(head))
    for program, t in totals.items():
        typer.echo(
            f"{program:14s} {'(all)':16s} {t[0]:8d} {t[1]:14,d} {t[2]:12,d} {t[3]:10,d} {t[4]:14,d}"
        )
    typer.echo(
        "\nGHG reduction estimate (from the awarded rounds' savings; factors: docs/feeds.md)"
    )
    for program, g in sorted(rep.ghg.items()):
        detail = f"{g.km:,} km" if g.km else f"{g.toe:,} TOE"
        typer.echo(f"  {program:14s} {detail:>20s}  {g.tco2:,} tCO2")
    if not rep.ghg:
        typer.echo("  (no savings recorded yet)")
    growth = rep.participation_growth_pct
    typer.echo(
        "\nParticipation growth (government joint evaluation indicator, target 4 %): "
        + (f"{growth} %" if growth is not None else "n/a")
    )
    typer.echo(f"  {rep.participation_note}")
