"""Whether a successful receipt shows that the ledger did what the transaction asked.

A call to an address without code "succeeds" (status 1) and does nothing: a wrong
``MILEAGE_CONTRACT_ADDRESS``, a node that lost its state, a chain reset. Every ledger function the
submitter sends emits a known event (``grantBatch``: ``GrantBatchRecorded``; a deduction:
``EntryRecorded``; a conversion: ``EntryRecorded`` or ``ConversionSkipped``; a refund:
``RefundRecorded`` or ``RefundSkipped``; a consent: ``DonationConsentSet``), so a status-1 receipt
without one of its events from the ledger's address did not put anything on the ledger
(:meth:`bridge.confirm.Confirmer._apply_receipt` then fails the transaction and blocks the lanes).

The check reads only first topics and addresses, from the last log backwards (``grantBatch``
emits ``GrantBatchRecorded`` after its ``EntryRecorded`` logs), comparing each distinct first
topic once: no log is decoded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.client import LedgerClient
from ledger.domain.outbox import OperationKind

#: The events one of which a successful transaction of each kind emits (``chain_txs.kind``).
EXPECTED_EVENTS: Mapping[str, tuple[str, ...]] = {
    "grant": ("GrantBatchRecorded",),
    OperationKind.DEDUCTION.value: ("EntryRecorded",),
    OperationKind.CONVERSION.value: ("EntryRecorded", "ConversionSkipped"),
    OperationKind.REFUND.value: ("RefundRecorded", "RefundSkipped"),
    OperationKind.CONSENT.value: ("DonationConsentSet",),
}
#: Transactions that do not call the ledger (a zero-value self-transfer filling a nonce gap).
NO_CALL_KINDS = frozenset({"filler"})


def logs_with_topic(
    logs: Iterable[Mapping[str, Any]], address: str, topics: Collection[str]
) -> Iterator[Mapping[str, Any]]:
    """The logs of ``logs`` (raw JSON-RPC) emitted by ``address`` (lower case) whose first topic
    is one of ``topics`` (lower-case ``0x`` hex), in the order given. A batch's receipt holds one
    ``EntryRecorded`` log per award, all with the same first topic: each distinct first topic is
    compared once; nothing is decoded."""
    seen: dict[Any, bool] = {}
    for lg in logs:
        found = lg.get("topics")
        if not found:
            continue
        first = found[0]
        try:
            hit = seen.get(first)
            if hit is None:
                hit = seen[first] = str(first).lower() in topics
        except TypeError:  # unhashable: compared without the cache
            hit = str(first).lower() in topics
        if hit and str(lg.get("address", "")).lower() == address:
            yield lg


@dataclass(frozen=True)
class LedgerEvents:
    """The first topics of the events :data:`EXPECTED_EVENTS` names, for one ledger address."""

    address: str
    topics: Mapping[str, frozenset[str]]

    @classmethod
    def of(cls, client: LedgerClient) -> LedgerEvents:
        return cls(
            client.address.lower(),
            {
                kind: frozenset(client.event_topic(n) for n in names)
                for kind, names in EXPECTED_EVENTS.items()
            },
        )

    def landed(self, kind: str, receipt: Mapping[str, Any]) -> bool:
        """Whether ``receipt`` (raw JSON-RPC, status 1) holds one of the events a transaction of
        ``kind`` emits, from the ledger's address. A kind that does not call the ledger
        (:data:`NO_CALL_KINDS`) always has landed; an unknown kind never has."""
        if kind in NO_CALL_KINDS:
            return True
        want = self.topics.get(kind)
        if want is None:
            return False
        logs = reversed(receipt.get("logs") or ())
        return any(True for _ in logs_with_topic(logs, self.address, want))

    def missing(self, kind: str, tx_hash: str, no_code: bool) -> str:
        """What the operator reads when :meth:`landed` is false: what is missing, and what to
        check."""
        names = " or ".join(EXPECTED_EVENTS.get(kind, (f"{kind} event",)))
        why = (
            f"the receipt of tx {tx_hash} holds no {names} event from the ledger at "
            f"{self.address}: is the contract deployed at this address on this chain? "
            "(MILEAGE_CONTRACT_ADDRESS, or the deployment recorded in the database; "
            "MILEAGE_RPC_URL)"
        )
        if no_code:
            why += f"; the node holds no code at {self.address}"
        return f"{why}. Nothing recorded: rows pending again, lanes blocked until a restart"
