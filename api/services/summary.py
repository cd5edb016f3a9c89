"""The operators' summary (the console's operator page): per program the fiscal year's budget
against what was issued, recent rounds (award imports) with their awarded, rejected and failed
counts, the bridge's queue by state with the oldest waiting item's age, the indexer's lag behind
the chain head and the last reconciliation's result."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.context import AppContext
from api.errors import ServiceUnavailable
from api.schemas import AnchorOut
from api.services.common import anchor_out
from ledger.adapters.award_state import award_state, with_tx
from ledger.adapters.orm import Award, ChainTx, FeedRun, IndexCursor, Operation, ReconcileRun
from ledger.domain.codes import AWARDED_PROGRAMS

WAITING = ("pending", "signed", "sent", "mined")
TX_WAITING = ("signed", "sent", "mined")
"""A transaction not yet final: its signed awards wait with it (ledger.adapters.award_state)."""
ON_CHAIN = ("mined", "final")


class BudgetOut(BaseModel):
    program: str
    fiscal_year: int
    budget: int = Field(description="the contract's issuance budget of the year (KRW)")
    issued: int = Field(description="issued in the year, as the contract counts it (KRW)")
    execution_pct: float | None = Field(description="issued / budget × 100; null if no budget")


class RoundOut(BaseModel):
    """One import of awards (a feed file or an API batch) and what became of its awards."""

    id: int
    program: str
    source: str
    imported_at: datetime
    rows: int
    recorded: int
    rejected: int = Field(description="rows rejected at import (validation, rules, registry)")
    zero: int = Field(description="valid rows that earned nothing")
    awarded: int = Field(description="awards of the round on chain (mined or final)")
    awarded_amount: int
    pending: int = Field(description="awards still in the bridge's queue")
    failed: int = Field(description="awards the contract rejected for good")


class QueueOut(BaseModel):
    awards: dict[str, int] = Field(description="awards by state")
    operations: dict[str, int] = Field(description="conversions and deductions by state")
    oldest_waiting_age_s: float | None = Field(
        description="seconds since the oldest award or operation not yet final was recorded"
    )


class IndexerOut(BaseModel):
    cursor_block: int | None
    chain_head: int
    lag_blocks: int | None


class ReconcileOut(BaseModel):
    at: datetime
    block_number: int
    accounts: int
    entries: int
    discrepancies: int
    verdict: Literal["ok", "discrepancies"]
    summary: str


class OperatorSummaryOut(BaseModel):
    """Everything the console's operator page shows."""

    anchor: AnchorOut
    fiscal_year: int
    budgets: list[BudgetOut]
    rounds: list[RoundOut]
    queue: QueueOut
    indexer: IndexerOut
    last_reconcile: ReconcileOut | None


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _rounds(s: Session, limit: int) -> list[RoundOut]:
    runs = s.execute(sa.select(FeedRun).order_by(FeedRun.id.desc()).limit(limit)).scalars().all()
    out = []
    for run in runs:
        mine = sa.or_(Award.source == run.source, Award.source.like(f"{run.source}:%"))
        state = award_state()
        counts = {
            str(st): (int(n), int(amount or 0))
            for st, n, amount in s.execute(
                with_tx(sa.select(state, sa.func.count(), sa.func.sum(Award.amount)))
                .where(Award.program == run.program, mine)
                .group_by(state)
            )
        }
        out.append(
            RoundOut(
                id=run.id,
                program=run.program,
                source=run.source,
                imported_at=_aware(run.created_at),
                rows=run.rows,
                recorded=run.recorded,
                rejected=run.rejected,
                zero=run.zero,
                awarded=sum(counts.get(st, (0, 0))[0] for st in ON_CHAIN),
                awarded_amount=sum(counts.get(st, (0, 0))[1] for st in ON_CHAIN),
                pending=sum(counts.get(st, (0, 0))[0] for st in ("pending", "signed", "sent")),
                failed=counts.get("failed", (0, 0))[0],
            )
        )
    return out


def _queue(s: Session, now: datetime) -> QueueOut:
    state = award_state()
    awards = {
        str(k): int(n)
        for k, n in s.execute(with_tx(sa.select(state, sa.func.count())).group_by(state))
    }
    ops = {
        str(k): int(n)
        for k, n in s.execute(
            sa.select(Operation.status, sa.func.count()).group_by(Operation.status)
        )
    }
    oldest = [
        t
        for t in (
            s.scalar(sa.select(sa.func.min(Award.created_at)).where(Award.status == "pending")),
            # a signed award waits while its transaction is not final (from the transactions:
            # a few per thousand awards, each award found by the claimed-award index)
            s.scalar(
                sa.select(sa.func.min(Award.created_at))
                .select_from(ChainTx)
                .join(Award, Award.tx_id == ChainTx.id)
                .where(ChainTx.status.in_(TX_WAITING), Award.status == "signed")
            ),
            s.scalar(
                sa.select(sa.func.min(Operation.created_at)).where(Operation.status.in_(WAITING))
            ),
        )
        if t is not None
    ]
    age = (now - min(_aware(t) for t in oldest)).total_seconds() if oldest else None
    return QueueOut(awards=awards, operations=ops, oldest_waiting_age_s=age)


def _last_reconcile(s: Session) -> ReconcileOut | None:
    run = s.execute(
        sa.select(ReconcileRun).order_by(ReconcileRun.id.desc()).limit(1)
    ).scalar_one_or_none()
    if run is None:
        return None
    return ReconcileOut(
        at=_aware(run.created_at),
        block_number=run.block_number,
        accounts=run.accounts,
        entries=run.entries,
        discrepancies=run.discrepancies,
        verdict="ok" if run.discrepancies == 0 else "discrepancies",
        summary=run.summary,
    )


def operator_summary(
    ctx: AppContext, fiscal_year: int | None = None, rounds: int = 10
) -> OperatorSummaryOut:
    with ctx.sessions() as s:
        anchor = ctx.current_anchor(s)
        cursor = s.scalar(
            sa.select(sa.func.max(IndexCursor.block_number)).where(ctx.cursor_filter())
        )
        recent = _rounds(s, rounds)
        queue = _queue(s, datetime.now(UTC))
        reconcile = _last_reconcile(s)
    client = ctx.client
    try:
        head = ctx.chain_head(max_age=0)
        year = fiscal_year or client.fiscal_year_of(int(time.time()), anchor.block_number)
        budgets = []
        for p in AWARDED_PROGRAMS:
            budget, used = client.budget_of(int(p), year, anchor.block_number)
            budgets.append(
                BudgetOut(
                    program=p.name,
                    fiscal_year=year,
                    budget=int(budget),
                    issued=int(used),
                    execution_pct=round(int(used) * 100 / int(budget), 4) if budget else None,
                )
            )
    except Exception as exc:
        raise ServiceUnavailable(f"chain unreachable: {type(exc).__name__}") from exc
    lag = None if cursor is None else max(0, head - int(cursor))
    return OperatorSummaryOut(
        anchor=anchor_out(anchor),
        fiscal_year=year,
        budgets=budgets,
        rounds=recent,
        queue=queue,
        indexer=IndexerOut(
            cursor_block=None if cursor is None else int(cursor), chain_head=head, lag_blocks=lag
        ),
        last_reconcile=reconcile,
    )
