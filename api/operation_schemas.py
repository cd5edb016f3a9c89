"""Request and response models of the integrators' operations: conversions, deductions and
refunds (pydantic 2), with OpenAPI examples."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from api.schemas import (
    EX_ACCOUNT,
    EX_HASH,
    EX_REF,
    Amount,
    Hex32,
    Model,
    ProgramName,
    UtcDateTime,
)
from ledger.domain.codes import SPEND_REASONS

#: reasons an integrator may deduct with (the contract's spender reasons, 2..9 and 14)
SpendReason = StrEnum("SpendReason", {r.name: r.name for r in SPEND_REASONS})  # type: ignore[misc]


class ConversionIn(Model):
    """Convert mileage of one program into another (by default into Seoul Mileage)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "account": EX_ACCOUNT,
                    "from_program": "ECO_HOUSEHOLD",
                    "to_program": "SEOUL",
                    "amount": 10000,
                }
            ]
        },
    )

    account: Hex32
    from_program: ProgramName
    to_program: ProgramName = Field(
        default=ProgramName["SEOUL"], description="the credited program (default SEOUL)"
    )
    amount: Amount


class DeductionIn(Model):
    """Spend mileage for a listed use (PROGRAM_RULES §3)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "account": EX_ACCOUNT,
                    "program": "SEOUL",
                    "amount": 20000,
                    "reason": "GIFT_CERTIFICATE",
                    "reference": EX_REF,
                }
            ]
        },
    )

    account: Hex32
    program: ProgramName
    amount: Amount
    reason: SpendReason
    reference: Hex32 = Field(description="the caller's 32-byte reference (e.g. ETAX payment id)")


class RefundIn(Model):
    """Give back all or part of a deduction (a cancelled purchase): credited to the deduction's
    account and program; the refunds of a deduction never total more than it took."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"amount": 10000, "reference": EX_REF}]},
    )

    amount: Amount
    reference: Hex32 | None = Field(
        default=None, description="the caller's 32-byte reference (e.g. the cancellation id)"
    )


class OperationOut(Model):
    """A conversion, deduction or refund and where it stands: pending → signed → sent → mined →
    final, or failed (``error`` says why)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": EX_HASH,
                    "kind": "conversion",
                    "status": "pending",
                    "account": EX_ACCOUNT,
                    "program": "ECO_HOUSEHOLD",
                    "to_program": "SEOUL",
                    "amount": 10000,
                    "reason": "CONVERSION",
                    "reference": None,
                    "deduction": None,
                    "tx_hash": None,
                    "block_number": None,
                    "error": None,
                    "created_at": "2026-01-01T00:00:00Z",
                    "updated_at": "2026-01-01T00:00:00Z",
                }
            ]
        },
    )

    id: str
    kind: Literal["conversion", "deduction", "refund"]
    status: str
    account: str
    program: str
    to_program: str | None
    amount: int
    reason: str | None
    reference: str | None
    deduction: str | None = Field(
        default=None,
        description="a refund's deduction (its id); null for other kinds",
        examples=[None],
    )
    tx_hash: str | None
    block_number: int | None
    error: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
