"""``mileage correct``: reverse an erroneous award on chain (CORRECTION entry, CORRECTOR_ROLE)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.service.runtime import Runtime

app = typer.Typer()


@app.command()
@friendly_errors
def correct(
    award: Annotated[str, typer.Argument(help="the award: its number or its 0x award id")],
    amount: Annotated[
        int | None,
        typer.Option(min=1, help="amount to reverse (default: all of the award not yet corrected)"),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            help="why: kept with the correction's transaction and shown in the audit trail "
            "(the chain has no field for it)"
        ),
    ] = None,
) -> None:
    """Reverse an award that was granted in error (admin key: it holds CORRECTOR_ROLE after
    `mileage deploy`). The award must be on chain (mined); the correction debits its account (or
    the account it was merged into) and can never take more than what is left unspent of it."""
    from ledger.service.corrections import correct_award

    res = correct_award(
        Runtime.open(),
        award,
        amount,
        reason,
        progress=lambda msg: print(msg, file=sys.stderr),
    )
    left = res.award_amount - res.corrected_before - res.amount
    typer.echo(
        f"corrected award {res.award_no} ({res.program.name}, {res.award_id}): reversed "
        f"{res.amount:,} of {res.award_amount:,} on account {res.account} "
        f"(tx {res.tx_hash}); {left:,} of it left uncorrected"
        + (f"; reason: {reason}" if reason else "")
    )
