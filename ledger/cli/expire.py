"""``mileage expire``: the expiry run (quarterly): lapsed, unspent mileage leaves the balances."""

from __future__ import annotations

from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.domain.codes import Program
from ledger.service.runtime import Runtime

app = typer.Typer()


@app.command()
@friendly_errors
def expire(
    program: Annotated[str, typer.Option(help="program whose mileage expires")],
    account: Annotated[list[str] | None, typer.Option(help="only these accounts (0x ids)")] = None,
) -> None:
    """Expire mileage older than its validity (5 years) that was not spent, first in first out;
    accounts consenting to donation record it as EXPIRY_DONATION (EXPIRER key)."""
    from ledger.service.chain_ops import expire_program

    try:
        prog = Program[program.upper()]
    except KeyError:
        raise typer.BadParameter(f"unknown program {program!r}", param_hint="--program") from None
    checked, total = expire_program(Runtime.open(), prog, account or None)
    typer.echo(f"{prog.name}: {checked} accounts checked, {total:,} mileage expired")
