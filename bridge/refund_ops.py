"""Refunds on the chain side: calldata of ``refund`` and finding a recorded refund by its id.

A refund operation (``operations.kind = "refund"``, queued by :mod:`api.services.refunds`) goes
in the spender lane, one transaction each, like a deduction:
``refund(account, program, amount, deductionRef, refundId)`` with ``deductionRef`` the
deduction's op id (the ref its DEDUCTION entry carries) and ``refundId`` the refund's own op id.
Exactly once: the contract records refund ids and skips one already recorded
(``RefundSkipped``), so a resent or re-signed refund never credits twice; the contract also
refuses a refund above what the deduction took (``RefundExceedsDeduction``) or of a deduction
it has not recorded for that account and program (``DeductionNotFound``).
"""

from __future__ import annotations

from typing import Any

from eth_hash.auto import keccak
from sqlalchemy.orm import Session, sessionmaker

from bridge.client import LedgerClient, hex32, to_bytes32
from bridge.outbox import PendingOperation
from bridge.steps import program_code
from ledger.adapters.orm import Operation

REFUND_KIND = "refund"
#: topic 0 of ``RefundRecorded(bytes32 indexed refundId, bytes32 indexed deductionRef,
#: bytes32 indexed account, uint8 program, uint96 amount)``
REFUND_TOPIC = "0x" + keccak(b"RefundRecorded(bytes32,bytes32,bytes32,uint8,uint96)").hex()


def deduction_of(factory: sessionmaker[Session], op_id: str) -> str:
    """The deduction (its op id, the ref on chain) refund ``op_id`` gives back."""
    with factory() as s:
        row = s.get(Operation, op_id)
        if row is None or row.deduction_id is None:
            raise ValueError(f"refund {op_id} names no deduction")
        return row.deduction_id


def refund_data(
    client: LedgerClient, factory: sessionmaker[Session], op: PendingOperation
) -> bytes:
    """``refund`` calldata of a pending refund operation."""
    return client.call_data(
        "refund",
        to_bytes32(op.account_id),
        program_code(op.program),
        op.amount,
        to_bytes32(deduction_of(factory, op.op_id)),
        to_bytes32(op.op_id),
    )


def find_refund(
    client: LedgerClient, from_block: int, to_block: int, refund_id: str
) -> tuple[int, str] | None:
    """(block number, block hash) of the ``RefundRecorded`` of ``refund_id``, or None."""
    logs: list[Any] = client.w3.eth.get_logs(
        {
            "address": client.address,
            "fromBlock": from_block,
            "toBlock": to_block,
            "topics": [REFUND_TOPIC, hex32(to_bytes32(refund_id))],
        }
    )
    for lg in logs:
        return int(lg["blockNumber"]), hex32(bytes(lg["blockHash"]))
    return None
