"""``mileage feeds import``: validate a program feed and record its awards for the bridge."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from ledger.cli._common import friendly_errors
from ledger.domain.codes import Program
from ledger.domain.errors import UnknownProgramName
from ledger.feeds import safecsv
from ledger.feeds.formats import FeedOptions
from ledger.feeds.model import Reject
from ledger.service.feeds import count_rows, import_feed
from ledger.service.runtime import Runtime

app = typer.Typer(help="Program feeds (eco, car, bike, season).", no_args_is_help=True)


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    """The rejects report: CSV ``file, line, reason``."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = safecsv.writer(fh)
        w.writerow(["file", "line", "reason"])
        w.writerows([r.file, r.line, r.reason] for r in rejects)


@app.command("import")
@friendly_errors
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="feed CSV")],
    program: Annotated[
        str, typer.Option(help="ECO_HOUSEHOLD, ECO_ORG, CAR, BIKE, ECO_SEASON, CAR_SEASON")
    ],
    period: Annotated[str | None, typer.Option(help="ECO_ORG round, e.g. 2024-12..2025-03")] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="rejects report (default FILE.rejects.csv)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Validate, compute and record the awards of FILE, all or nothing: if any row is rejected
    nothing is recorded and the rejects report lists every bad row."""
    try:
        prog = Program.parse(program)
    except UnknownProgramName as exc:
        raise typer.BadParameter(exc.problem, param_hint="--program") from None
    rt = Runtime.open()
    total = count_rows(file)
    bar = tqdm(
        total=total,
        unit="row",
        disable=not progress or not sys.stderr.isatty(),
        desc=f"{prog.name} {file.name}",
    )

    def advance(rows: int) -> None:
        bar.update(rows)

    report = import_feed(
        rt.sessions,
        prog,
        file,
        options=FeedOptions(org_period=period, award_key=rt.keys.award),
        progress=advance,
    )
    bar.close()
    if report.rejected:
        target = rejects or file.with_suffix(".rejects.csv")
        write_rejects(target, report.rejects)
        typer.echo(
            f"{file}: {report.rows} rows; rejected {report.rejected}; nothing was recorded "
            f"(a feed is recorded whole or not at all). Fix the rows listed in {target} and "
            "import the file again.",
            err=True,
        )
        raise typer.Exit(2)
    what = "monthly accruals (paid by `mileage bike payout`)" if prog is Program.BIKE else "awards"
    typer.echo(
        f"{file}: {report.rows} rows; recorded {report.recorded} {what} "
        f"({report.recorded_amount:,} mileage); already recorded {report.already_recorded}; "
        f"nothing earned {report.zero}; flags kept {report.flagged}; rejected 0"
    )
