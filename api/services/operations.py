"""Conversions and deductions requested by integrators: the write side of the API.

A request becomes one ``Operation`` row (status ``pending``) that the bridge submitter signs and
sends; the API never talks to the chain to write. Guarantees:

- idempotency: the Idempotency-Key (scoped to the API key) maps to one operation; the same key
  with the same body answers the same operation, with another body 409;
- PROGRAM_RULES §3 is checked before anything is stored (open route, spend reasons, gift
  certificates in units of 10,000 between 10,000 and 50,000);
- the balance is checked against the indexed balance minus what has lapsed at the chain's time
  (the latest block's timestamp; the contract expires it before the spend) minus the debits
  still in flight (not yet indexed) at request time, under a row lock on PostgreSQL; the
  contract checks again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal
from api.context import AppContext, route_open
from api.errors import (
    Forbidden,
    IdempotencyConflict,
    NotFound,
    RuleViolation,
)
from api.operation_schemas import ConversionIn, DeductionIn, OperationOut
from api.services.lots import lapse_of, require_spendable
from ledger.adapters.orm import Balance, ChainTx, IndexCursor, Operation
from ledger.domain.codes import AWARDED_PROGRAMS, Program, Reason
from ledger.domain.keys import keyed_hash

GIFT_UNIT = 10_000
GIFT_MIN = 10_000
GIFT_MAX = 50_000


def operation_id(kind: str, scoped_key: str, key: bytes) -> str:
    """Deterministic 32-byte id of an operation under the operation ``key`` (`IdKeys.operation`):
    the conversion id, and the deduction's ref, on chain (docs/keys.md)."""
    return "0x" + keyed_hash(key, f"mileage-op|{kind}|{scoped_key}").hex()


def request_hash(kind: str, body: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, **body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def check_conversion_rules(ctx: AppContext, body: ConversionIn) -> None:
    source, target = Program[body.from_program.value], Program[body.to_program.value]
    if source == target:
        raise RuleViolation(
            "a conversion needs two different programs",
            {"from_program": source.name, "to_program": target.name},
        )
    opened = route_open(ctx, int(source), int(target))
    if opened is None:  # chain unreachable: the plan's default routes (program -> SEOUL)
        opened = target is Program.SEOUL and source in AWARDED_PROGRAMS
    if not opened:
        raise RuleViolation(
            f"no conversion route is open from {source.name} to {target.name}",
            {"from_program": source.name, "to_program": target.name, "rule": "route_not_allowed"},
        )


def check_deduction_rules(body: DeductionIn) -> None:
    reason = Reason[body.reason.value]
    if reason is Reason.GIFT_CERTIFICATE and (
        body.amount % GIFT_UNIT != 0 or not GIFT_MIN <= body.amount <= GIFT_MAX
    ):
        raise RuleViolation(
            "gift certificates are issued in units of 10,000, 10,000 to 50,000 per application",
            {
                "amount": body.amount,
                "unit": GIFT_UNIT,
                "min": GIFT_MIN,
                "max": GIFT_MAX,
                "rule": "gift_certificate_units",
            },
        )


def available_balance(
    session: Session, ctx: AppContext, account: str, program: int
) -> tuple[int, int]:
    """(indexed balance, debits in flight) of ``account`` in ``program``; locks the balance row
    (PostgreSQL) so concurrent requests for the same account and program queue here."""
    indexed = (
        session.execute(
            sa.select(Balance.balance)
            .where(Balance.account_id == account, Balance.program == program)
            .with_for_update()
        ).scalar_one_or_none()
        or 0
    )
    cursor = (
        session.execute(
            sa.select(sa.func.max(IndexCursor.block_number)).where(ctx.cursor_filter())
        ).scalar_one_or_none()
        or 0
    )
    pending = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(Operation.amount), 0))
        .select_from(Operation)
        .outerjoin(ChainTx, ChainTx.id == Operation.tx_id)
        .where(
            Operation.account_id == account,
            Operation.program == Program(program).name,
            Operation.status != "failed",
            Operation.kind != "refund",  # a credit: it never lowers what may be spent
            sa.or_(ChainTx.block_number.is_(None), ChainTx.block_number > cursor),
        )
    ).scalar_one()
    return int(indexed), int(pending)


