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
    """Where an award is on its way to the chain.

    ``awards.status`` stores ``pending``, ``signed``, ``failed`` or ``conflict``: a signed award
    takes its transaction's state (``sent``, ``mined``, ``final``; ``chain_txs.status``) without
    its row being rewritten at each step, one write per award instead of three
    (ledger.adapters.award_state: every reader asks it)."""

    PENDING = "pending"
    #: in a transaction: signed while the transaction is, then the transaction's state
    SIGNED = "signed"
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
