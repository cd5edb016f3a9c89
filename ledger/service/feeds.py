"""Record awards in the outbox for the bridge: the one recording path of feeds and the API.

`record_awards` takes rows (a feed file's, or the API's parsed JSON items), validates and
computes them (ledger.feeds) and records the awards **all or nothing**: everything goes into
one database transaction, which is rolled back if any row (or the file itself, e.g. a
decoding error on its last line) is rejected. Memory stays flat: rows stream, awards are
inserted in chunks inside that transaction (the member registry of the program is held as a
set of ids). An award is unique per (program, member, period) in the database, so recording
the same rows again (after fixing rejected rows, or after the ref key was rotated: the
database keeps the award id it used, docs/keys.md) records only what is not recorded yet.
BIKE rows are recorded the same way but as monthly accruals (`ledger.service.bike_accruals`),
paid later by `mileage bike payout`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.bulk import BulkWriter, large_page_cache
from ledger.adapters.orm import Award, Member
from ledger.domain.codes import Program
from ledger.feeds.formats import COLUMNS, FeedOptions
from ledger.feeds.model import ComputedAward, Reject
from ledger.feeds.pipeline import iter_row_awards
from ledger.feeds.reader import Rows, read_rows
from ledger.service import bike_accruals, windows
from ledger.service.flags import record_flags
from ledger.service.runs import record_feed_run

CHUNK = 5000
_AWARDS = cast(Table, Award.__table__)

Outcome = Callable[[ComputedAward, str], None]
"""Told the status of every computed award: ``recorded``, ``already_recorded`` or ``zero``."""
Record = Callable[[Session, list[ComputedAward], "FeedReport", str, str, Outcome | None], None]
"""Records a chunk of computed awards (`_insert`, or `bike_accruals.accrue` for BIKE)."""


@dataclass
class FeedReport:
    """What an import did. When anything was rejected, nothing is recorded (`committed` is
    False and the recorded counts are 0)."""

    rows: int = 0
    recorded: int = 0
    recorded_amount: int = 0
    already_recorded: int = 0
    zero: int = 0
    rejects: list[Reject] = field(default_factory=list)
    rejected: int = 0
    flagged: int = 0
    """Follow-ups stored (e.g. energy-saving notices, ledger.service.flags)."""
    committed: bool = False
    max_rejects_kept: int = 100_000

    def reject(self, r: Reject) -> None:
        """Count a rejected row (keeping at most ``max_rejects_kept`` of them in memory)."""
        if len(self.rejects) < self.max_rejects_kept:
            self.rejects.append(r)
        self.rejected += 1


def count_rows(path: Path) -> int:
    """Data rows in a CSV (lines minus the header), for the progress bar; fast, binary read."""
    n = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
    return max(0, n - 1)


def import_feed(
    factory: sessionmaker[Session],
    program: Program,
    path: Path,
    *,
    options: FeedOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> FeedReport:
    """Validate the feed at ``path`` and record its awards, all or nothing."""
    columns = COLUMNS.get(program, ())
    return record_awards(
        factory,
        program,
        str(path),
        lambda: read_rows(path, columns),
        source=path.name,
        options=options,
        progress=progress,
    )


def record_awards(
    factory: sessionmaker[Session],
    program: Program,
    file: str,
    rows: Rows,
    *,
    source: str,
    options: FeedOptions | None = None,
    members: Collection[str] | None = None,
    progress: Callable[[int], None] | None = None,
    outcome: Outcome | None = None,
) -> FeedReport:
    """Validate and compute ``rows`` and record their awards in one transaction.

    ``file`` names the rows in rejects; ``source`` is stored with each award (``source:line``).
    ``members``, when given, limits the registry lookup to those member ids (a small batch).
    If any row is rejected the transaction is rolled back and the report lists the rejects.
    """
    report = FeedReport()
    # BIKE months accrue (paid later, per payout period: ledger.service.bike_accruals).
    record: Record = bike_accruals.accrue if program is Program.BIKE else _insert
    with factory() as session:
        known: Collection[str]
        if members is None and program is Program.BIKE:
            # the program's registry with the accounts and sign-up days the accruals need,
            # read once for every chunk (raw: 50,000 rows)
            found = windows.registry(BulkWriter(session), program.name)
            known = found[0]
            record = partial(bike_accruals.accrue, registry=found)
        elif members is None:  # the program's registry, as a set of ids (raw: 50,000 rows)
            bulk = BulkWriter(session)
            known = {
                m
                for (m,) in bulk.fetch(
                    f"SELECT member_id FROM members WHERE program = {bulk.mark}", [program.name]
                )
            }
        else:
            query = select(Member.member_id).where(Member.program == program.name)
            known = set(session.scalars(query.where(Member.member_id.in_(set(members)))))
        chunk: list[ComputedAward] = []
        flagged: list[ComputedAward] = []  # rows whose rule asked for a follow-up
        try:
            # a large page cache while it writes (restored before the commit)
            with large_page_cache(BulkWriter(session)):
                for item in iter_row_awards(
                    program,
                    file,
                    rows,
                    known.__contains__,
                    options=options,
                    bike_earned_before=bike_accruals.earned_lookup(session),
                ):
                    report.rows += 1
                    if isinstance(item, Reject):
                        report.reject(item)  # (the chunks do not grow)
                    else:
                        if item.amount == 0:
                            report.zero += 1
                            if outcome is not None:
                                outcome(item, "zero")
                        elif not report.rejected:  # after a reject nothing will be recorded
                            chunk.append(item)
                        if item.flags and not report.rejected:
                            flagged.append(item)
                        if len(flagged) >= CHUNK:
                            report.flagged += record_flags(session, flagged, source)
                            flagged = []
                        if len(chunk) >= CHUNK:
                            record(session, chunk, report, file, source, outcome)
                            chunk = []
                    if progress is not None and report.rows % 1000 == 0:
                        progress(1000)
                if chunk and not report.rejected:
                    record(session, chunk, report, file, source, outcome)
                if flagged and not report.rejected:
                    report.flagged += record_flags(session, flagged, source)
            if report.rejected:
                session.rollback()
                report.recorded = report.recorded_amount = report.already_recorded = 0
                report.flagged = 0
            else:
                session.commit()
                report.committed = True
        except BaseException:
            session.rollback()
            raise
    if progress is not None:
        progress(report.rows % 1000)
    record_feed_run(
        factory,
        program.name,
        source,
        rows=report.rows,
        recorded=report.recorded,
        already_recorded=report.already_recorded,
        zero=report.zero,
        rejected=report.rejected,
    )
    return report


def recorded_awards(
    s: Session, program: str, items: Iterable[ComputedAward]
) -> dict[tuple[str, str], int]:
    """``(member_id, period) -> award_no`` of the awards of ``items`` already recorded in
    ``program``: found by what they award, not by their id, so a rotated ref key (new ids)
    never grants twice (served by the ``(program, member_id, period)`` index)."""
    wanted = {(a.member_id, a.period) for a in items}
    bulk = BulkWriter(s)
    member_in, members = bulk.any_of("member_id", {m for m, _ in wanted})
    period_in, periods = bulk.any_of("period", {p for _, p in wanted})
    rows = bulk.fetch(
        "SELECT member_id, period, award_no FROM awards "
        f"WHERE program = {bulk.mark} AND {member_in} AND {period_in}",
        [program, *members, *periods],
    )
    return {(m, p): int(no) for m, p, no in rows if (m, p) in wanted}


def _insert(
    session: Session,
    items: list[ComputedAward],
    report: FeedReport,
    file: str,
    source: str,
    outcome: Outcome | None,
) -> None:
    program = items[0].program.name
    ids = ["0x" + bytes(a.award_id).hex() for a in items]
    existing = recorded_awards(session, program, items)
    accounts, joined = windows.members_of(
        BulkWriter(session), program, {a.member_id for a in items}
    )
    fresh = {(a.member_id, a.period): a for a in items if (a.member_id, a.period) not in existing}
    problems = windows.admit(session, list(fresh.values()), joined)
    for item, problem in problems:
        report.reject(Reject(file, item.line, problem))
    if problems:
        return
    rows: list[tuple[object, ...]] = []
    for a, aid in zip(items, ids, strict=True):
        if (a.member_id, a.period) in existing:
            report.already_recorded += 1
            if outcome is not None:
                outcome(a, "already_recorded")
            continue
        existing[a.member_id, a.period] = 0
        rows.append(
            (
                aid,
                program,
                a.member_id,
                accounts[a.member_id],
                a.period,
                a.amount,
                a.tier[:64],
                f"{source}:{a.line}"[:256],
                json.dumps(dict(a.savings)) if a.savings else None,
                "pending",
            )
        )
        report.recorded += 1
        report.recorded_amount += a.amount
        if outcome is not None:
            outcome(a, "recorded")
    BulkWriter(session).insert(_AWARDS, bike_accruals.AWARD_COLUMNS, rows)
