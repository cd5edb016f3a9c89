"""Which modules provide which ``mileage`` subcommands (kept apart so main.py stays tiny)."""

from __future__ import annotations

import importlib

import typer

# (module under ledger.cli, sub-app name or None to merge its commands at the top level)
SUBAPPS: list[tuple[str, str | None]] = [
    ("run", None),
    ("deploy", None),
    ("awards", "awards"),
    ("members", "members"),
    ("feeds", "feeds"),
    ("report", None),
    ("expire", None),
    ("bridge", "bridge"),
    ("keys", "keys"),
    ("reconcile", None),
    ("audit", "audit"),
    ("apikeys", "apikeys"),
    ("admin", "admin"),
    ("corrections", None),
    ("notices", "notices"),
]


def register(app: typer.Typer) -> None:
    """Attach every subcommand module."""
    for module, name in SUBAPPS:
        sub = importlib.import_module(f"ledger.cli.{module}").app
        if name is None:
            for cmd in sub.registered_commands:
                app.registered_commands.append(cmd)
        else:
            app.add_typer(sub, name=name)
