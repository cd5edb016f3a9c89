"""``mileage``: the one command for every operation of the ledger.

Each subcommand lives in its own module under ``ledger/cli/`` and only translates arguments into
a call of the service layer and errors into exit codes and messages.
"""

from __future__ import annotations

import typer

from ledger.cli import _registry
from ledger.gc_tuning import tune_gc
from ledger.recursion import restore_recursion_limit

restore_recursion_limit()

app = typer.Typer(
    name="mileage",
    help="Seoul environment mileage ledger: awards, bridge, chain, API and audits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_registry.register(app)
tune_gc()  # after start-up's imports: bulk commands (import, bridge) allocate per row


if __name__ == "__main__":
    app()