def existing_operation(session: Session, scoped_key: str) -> Operation | None:
    return session.execute(
        sa.select(Operation).where(Operation.idempotency_key == scoped_key)
    ).scalar_one_or_none()


def replay_operation(op: Operation, digest: str, session: Session) -> OperationOut:
    if op.request_hash != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with another request body; use a new key",
            {"operation": op.op_id},
        )
    return operation_out(session, op)


def replayed(ctx: AppContext, scoped_key: str, digest: str) -> OperationOut | None:
    """The operation an earlier request with this (API-key scoped) Idempotency-Key recorded, or
    None; `IdempotencyConflict` when that request had another body."""
    with ctx.sessions() as session:
        op = existing_operation(session, scoped_key)
        return None if op is None else replay_operation(op, digest, session)


def record_once(
    ctx: AppContext, scoped_key: str, digest: str, build: Callable[[Session], Operation]
) -> tuple[OperationOut, bool]:
    """Record the operation ``build`` makes (its checks run in the same transaction); when a
    concurrent request with the same key won the race, that request's operation is replayed.
    Returns (the operation, whether it was created now)."""
    try:
        with ctx.sessions() as session, session.begin():
            op = build(session)
            session.add(op)
            session.flush()
            out = operation_out(session, op)
        return out, True
    except IntegrityError:  # a concurrent request with the same key won the race
        replay = replayed(ctx, scoped_key, digest)
        if replay is None:
            raise
        return replay, False


def submit(
    ctx: AppContext,
    caller: Principal,
    kind: str,
    body: ConversionIn | DeductionIn,
    idempotency_key: str,
) -> tuple[OperationOut, bool]:
    """Record a conversion or deduction; returns (the operation, whether it was created now)."""
    payload = body.model_dump(mode="json")
    digest = request_hash(kind, payload)
    scoped = f"{caller.key_id}:{idempotency_key}"
    replay = replayed(ctx, scoped, digest)
    if replay is not None:
        return replay, False
    if isinstance(body, ConversionIn):
        check_conversion_rules(ctx, body)
        program = Program[body.from_program.value]
    else:
        check_deduction_rules(body)
        program = Program[body.program.value]
    op_id = operation_id(kind, scoped, ctx.id_keys.operation)
    now = ctx.chain_time()  # the latest block's time: what the contract expires lapsed mileage at

    def build(session: Session) -> Operation:
        indexed, pending = available_balance(session, ctx, body.account, int(program))
        lapse = lapse_of(ctx, session, body.account, int(program), now)
        require_spendable(body.account, int(program), body.amount, indexed, pending, lapse)
        return Operation(
            op_id=op_id,
            kind=kind,
            idempotency_key=scoped,
            request_hash=digest,
            account_id=body.account,
            program=program.name,
            to_program=body.to_program.value if isinstance(body, ConversionIn) else None,
            amount=body.amount,
            reason=Reason.CONVERSION.name if isinstance(body, ConversionIn) else body.reason.value,
            reference=None if isinstance(body, ConversionIn) else body.reference,
            status="pending",
        )

    return record_once(ctx, scoped, digest, build)


def operation_out(session: Session, op: Operation) -> OperationOut:
    tx = session.get(ChainTx, op.tx_id) if op.tx_id is not None else None
    sent = tx is not None and op.status not in ("pending", "signed")
    return OperationOut(
        id=op.op_id,
        kind=op.kind,  # type: ignore[arg-type]
        status=op.status,
        account=op.account_id,
        program=op.program,
        to_program=op.to_program,
        amount=op.amount,
        reason=op.reason,
        reference=op.reference,
        deduction=op.deduction_id,
        tx_hash=tx.tx_hash if tx is not None and sent else None,
        block_number=tx.block_number if tx is not None else None,
        error=op.error,
        created_at=op.created_at,
        updated_at=op.updated_at,
    )


def get_operation(ctx: AppContext, caller: Principal, kind: str, op_id: str) -> OperationOut:
    with ctx.sessions() as session:
        op = session.get(Operation, op_id.lower())
        if op is None or op.kind != kind:
            raise NotFound(f"no {kind} with id {op_id}", {"id": op_id})
        if not (caller.has("auditor") or op.idempotency_key.startswith(f"{caller.key_id}:")):
            raise Forbidden(f"this {kind} was requested with another API key", {"id": op_id})
        return operation_out(session, op)
