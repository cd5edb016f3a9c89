"""`mileage awards`: compute awards from a program feed (no chain, no database).

    mileage awards compute --program CAR distances.csv > awards.csv

Writes one CSV row per accepted feed row, in feed order, to stdout; rejected rows go to
stderr (or --rejects FILE) as `file:line: reason`, and the exit code is 2 if any row was
rejected. The award ids are keyed by MILEAGE_REF_KEY (docs/keys.md), so outside the embedded demo
the command needs the keys like every other.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, TextIO

import typer

from ledger.cli._common import friendly_errors
from ledger.domain.codes import AWARDED_PROGRAMS, Program
from ledger.domain.errors import InvalidValue, UnknownProgramName
from ledger.feeds import ComputedAward, FeedOptions, check_org_period, iter_awards, safecsv
from ledger.settings import get_settings

app = typer.Typer(
    help="Compute mileage awards from program feeds (pure: needs no chain and no database).",
    no_args_is_help=True,
)

OUTPUT_COLUMNS = ("line", "member_id", "program", "period", "amount", "tier", "flags", "award_id")
EXIT_REJECTED = 2
_PROGRAM_NAMES = ", ".join(p.name for p in AWARDED_PROGRAMS)


@app.callback()
def _awards() -> None:
    """Compute mileage awards from program feeds."""


def _program(value: str) -> Program:
    try:
        return Program.parse(value, AWARDED_PROGRAMS)
    except UnknownProgramName as exc:
        raise typer.BadParameter(exc.problem) from None


def _row(award: ComputedAward) -> list[str]:
    return [
        str(award.line),
        award.member_id,
        award.program.name,
        award.period,
        str(award.amount),
        award.tier,
        ";".join(sorted(flag.value for flag in award.flags)),
        "0x" + award.award_id.hex(),
    ]


@app.command()
@friendly_errors
def compute(
    feed: Annotated[Path, typer.Argument(help="The feed CSV (UTF-8, with header).")],
    program: Annotated[
        str, typer.Option("--program", "-p", help=f"Feed program: {_PROGRAM_NAMES}.")
    ],
    period: Annotated[
        str | None,
        typer.Option(help="ECO_ORG only: the round, e.g. 2024-12..2025-03 or 2024-06..2024-09."),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Write rejected rows here instead of stderr."),
    ] = None,
) -> None:
    """Print the awards of FEED as CSV: one row per accepted row, 0 where nothing is earned."""
    chosen = _program(program)
    if chosen is Program.ECO_ORG:
        try:
            period = check_org_period(period)
        except InvalidValue as error:
            raise typer.BadParameter(str(error), param_hint="--period") from error
    elif period is not None:
        raise typer.BadParameter("only ECO_ORG feeds take a round", param_hint="--period")
    options = FeedOptions(org_period=period, award_key=get_settings().id_keys().award)
    out = safecsv.writer(sys.stdout, lineterminator="\n")
    out.writerow(OUTPUT_COLUMNS)
    rejected = 0
    with ExitStack() as stack:
        errors: TextIO = (
            stack.enter_context(rejects.open("w", encoding="utf-8"))
            if rejects is not None
            else sys.stderr
        )
        for item in iter_awards(chosen, feed, options=options):
            if isinstance(item, ComputedAward):
                out.writerow(_row(item))
            else:
                rejected += 1
                print(item, file=errors)
    sys.stdout.flush()
    if rejected:
        print(f"{rejected} row(s) rejected", file=sys.stderr)
        raise typer.Exit(EXIT_REJECTED)
