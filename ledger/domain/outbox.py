"""The outbox's words: the states of an award, an operation and a signed transaction on their way
to the chain, and the kinds of operation.

Each is a ``StrEnum``, so a member is the string the database stores (``AwardState.PENDING ==
"pending"``). The database's CHECK constraints are generated from these enums
(:func:`check_in`, used by ``ledger.adapters.orm``); a migration pins the values it adds, and a
test compares a migrated database's constraints with the enums, so a new member without a
migration fails there, not in production.

An award or operation::

    pending ──claim+sign──▶ signed ──send──▶ sent ──receipt──▶ mined ──confirmations──▶ final
       │                                       (reverted / nonce taken: back to pending)
       ▼
    failed (rejected for good)        conflict (awards only: skipped on chain, see bridge.skips)
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AwardState",
    "ConsentReason",
    "OperationKind",
    "OperationState",
    "TxState",
    "check_in",
]


class AwardState(StrEnum):
    """Where an award (``awards.status``) is on its way to the chain."""

    PENDING = "pending"
    #: in a transaction that has not landed; the bridge does not rewrite the award rows when
    #: the transaction is sent (one write per award less): sent or not is the transaction's
    #: state (``chain_txs.status``; ``mileage bridge status`` reports it)
    SIGNED = "signed"
    #: back in the chain's mempool after a reorg took its transaction off the chain
    SENT = "sent"
    MINED = "mined"
    FINAL = "final"
    FAILED = "failed"
    #: the contract skipped the award (its number was already recorded) and the chain holds no
    #: GRANT of this award: it was not granted; an operator resolves it
    #: (docs/bridge-operations.md).
    CONFLICT = "conflict"


class OperationState(StrEnum):
    """Where an operation (``operations.status``) is on its way to the chain."""

    PENDING = "pending"
    SIGNED = "signed"
    SENT = "sent"
    MINED = "mined"
    FINAL = "final"
    FAILED = "failed"


class TxState(StrEnum):
    """A signed transaction (``chain_txs.status``). ``replaced``: its nonce went to another
    transaction, so it can never execute."""

    SIGNED = "signed"
    SENT = "sent"
    MINED = "mined"
    FINAL = "final"
    FAILED = "failed"
    REPLACED = "replaced"


class OperationKind(StrEnum):
    """What an operation does on chain (``operations.kind``), one transaction each. A new kind
    is a new member here and a migration that widens ``ck_operations_kind``."""

    CONVERSION = "conversion"
    DEDUCTION = "deduction"
    #: a donation consent or withdrawal (``setDonationConsent``; ledger.service.consent)
    CONSENT = "consent"
    REFUND = "refund"


class ConsentReason(StrEnum):
    """``operations.reason`` of a consent operation: what ``setDonationConsent`` sets."""

    GIVEN = "consent"
    WITHDRAWN = "withdrawal"


def check_in(column: str, values: type[StrEnum]) -> str:
    """The CHECK condition that ``column`` holds one of the enum's values:
    ``status IN ('pending', 'signed', ...)`` (in the enum's order)."""
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"
