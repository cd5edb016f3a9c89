"""Wallet reads: balances, history and expiring mileage, anchored at the indexer's cursor.

The balance read is the hot path (≥ 2,000 req/s): one indexed statement returns the cursor
block, the account's Balance rows and the oldest credit time per program (one round trip, one
snapshot); chain id, contract address and the chain's
time (the latest block's timestamp, refreshed when the anchor moves or after a second) are
cached. Only an account holding a credit older than the validity period has its entries replayed
to tell what has lapsed (:mod:`api.services.lots`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.context import AppContext
from api.errors import ApiError
from api.read_pool import run_read
from api.schemas import (
    ExpiringLot,
    ExpiringOut,
    ExpiringProgram,
    HistoryOut,
    utc_iso,
)
from api.services.common import anchor_out, entry_out, program_name
from api.services.lots import Lapse, lapses, may_have_lapsed
from ledger.adapters.db import RawStatement
from ledger.adapters.orm import Balance, Entry, IndexCursor
from ledger.domain.codes import CREDIT_CODES, EntryKind, Program
from ledger.domain.lots import expiring
from ledger.service.lots import account_lots


class BadCursor(ApiError):
    """The pagination cursor is not one this API issued."""

    status = 422
    code = "validation_error"


_PROGRAMS = tuple((p.name, int(p)) for p in Program)


def _code(value: int) -> sa.ColumnClause[Any]:
    """A code inlined in a query (a constant of its plan, not a parameter)."""
    return sa.literal_column(str(int(value)))


def _balances_and_oldest_query() -> sa.CompoundSelect[Any]:
    """One statement, so one round trip and one snapshot: the cursor row joined with the
    account's balance rows (tag 0), then the oldest credit time per program up to the cursor
    block (tag 1; 0 for a merge, which carries older lots)."""
    cursor, balance, entry = IndexCursor.__table__, Balance.__table__, Entry.__table__
    balances = (
        sa.select(
            _code(0),
            cursor.c.block_number,
            cursor.c.block_hash,
            balance.c.program,
            balance.c.balance,
        )
        .select_from(cursor.outerjoin(balance, balance.c.account_id == sa.bindparam("account")))
        .where(cursor.c.name == sa.bindparam("cursor"))
    )
    cursor_block = (
        sa.select(cursor.c.block_number)
        .where(cursor.c.name == sa.bindparam("cursor"))
        .scalar_subquery()
    )
    oldest = (
        sa.select(
            _code(1),
            sa.null(),
            sa.null(),
            entry.c.program,
            sa.func.min(
                sa.case(
                    (entry.c.kind == _code(EntryKind.MERGE_IN), _code(0)), else_=entry.c.timestamp
                )
            ),
        )
        .where(
            entry.c.account_id == sa.bindparam("account"),
            entry.c.kind.in_([_code(k) for k in sorted(CREDIT_CODES)]),
            entry.c.block_number <= cursor_block,
        )
        .group_by(entry.c.program)
    )
    return sa.union_all(balances, oldest)


def _raw(
    ctx: AppContext, build: Callable[[], sa.Select[Any] | sa.CompoundSelect[Any]]
) -> RawStatement:
    """``build()``'s statement compiled once for the app's database."""
    key = f"raw:{build.__name__}"
    raw = ctx.cache.get(key)
    if raw is None:
        raw = ctx.cache[key] = RawStatement.compile(ctx.engine, build())
    return raw


def _utc_or_none(ts: int | None) -> str | None:
    return None if ts is None else utc_iso(ts)


def balances(ctx: AppContext, account: str) -> dict[str, Any]:
    """Balances of ``account`` per program at the cursor block, in the shape of
    :class:`BalancesOut`: one indexed statement (the cursor row joined with the account's
    balance rows, and the oldest credit per program up to the cursor block: one round trip, one
    snapshot); ``spendable`` is the balance less what has lapsed at the chain's time (the
    contract expires that first).

    The hot read path: plain DB-API on a pooled connection (no SQLAlchemy statement machinery;
    on PostgreSQL an autocommit one, :mod:`api.read_pool`), chain id, contract address and
    chain time cached, and plain dicts (values straight from the database need no model
    validation)."""
    query = _raw(ctx, _balances_and_oldest_query)
    params = query.params({"account": account, "cursor": ctx.cursor_name or "entries"})

    def read(cur: Any) -> list[Any]:
        cur.execute(query.sql, params)
        return list(cur.fetchall())

    found = run_read(ctx, read)  # on PostgreSQL: autocommit, api/read_pool.py
    rows = [r[1:] for r in found if r[0] == 0]
    oldest = {int(r[3]): int(r[4]) for r in found if r[0] == 1}
    anchor = ctx.anchor_from_row(rows[0][0] if rows else None, rows[0][1] if rows else None)
    by_program = {int(r[2]): int(r[3]) for r in rows if r[2] is not None}
    lapsed: dict[int, Lapse] = {}
    if oldest:  # no credit, nothing can have lapsed: no chain call
        now = ctx.chain_time(max_age=1.0, key=anchor.block_number)
        if may_have_lapsed(ctx, oldest, now):
            with ctx.sessions() as session:
                lapsed = lapses(ctx, session, account, anchor.block_number, now)
    programs: list[dict[str, Any]] = []
    spendable: dict[int, int] = {}
    for name, code in _PROGRAMS:
        balance = by_program.get(code, 0)
        lapse = lapsed.get(code)
        gone = min(balance, lapse.amount) if lapse is not None else 0
        spendable[code] = balance - gone
        since = _utc_or_none(lapse.since) if lapse is not None and gone else None
        programs.append(
            {
                "program": name,
                "code": code,
                "balance": balance,
                "spendable": balance - gone,
                "lapsed": gone,
                "lapsed_since": since,
            }
        )
    seoul = by_program.get(int(Program.SEOUL), 0)
    total_spendable = sum(spendable.values())
    return {
        "account": account,
        "balances": programs,
        "total": sum(by_program.values()),
        "seoul_mileage": seoul,
        "spendable": total_spendable,
        "convertible": total_spendable - spendable[int(Program.SEOUL)],
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


def expiring_soon(ctx: AppContext, session: Session, account: str, days: int) -> ExpiringOut:
    """Mileage of ``account`` that lapses within ``days`` days unless spent first."""
    anchor = ctx.current_anchor(session)
    lots = account_lots(session, account, anchor.block_number)
    now = ctx.chain_time(max_age=1.0, key=anchor.block_number)
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
