"""``mileage apikeys``: create, list and revoke the API's bearer keys.

A key is printed once, when created; the database keeps only its SHA-256 hash.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.service.runtime import Runtime

app = typer.Typer(help="API keys (bearer tokens with scopes) of the HTTP API.")


@app.callback()
def _apikeys() -> None:
    """API keys (bearer tokens with scopes) of the HTTP API."""


@app.command()
@friendly_errors
def create(
    name: Annotated[str, typer.Argument(help="who holds the key, e.g. seoul-wallet-backend")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            "-s",
            help="wallet | integrator | operator:<PROGRAM> | auditor | admin (repeatable)",
        ),
    ],
    account: Annotated[
        str | None, typer.Option(help="the account a wallet key reads (0x + 64 hex)")
    ] = None,
) -> None:
    """Create a key and print it once (store it now: it cannot be shown again)."""
    from ledger.service.apikeys import create_api_key

    rt = Runtime.open()
    try:
        created = create_api_key(rt.sessions, name, scope, account)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    typer.echo(created.key)
    print(
        f"key {created.id} '{name}' scopes={' '.join(created.scopes)}"
        + (f" account={created.account_id}" if created.account_id else "")
        + " - shown once, store it now",
        file=sys.stderr,
    )


@app.command("list")
@friendly_errors
def list_() -> None:
    """List keys (prefix, scopes, account, state); never the secrets."""
    from ledger.service.apikeys import list_api_keys

    rt = Runtime.open()
    typer.echo(f"{'id':>4}  {'prefix':10} {'state':8} {'name':24} {'scopes':30} account")
    for k in list_api_keys(rt.sessions):
        state = "revoked" if k.revoked_at else "active"
        typer.echo(
            f"{k.id:>4}  {k.prefix:10} {state:8} {k.name[:24]:24} {k.scopes[:30]:30} "
            f"{k.account_id or ''}"
        )


@app.command()
@friendly_errors
def revoke(key_id: Annotated[int, typer.Argument(help="the key's id (see `list`)")]) -> None:
    """Revoke a key (takes effect within seconds in running API processes)."""
    from ledger.service.apikeys import revoke_api_key

    rt = Runtime.open()
    if not revoke_api_key(rt.sessions, key_id):
        print(f"error: no active key with id {key_id}", file=sys.stderr)
        raise typer.Exit(1)
    typer.echo(f"revoked key {key_id}")
