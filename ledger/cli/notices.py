"""``mileage notices``: lists for the city's messaging system (CSV or JSON on stdout or a file)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.domain.codes import AWARDED_PROGRAMS, Program
from ledger.domain.errors import InvalidValue
from ledger.service import notices
from ledger.service.runtime import Runtime

app = typer.Typer(help="Notices for the city's messaging system.", no_args_is_help=True)

Format = Annotated[str, typer.Option("--format", help="csv or json")]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", dir_okay=False, help="file (default: stdout)")
]
EXPIRING_COLUMNS = ("citizen_id", "account", "program", "amount", "expires_on")
AWARD_COLUMNS = ("citizen_id", "account", "program", "period", "amount", "awarded_at")
USAGE_COLUMNS = ("citizen_id", "account", "program", "period", "recorded_at")


def _program(name: str) -> Program:
    program = Program.__members__.get(name.upper())
    if program is None or program not in AWARDED_PROGRAMS:
        names = ", ".join(p.name for p in AWARDED_PROGRAMS)
        raise InvalidValue("program", f"{name!r} is not an awarded program; use one of {names}")
    return program


def _emit(text: str, output: Path | None, count: int) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    typer.echo(f"{count} notices", err=True)


@app.command("expiring")
@friendly_errors
def expiring(
    within_days: Annotated[int, typer.Option(min=0, max=3650, help="horizon in days")] = 60,
    fmt: Format = "csv",
    output: Output = None,
) -> None:
    """Citizens whose mileage lapses within N days unless spent (per program and date)."""
    rt = Runtime.open()
    try:  # the chain's time, as the API's /expiring uses it
        now = int(rt.w3.eth.get_block("latest")["timestamp"])
    except Exception:  # chain unreachable: this machine's clock
        now = int(time.time())
    rows = notices.expiring(rt.sessions, within_days, now=now, validity=rt.validity)
    _emit(notices.render(rows, fmt, EXPIRING_COLUMNS), output, len(rows))


@app.command("awards")
@friendly_errors
def awards(
    program: Annotated[str, typer.Option(help="awarded program, e.g. ECO_HOUSEHOLD")],
    period: Annotated[str, typer.Option(help="the round, e.g. 2024-01..2024-06")],
    fmt: Format = "csv",
    output: Output = None,
) -> None:
    """Award confirmations of a program's round (awards final on chain)."""
    rows = notices.awards(Runtime.open().sessions, _program(program), period)
    _emit(notices.render(rows, fmt, AWARD_COLUMNS), output, len(rows))


@app.command("usage-rise")
@friendly_errors
def usage_rise(
    period: Annotated[str, typer.Option(help="the round, e.g. 2024-01..2024-06")],
    program: Annotated[str | None, typer.Option(help="only this program")] = None,
    fmt: Format = "csv",
    output: Output = None,
) -> None:
    """Members whose usage rose 10 % or more in the round (energy-saving notice, no award)."""
    chosen = _program(program) if program else None
    rows = notices.usage_rise(Runtime.open().sessions, period, chosen)
    _emit(notices.render(rows, fmt, USAGE_COLUMNS), output, len(rows))
