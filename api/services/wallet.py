"""Wallet reads: balances, history and expiring mileage, anchored at the indexer's cursor.

The balance read is the hot path (≥ 2,000 req/s): one indexed query returns the cursor block
and the account's Balance rows together (so the anchor and the balances come from one snapshot);
chain id and contract address are cached. No chain call.
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.context import AppContext
from api.errors import ApiError
from api.schemas import (
    ExpiringLot,
    ExpiringOut,
    ExpiringProgram,
    HistoryOut,
)
from api.services.common import anchor_out, entry_out, program_name
from api.services.expiry import Lot, SourceLots, expiring, replay_lots
from ledger.adapters.orm import Entry
from ledger.domain.checkpoints import EntryView
from ledger.domain.codes import EntryKind, Program


class BadCursor(ApiError):
    """The pagination cursor is not one this API issued."""

    status = 422
    code = "validation_error"


_BALANCES_SQL = (
    "SELECT c.block_number, c.block_hash, b.program, b.balance FROM index_cursor c "
    "LEFT JOIN balances b ON b.account_id = {p} WHERE c.name = {p}"
)
_PROGRAMS = tuple((p.name, int(p)) for p in Program)


def _balances_sql(ctx: AppContext) -> str:
    style = ctx.engine.dialect.paramstyle
    return _BALANCES_SQL.format(p="?" if style == "qmark" else "%s")


def balances(ctx: AppContext, account: str) -> dict[str, Any]:
    """Balances of ``account`` per program at the cursor block, in the shape of
    :class:`BalancesOut`: one indexed query (the cursor row joined with the account's balance
    rows, so both come from one snapshot).

    The hot read path: plain DB-API on a pooled connection (no SQLAlchemy statement machinery),
    chain id and contract address cached, no chain call, and plain dicts (values straight from
    the database need no model validation)."""
    sql = ctx.cache.get("balances_sql")
    if sql is None:
        sql = ctx.cache["balances_sql"] = _balances_sql(ctx)
    conn = ctx.engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute(sql, (account, ctx.cursor_name or "entries"))
        rows = cur.fetchall()
        cur.close()
    finally:
        conn.close()  # back to the pool, which rolls the read transaction back
    anchor = ctx.anchor_from_row(rows[0][0] if rows else None, rows[0][1] if rows else None)
    by_program = {int(r[2]): int(r[3]) for r in rows if r[2] is not None}
    seoul = by_program.get(int(Program.SEOUL), 0)
    total = sum(by_program.values())
    return {
        "account": account,
        "balances": [
            {"program": name, "code": code, "balance": by_program.get(code, 0)}
            for name, code in _PROGRAMS
        ],
        "total": total,
        "seoul_mileage": seoul,
        "convertible": total - seoul,
        "anchor": {
            "chain_id": anchor.chain_id,
            "contract": anchor.contract,
            "block_number": anchor.block_number,
            "block_hash": anchor.block_hash,
        },
    }


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, value = text.partition(":")
        if tag != "seq":
            raise ValueError(tag)
        seq = int(value)
        if seq < 1:
            raise ValueError(seq)
        return seq
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursor(
            "invalid cursor: pass the next_cursor of the previous page",
            {"errors": [{"field": "cursor", "message": "not a cursor issued by this API"}]},
        ) from exc


def history(
    ctx: AppContext,
    session: Session,
    account: str,
    *,
    limit: int,
    cursor: str | None,
    program: str | None,
    kind: str | None,
    since: datetime | None,
    until: datetime | None,
) -> HistoryOut:
    """A page of ``account``'s entries, newest first (keyset pagination on seq)."""
    anchor = ctx.current_anchor(session)
    q = sa.select(Entry).where(
        Entry.account_id == account, Entry.block_number <= anchor.block_number
    )
    if cursor is not None:
        q = q.where(Entry.seq < _decode_cursor(cursor))
    if program is not None:
        q = q.where(Entry.program == int(Program[program]))
    if kind is not None:
        q = q.where(Entry.kind == int(EntryKind[kind]))
    if since is not None:
        q = q.where(Entry.timestamp >= int(_aware(since).timestamp()))
    if until is not None:
        q = q.where(Entry.timestamp < int(_aware(until).timestamp()))
    rows = list(session.execute(q.order_by(Entry.seq.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return HistoryOut(
        account=account,
        entries=[entry_out(r) for r in rows],
        next_cursor=_encode_cursor(rows[-1].seq) if more and rows else None,
        anchor=anchor_out(anchor),
    )


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def load_views(session: Session, account: str, max_block: int) -> list[EntryView]:
    rows = session.execute(
        sa.select(Entry.seq, Entry.kind, Entry.program, Entry.amount, Entry.ref, Entry.timestamp)
        .where(Entry.account_id == account, Entry.block_number <= max_block)
        .order_by(Entry.seq)
    ).all()
    return [
        EntryView(int(r[0]), int(r[1]), int(r[2]), int(r[3]), str(r[4]), int(r[5])) for r in rows
    ]


def _source_for(session: Session, max_block: int, depth: int) -> SourceLots:
    """Lots a merged source account moved, replayed up to its MERGE_OUT (8 levels deep)."""

    def source(src: str, program: int) -> list[Lot] | None:
        if depth >= 8:
            return None
        views = load_views(session, src, max_block)
        lots = replay_lots(
            views, _source_for(session, max_block, depth + 1), stop_at_merge_out=program
        )
        return lots.get(program, [])

    return source


def account_lots(session: Session, account: str, max_block: int) -> dict[int, list[Lot]]:
    """Unspent lots per program of ``account`` at ``max_block``."""
    return replay_lots(load_views(session, account, max_block), _source_for(session, max_block, 0))


def expiring_soon(ctx: AppContext, session: Session, account: str, days: int) -> ExpiringOut:
    """Mileage of ``account`` that lapses within ``days`` days unless spent first."""
    anchor = ctx.current_anchor(session)
    lots = account_lots(session, account, anchor.block_number)
    now = int(time.time())
    until = now + days * 86400
    due = expiring(lots, ctx.validity, until)
    by_program: dict[int, int] = {}
    for lot, _exp in due:
        by_program[lot.program] = by_program.get(lot.program, 0) + lot.amount
    return ExpiringOut(
        account=account,
        days=days,
        as_of=datetime.fromtimestamp(now, UTC),
        until=datetime.fromtimestamp(until, UTC),
        total=sum(by_program.values()),
        by_program=[
            ExpiringProgram(program=program_name(p), amount=a)
            for p, a in sorted(by_program.items())
        ],
        lots=[
            ExpiringLot(
                program=program_name(lot.program),
                amount=lot.amount,
                granted_at=datetime.fromtimestamp(lot.granted_at, UTC),
                expires_at=datetime.fromtimestamp(exp, UTC),
            )
            for lot, exp in due
        ],
        anchor=anchor_out(anchor),
    )
