"""Settlement for integrators: the caller's own conversions, deductions and refunds, filtered
and paged (a refund names its deduction).

An integrator sees the operations its API key created (the key id scopes the stored
Idempotency-Key); auditor and admin keys see all. Order: newest first by ``(created_at, id)``,
which is stable (ids are unique); the cursor is opaque (base64 of the last row's position) and a
page never repeats or skips a row when others are added meanwhile (new rows sort first).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError
from api.operation_schemas import OperationOut
from api.services.operations import operation_out
from ledger.adapters.orm import Operation
from ledger.feeds import safecsv

CSV_COLUMNS = (
    "id", "kind", "status", "account", "program", "to_program", "amount", "reason", "reference",
    "deduction", "tx_hash", "block_number", "error", "created_at", "updated_at",
)  # fmt: skip


#: integrators' operations (the registrar's consent operations are not listed)
LISTED_KINDS = ("conversion", "deduction", "refund")


class BadOperationsCursor(ApiError):
    """The ``cursor`` of ``GET /v1/operations`` is not one this API issued."""

    status = 422
    code = "validation_error"


@dataclass(frozen=True)
class OperationsQuery:
    """Filters and page of ``GET /v1/operations``."""

    limit: int = 100
    cursor: str | None = None
    kind: str | None = None
    status: str | None = None
    reference: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    deduction: str | None = None


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def encode_cursor(created_at: datetime, op_id: str) -> str:
    text = f"ops|{_utc(created_at).isoformat()}|{op_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, stamp, op_id = text.split("|")
        if tag != "ops" or not op_id.startswith("0x"):
            raise ValueError(tag)
        return _utc(datetime.fromisoformat(stamp)), op_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadOperationsCursor(
            "invalid cursor: pass the next_cursor of the previous page",
            {"errors": [{"field": "cursor", "message": "not a cursor issued by this API"}]},
        ) from exc


def _naive_if_sqlite(session: Session, dt: datetime) -> datetime:
    # SQLite stores DateTime as text without the zone (the ORM writes UTC): compare in UTC.
    dt = _utc(dt)
    return dt.replace(tzinfo=None) if session.bind and session.bind.dialect.name == "sqlite" else dt


def list_operations(
    session: Session, caller: Principal, q: OperationsQuery
) -> tuple[list[OperationOut], str | None]:
    """A page of the operations ``caller`` may see; returns (rows, next cursor or None)."""
    # integrators' operations only: the registrar's consent operations are not listed here
    stmt = sa.select(Operation).where(Operation.kind.in_(LISTED_KINDS))
    if not caller.has("auditor"):
        stmt = stmt.where(Operation.idempotency_key.startswith(f"{caller.key_id}:"))
    if q.kind is not None:
        stmt = stmt.where(Operation.kind == q.kind)
    if q.status is not None:
        stmt = stmt.where(Operation.status == q.status)
    if q.reference is not None:
        stmt = stmt.where(Operation.reference == q.reference.lower())
    if q.deduction is not None:
        stmt = stmt.where(Operation.deduction_id == q.deduction.lower())
    if q.since is not None:
        stmt = stmt.where(Operation.created_at >= _naive_if_sqlite(session, q.since))
    if q.until is not None:
        stmt = stmt.where(Operation.created_at < _naive_if_sqlite(session, q.until))
    if q.cursor is not None:
        at, op_id = decode_cursor(q.cursor)
        at_db = _naive_if_sqlite(session, at)
        stmt = stmt.where(
            sa.or_(
                Operation.created_at < at_db,
                sa.and_(Operation.created_at == at_db, Operation.op_id < op_id),
            )
        )
    stmt = stmt.order_by(Operation.created_at.desc(), Operation.op_id.desc()).limit(q.limit + 1)
    rows = list(session.execute(stmt).scalars())
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    cursor = encode_cursor(rows[-1].created_at, rows[-1].op_id) if more and rows else None
    return [operation_out(session, op) for op in rows], cursor


def operations_csv(rows: Sequence[OperationOut]) -> str:
    """``rows`` as CSV (the JSON fields as columns; text cells neutralised against formulas)."""
    data = [
        [
            getattr(r, c).isoformat() if c.endswith("_at") else getattr(r, c)
            for c in ("id", *CSV_COLUMNS[1:])
        ]
        for r in rows
    ]
    return safecsv.text(CSV_COLUMNS, data)
