"""Refunds of deductions (a cancelled purchase): the write side of ``/v1/deductions/{id}/refunds``.

A refund is one ``Operation`` row of kind ``refund`` (status ``pending``) in the spender lane,
which the bridge submitter sends as ``refund(account, program, amount, deductionRef, refundId)``
(:mod:`bridge.refund_ops`). Guarantees, checked before anything is queued (the contract checks
them again):

- only the integrator whose API key made the deduction refunds it (another key: 403; an
  unknown deduction: 404);
- the deduction is on the chain (``mined`` or ``final``), else 409 ``deduction_not_settled``;
- the refunds of a deduction (every one not ``failed``, queued or recorded) never total more
  than it deducted, else 409 ``refund_exceeds_deduction``: the deduction's row is locked while
  they are summed (PostgreSQL), so two concurrent refunds cannot both pass;
- idempotency as for deductions: the same Idempotency-Key with the same body (and deduction)
  answers the same refund, with another body 409.

The refund is credited to the deduction's account and program; refunded mileage is a new lot
dated at the refund, valid for the program's validity from then (docs/DESIGN.md, "Refunds").
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.auth import Principal
from api.context import AppContext
from api.errors import DeductionNotSettled, Forbidden, NotFound, RefundExceedsDeduction
from api.operation_schemas import OperationOut, RefundIn
from api.services.operations import (
    operation_id,
    operation_out,
    record_once,
    replayed,
    request_hash,
)
from ledger.adapters.orm import Operation

REFUND_KIND = "refund"
#: statuses of a deduction whose DEDUCTION entry is on the chain
SETTLED = ("mined", "final")


def _owned_deduction(
    session: Session, caller: Principal, deduction_id: str, *, lock: bool = False
) -> Operation:
    stmt = sa.select(Operation).where(
        Operation.op_id == deduction_id.lower(), Operation.kind == "deduction"
    )
    if lock:
        stmt = stmt.with_for_update()
    ded = session.execute(stmt).scalar_one_or_none()
    if ded is None:
        raise NotFound(f"no deduction with id {deduction_id}", {"id": deduction_id})
    if not (caller.has("auditor") or ded.idempotency_key.startswith(f"{caller.key_id}:")):
        raise Forbidden(
            "this deduction was requested with another API key: only its integrator refunds it",
            {"id": deduction_id},
        )
    return ded


def refunded_total(session: Session, deduction_id: str) -> int:
    """What the refunds of ``deduction_id`` give back, queued or recorded (not failed)."""
    total = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(Operation.amount), 0)).where(
            Operation.kind == REFUND_KIND,
            Operation.deduction_id == deduction_id,
            Operation.status != "failed",
        )
    ).scalar_one()
    return int(total)


def submit_refund(
    ctx: AppContext,
    caller: Principal,
    deduction_id: str,
    body: RefundIn,
    idempotency_key: str,
) -> tuple[OperationOut, bool]:
    """Queue a refund of ``deduction_id``; returns (the refund, whether it was created now)."""
    deduction_id = deduction_id.lower()
    payload = {"deduction": deduction_id, **body.model_dump(mode="json")}
    digest = request_hash(REFUND_KIND, payload)
    scoped = f"{caller.key_id}:{idempotency_key}"
    replay = replayed(ctx, scoped, digest)
    if replay is not None:
        return replay, False
    op_id = operation_id(REFUND_KIND, scoped, ctx.id_keys.operation)

    def build(session: Session) -> Operation:
        ded = _owned_deduction(session, caller, deduction_id, lock=True)
        if ded.status not in SETTLED:
            raise DeductionNotSettled(
                f"the deduction is {ded.status}, not on the chain: refund it once it is "
                "mined (GET /v1/deductions/{id} shows its status); a failed deduction took "
                "nothing",
                {"id": deduction_id, "status": ded.status},
            )
        refunded = refunded_total(session, deduction_id)
        if refunded + body.amount > ded.amount:
            raise RefundExceedsDeduction(
                f"the deduction took {ded.amount:,} and {refunded:,} is refunded already: "
                f"at most {ded.amount - refunded:,} can still be refunded",
                {
                    "id": deduction_id,
                    "deducted": ded.amount,
                    "refunded": refunded,
                    "refundable": ded.amount - refunded,
                    "amount": body.amount,
                },
            )
        return Operation(
            op_id=op_id,
            kind=REFUND_KIND,
            idempotency_key=scoped,
            request_hash=digest,
            account_id=ded.account_id,
            program=ded.program,
            to_program=None,
            amount=body.amount,
            reason=ded.reason,  # the deduction's reason, for settlement
            reference=body.reference,
            deduction_id=deduction_id,
            status="pending",
        )

    return record_once(ctx, scoped, digest, build)


def get_refund(
    ctx: AppContext, caller: Principal, deduction_id: str, refund_id: str
) -> OperationOut:
    """A refund of ``deduction_id`` and where it stands (the integrator that asked, or an
    auditor)."""
    with ctx.sessions() as session:
        _owned_deduction(session, caller, deduction_id)
        op = session.get(Operation, refund_id.lower())
        if op is None or op.kind != REFUND_KIND or op.deduction_id != deduction_id.lower():
            raise NotFound(
                f"no refund {refund_id} of deduction {deduction_id}",
                {"id": refund_id, "deduction": deduction_id},
            )
        return operation_out(session, op)
