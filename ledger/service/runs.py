"""Records of runs the console shows: award imports (rounds, with their rejected rows) and
reconciliations (the last result)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.orm import FeedRun, ReconcileRun


def record_feed_run(
    factory: sessionmaker[Session],
    program: str,
    source: str,
    *,
    rows: int,
    recorded: int,
    already_recorded: int,
    zero: int,
    rejected: int,
) -> None:
    """Store one import of ``program`` awards; ``source`` is the prefix of its awards' source."""
    with factory() as s, s.begin():
        s.add(
            FeedRun(
                program=program,
                source=source[:256],
                rows=rows,
                recorded=recorded,
                already_recorded=already_recorded,
                zero=zero,
                rejected=rejected,
            )
        )


class ReconcileOutcome(Protocol):
    """What :func:`record_reconcile_run` keeps of a reconciliation (``bridge.reconcile``'s
    ``ReconcileReport``)."""

    block: int
    accounts: int
    entries: int

    @property
    def discrepancies(self) -> Sequence[object]: ...

    def summary(self) -> str: ...


def record_reconcile_run(factory: sessionmaker[Session], outcome: ReconcileOutcome) -> None:
    """Store the outcome of one reconciliation."""
    with factory() as s, s.begin():
        s.add(
            ReconcileRun(
                block_number=outcome.block,
                accounts=outcome.accounts,
                entries=outcome.entries,
                discrepancies=len(outcome.discrepancies),
                summary=outcome.summary(),
            )
        )
