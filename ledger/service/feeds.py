"""Import a program feed: validate, compute and record awards in the outbox for the bridge.

Streaming: rows are read, computed (ledger.feeds) and written in chunks; memory stays flat
whatever the file size (the member registry of the program is held as a set of ids). Each chunk
is one transaction, so a crash loses at most the chunk in flight and never half-applies a row;
award ids are deterministic and unique in the database, so importing a feed again (after a
crash, or after fixing rejected rows) records only what is not recorded yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import Award, Member
from ledger.domain.codes import Program
from ledger.feeds.formats import FeedOptions
from ledger.feeds.model import ComputedAward, Reject
from ledger.feeds.pipeline import EarnedBefore, iter_awards
from ledger.service.notices import record_usage_rise

CHUNK = 5000


@dataclass
class FeedReport:
    """What an import did."""

    rows: int = 0
    recorded: int = 0
    recorded_amount: int = 0
    already_recorded: int = 0
    zero: int = 0
    rejects: list[Reject] = field(default_factory=list)
    rejected: int = 0
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
    """Validate and record the awards of ``path``; returns counts and the rejected rows."""
    with factory() as s:
        known = set(s.scalars(select(Member.member_id).where(Member.program == program.name)))
    report = FeedReport()
    chunk: list[ComputedAward] = []
    flagged: list[ComputedAward] = []  # no award but a notice (usage rose 10 %): notices.py
    # BIKE yearly cap: what *other* feeds already awarded (this file's own rows, if imported
    # before, are recognised by their award ids instead)
    earned_before = bike_earned_before(factory, exclude_source=path.name)
    for item in iter_awards(
        program, path, known.__contains__, options=options, bike_earned_before=earned_before
    ):
        report.rows += 1
        if isinstance(item, Reject):
            report.reject(item)
        elif item.amount == 0:
            report.zero += 1
            if item.flags:
                flagged.append(item)
            if len(flagged) >= CHUNK:
                record_usage_rise(factory, flagged, path.name)
                flagged = []
        else:
            chunk.append(item)
        if len(chunk) >= CHUNK:
            _record(factory, chunk, report, path.name)
            chunk = []
        if progress is not None and report.rows % 1000 == 0:
            progress(1000)
    if chunk:
        _record(factory, chunk, report, path.name)
    record_usage_rise(factory, flagged, path.name)
    if progress is not None:
        progress(report.rows % 1000)
    return report


def bike_earned_before(
    factory: sessionmaker[Session], *, exclude_source: str | None = None
) -> EarnedBefore:
    """The BIKE yearly cap's lookup for `iter_awards`: per year and chunk of members, one
    grouped query over the awards not failed (served by the ``(program, member_id, period)``
    index). ``exclude_source`` leaves out the awards recorded from that feed file."""

    def lookup(year: int, members: Sequence[str]) -> list[tuple[str, int]]:
        query = (
            select(Award.member_id, func.sum(Award.amount))
            .where(
                Award.program == Program.BIKE.name,
                Award.member_id.in_(members),
                Award.period.like(f"{year:04d}-%"),
                Award.status != "failed",
            )
            .group_by(Award.member_id)
        )
        if exclude_source is not None:
            query = query.where(Award.source.not_like(f"{exclude_source}:%"))
        with factory() as s:
            return [(member, int(total or 0)) for member, total in s.execute(query)]

    return lookup


def _record(
    factory: sessionmaker[Session], items: Iterable[ComputedAward], report: FeedReport, source: str
) -> None:
    items = list(items)
    with factory() as s, s.begin():
        program = items[0].program.name
        ids = ["0x" + bytes(a.award_id).hex() for a in items]
        existing = set(s.scalars(select(Award.award_id).where(Award.award_id.in_(ids))))
        accounts = {
            member: account
            for member, account in s.execute(
                select(Member.member_id, Member.account_id).where(
                    Member.program == program,
                    Member.member_id.in_({a.member_id for a in items}),
                )
            )
        }
        rows = []
        for a, aid in zip(items, ids, strict=True):
            if aid in existing:
                report.already_recorded += 1
                continue
            existing.add(aid)
            rows.append(
                {
                    "award_id": aid,
                    "program": program,
                    "member_id": a.member_id,
                    "account_id": accounts[a.member_id],
                    "period": a.period,
                    "amount": a.amount,
                    "tier": a.tier[:64],
                    "source": f"{source}:{a.line}",
                    "savings": json.dumps(dict(a.savings)) if a.savings else None,
                    "status": "pending",
                }
            )
            report.recorded += 1
            report.recorded_amount += a.amount
        if rows:
            s.execute(insert(Award), rows)
