"""``mileage members``: register program memberships (and so the citizens' unified accounts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.service.members import import_members
from ledger.service.runtime import Runtime

app = typer.Typer(help="Program memberships and unified citizen accounts.", no_args_is_help=True)


@app.command("import")
@friendly_errors
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="members CSV")],
) -> None:
    """Import ``member_id, program, citizen_id, district, donation_consent`` rows."""
    rt = Runtime.open()
    key = rt.settings.account_key.get_secret_value().encode()
    report = import_members(rt.sessions, file, key)
    for r in report.rejects:
        typer.echo(f"rejected {r}", err=True)
    typer.echo(
        f"accounts created: {report.accounts_created}, members created: {report.members_created}, "
        f"updated: {report.updated}, unchanged: {report.unchanged}, rejected: {len(report.rejects)}"
    )
    if report.rejects:
        raise typer.Exit(2)
