"""``mileage keys``: encrypted signing keys, one keystore file per role."""

from __future__ import annotations

from pathlib import Path

import typer

from bridge.errors import BridgeError
from bridge.signer import available_roles, keystore_password, load_signer, write_keystore
from ledger.settings import Settings

app = typer.Typer(help="Signing keys (encrypted keystores, one per role).", no_args_is_help=True)


@app.command("new")
def new(
    role: str = typer.Option(
        ..., "--role", help="issuer-<PROGRAM> (e.g. issuer-CAR), converter, spender or admin"
    ),
    keystore_dir: Path | None = typer.Option(
        None, "--dir", help="keystore directory (default: MILEAGE_KEYSTORE_DIR or <data>/keys)"
    ),
    force: bool = typer.Option(False, "--force", help="replace an existing keystore of the role"),
) -> None:
    """Create a new key for ROLE, encrypted with MILEAGE_KEYSTORE_PASSWORD[_FILE].

    Prints the file and the address (grant the address its role on the contract); never the key."""
    settings = Settings()
    directory = keystore_dir or settings.effective_keystore_dir
    try:
        path, address = write_keystore(
            directory, role, keystore_password(settings), overwrite=force
        )
    except BridgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{role}\t{address}\t{path}")


@app.command("list")
def list_keys() -> None:
    """List the roles with a keystore and their addresses (decrypts each with the password)."""
    settings = Settings()
    roles = available_roles(settings)
    if not roles:
        typer.echo(f"no keystores in {settings.effective_keystore_dir}")
        return
    for role in roles:
        try:
            typer.echo(f"{role}\t{load_signer(settings, role).address}")
        except BridgeError as exc:
            typer.echo(f"{role}\t(unreadable: {exc})")
