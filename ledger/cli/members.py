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
    """Import ``member_id, program, citizen_id, district, donation_consent`` rows (and the
    optional ``joined_at`` sign-up date, YYYY-MM-DD, and the consent's ``consent_at``,
    ``terms_version``, ``consent_channel``), all or nothing (a rejected row leaves
    the database unchanged)."""
    rt = Runtime.open()
    report = import_members(rt.sessions, file, rt.keys.account)
    for r in report.rejects:
        typer.echo(f"rejected {r}", err=True)
    if report.rejects:
        typer.echo(
            f"{file}: rejected {len(report.rejects)} rows; nothing was recorded (a members file "
            "is imported whole or not at all). Fix the rows above and import the file again.",
            err=True,
        )
        raise typer.Exit(2)
    typer.echo(
        f"accounts created: {report.accounts_created}, members created: {report.members_created}, "
        f"updated: {report.updated}, unchanged: {report.unchanged}, rejected: 0"
    )
    if report.consent_queued:
        typer.echo(
            f"donation consent: {report.consent_changes} changes recorded, "
            f"{report.consent_queued} queued for the chain (`mileage bridge run` or "
            "`mileage run` sends them)"
        )
    if report.joined_at_fallback:
        typer.echo(
            f"{report.joined_at_fallback} new members had no joined_at: their sign-up date is "
            "today's, so they get no award for earlier windows (add the joined_at column)"
        )


@app.command("merge")
@friendly_errors
def merge(
    from_citizen: Annotated[str, typer.Option(help="citizen id whose account is retired")],
    into_citizen: Annotated[str, typer.Option(help="citizen id whose account receives it")],
) -> None:
    """Integrate two accounts (e.g. a car account into the citizen's eco account): every balance
    moves on-chain with MERGE entries; memberships and pending awards follow the new account."""
    from ledger.service.chain_ops import merge_citizens

    res = merge_citizens(Runtime.open(), from_citizen, into_citizen)
    typer.echo(
        f"{'merged' if res.sent else 'already merged'}: {res.from_account} -> "
        f"{res.into_account}; {res.members_moved} memberships and {res.awards_moved} "
        "pending awards now point at the new account"
    )


@app.command("sync-consent")
@friendly_errors
def sync_consent() -> None:
    """Repair: queue the donation consent of every account whose chain flag differs from the
    database (expiring mileage of consenting accounts is recorded as EXPIRY_DONATION). Imports
    queue their changes themselves; `mileage bridge run` / `mileage run` sends them."""
    from ledger.service.chain_ops import sync_donation_consent

    n = sync_donation_consent(Runtime.open())
    typer.echo(
        f"donation consent queued for {n} accounts; `mileage bridge run` (or `mileage run`) "
        "sends them with the registrar key"
    )
