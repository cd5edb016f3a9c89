"""``mileage expire``: the expiry run (quarterly): lapsed, unspent mileage leaves the balances."""

from __future__ import annotations

from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.domain.codes import Program
from ledger.domain.errors import UnknownProgramName
from ledger.service.runtime import Runtime

app = typer.Typer()


@app.command()
@friendly_errors
def expire(
    program: Annotated[str, typer.Option(help="program whose mileage expires")],
    account: Annotated[list[str] | None, typer.Option(help="only these accounts (0x ids)")] = None,
) -> None:
    """Expire mileage older than its validity (5 years) that was not spent, first in first out;
    accounts consenting to donation record it as EXPIRY_DONATION (EXPIRER key). Each due account's
    live checkpoints come from the indexed entries: accounts the index cannot serve yet are
    skipped and listed (exit code 2); run it again once the index has caught up."""
    from ledger.service.chain_ops import expire_program

    try:
        prog = Program.parse(program)
    except UnknownProgramName as exc:
        raise typer.BadParameter(exc.problem, param_hint="--program") from None
    res = expire_program(Runtime.open(), prog, account or None)
    typer.echo(
        f"{prog.name}: {res.checked} accounts checked, {res.due} due, "
        f"{res.expired:,} mileage expired"
    )
    if res.skipped:
        typer.echo(
            f"{len(res.skipped)} due accounts skipped: their live checkpoints cannot be built "
            "from the index yet (it is behind the chain); let the bridge index "
            "(`mileage bridge run`) and run `mileage expire` again",
            err=True,
        )
        for acct, why in sorted(res.skipped.items()):
            typer.echo(f"  skipped {acct}: {why}", err=True)
        raise typer.Exit(2)
