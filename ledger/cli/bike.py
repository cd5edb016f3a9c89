"""``mileage bike payout``: pay the accrued BIKE months of the closed payout periods
(PROGRAM_RULES §2.4; the cadence is ``MILEAGE_BIKE_PAYOUT``)."""

from __future__ import annotations

from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.domain.rules.bike_payout import parse_cadence
from ledger.domain.types import YearMonth
from ledger.service.bike_accruals import pay
from ledger.service.runtime import Runtime

app = typer.Typer(
    help="The public-bike pilot: accrued mileage and its payouts.", no_args_is_help=True
)


@app.command("payout")
@friendly_errors
def payout(
    through: Annotated[str, typer.Option(help="last finished month to pay through, YYYY-MM")],
    cadence: Annotated[
        str | None,
        typer.Option(
            help="yearly, half-yearly, quarterly or monthly (default MILEAGE_BIKE_PAYOUT)"
        ),
    ] = None,
) -> None:
    """Turn every accrued, unpaid month of the payout periods closed by --through into one award
    per member and period, for the bridge to mirror. Running it again pays nothing twice."""
    month = YearMonth.parse(through, "through")
    rt = Runtime.open()
    chosen = parse_cadence(cadence) if cadence is not None else rt.settings.bike_payout
    report = pay(rt.sessions, chosen, month, rt.keys.award)
    typer.echo(
        f"BIKE payout ({chosen.value}) through {month}: recorded {report.awards} awards "
        f"({report.amount:,} mileage) for {report.months} accrued months"
    )
    for member, period in report.late:
        typer.echo(
            f"warning: member {member!r} has months of {period} that accrued after {period} was "
            "paid; they stay unpaid (record a correction for them)",
            err=True,
        )
