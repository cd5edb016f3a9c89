"""The operations lane of the submitter: conversions, deductions and consents, one transaction
each, and the operations that wait for the index.

Live checkpoints: once ``nextExpiry`` of the debited position has passed (or is about to), a
conversion or deduction carries the position's live checkpoint list, built from the indexed
entries by the :data:`LiveListSource` the caller passes in
(:func:`ledger.service.witness.live_list_source`). While the index cannot give it (it is behind
the chain), the operation stays ``pending`` and is retried once the index cursor has moved (or
after :data:`DEFER_SECONDS`); a revert saying the list was missing or stale
(:data:`bridge.steps.RETRY_LATER_ERRORS`) likewise leaves it pending instead of failing it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests
from web3.exceptions import BadFunctionCallOutput

from bridge import metrics
from bridge.client import to_bytes32
from bridge.errors import ChainUnavailable
from bridge.lane import Lane
from bridge.outbox import LeaseLost, PendingOperation
from bridge.refund_ops import refund_data
from bridge.steps import (
    RETRY_LATER_ERRORS,
    SYSTEMIC_ERRORS,
    StepReport,
    describe,
    program_code,
    reason_code,
)
from ledger.adapters.orm import IndexCursor
from ledger.domain.checkpoints import IndexBehind
from ledger.domain.outbox import ConsentReason, OperationKind

#: The index cursor row the live lists are built from (bridge.indexer.CURSOR_NAME).
INDEX_CURSOR = "entries"
#: A spend carries its live list once ``nextExpiry`` is this close (seconds): the transaction is
#: mined in a later block than the one it was built at.
LIVE_MARGIN = 600
#: A deferred operation is retried when the index cursor moves, or after this many seconds.
DEFER_SECONDS = 30.0

#: The live checkpoint list of (account id, program code) at a block number, built from the
#: indexed entries; raises `IndexBehind` while the index cannot give it.
LiveListSource = Callable[[str, int, int], list[int]]


class OperationLane(Lane):
    """Pending operations of the submitter's kinds, one transaction each."""

    operations: list[str]
    live_source: LiveListSource | None
    # op id -> (index cursor block when deferred, monotonic deadline, why)
    _deferred: dict[str, tuple[int | None, float, str]]

    # --- deferred operations (live lists the index cannot give yet) ---------------------------
    def _index_cursor(self) -> int | None:
        with self.factory() as s:
            row = s.get(IndexCursor, INDEX_CURSOR)
            return None if row is None else int(row.block_number)

    def _defer(self, op: PendingOperation, why: str, rep: StepReport) -> None:
        """Leave ``op`` pending; it is tried again once the index cursor has moved."""
        first = op.op_id not in self._deferred
        self._deferred[op.op_id] = (self._index_cursor(), time.monotonic() + DEFER_SECONDS, why)
        rep.deferred[op.op_id] = why
        if first:
            self.log.warning("operation waits for the index", op=op.op_id, reason=why)

    def _expire_deferrals(self) -> None:
        """Forget deferrals whose index cursor has moved or whose wait is over."""
        if not self._deferred:
            return
        cursor = self._index_cursor()
        now = time.monotonic()
        for op_id, (at, until, _) in list(self._deferred.items()):
            if now >= until or (cursor is not None and (at is None or cursor > at)):
                del self._deferred[op_id]

    # --- submit operations --------------------------------------------------------------------
    def live_list(self, account_id: str, program: int) -> list[int]:
        """The live checkpoint list a spend of ``program`` from ``account_id`` carries: empty
        while ``nextExpiry`` is more than :data:`LIVE_MARGIN` away (the contract ignores it),
        else built from the indexed entries. Raises `IndexBehind` when the list is needed now
        (``nextExpiry`` has passed) and the index cannot give it yet."""
        account = to_bytes32(account_id)
        block = self._rpc("eth_getBlockByNumber", ["latest", False])
        number, now = int(block["number"], 16), int(block["timestamp"], 16)
        try:
            at = self.client.next_expiry(account, program, number)
            if at == 0 or at > now + LIVE_MARGIN:
                return []
            try:
                if self.live_source is None:
                    raise IndexBehind(
                        "this submitter has no live checkpoint source: construct it with "
                        "live_lists=ledger.service.witness.live_list_source(client, sessions)"
                    )
                return self.live_source(account_id, program, number)
            except IndexBehind:
                if at > now:
                    return []  # not needed yet: try without (a revert would only defer it)
                raise
        except (requests.RequestException, OSError, TimeoutError) as exc:
            metrics.CHAIN_ERRORS.labels(where="live_list").inc()
            raise ChainUnavailable(f"live list: node unreachable ({type(exc).__name__})") from exc

    def operation_data(self, op: PendingOperation) -> bytes:
        """Calldata of a conversion (``convert``) or deduction (``deduct``), with the debited
        position's live checkpoints when the contract needs them (:meth:`live_list`; raises
        `IndexBehind` while the index cannot give them)."""
        account = to_bytes32(op.account_id)
        if op.kind == OperationKind.CONSENT:  # ledger.service.consent; one tx each
            return self.client.call_data(
                "setDonationConsent", account, op.reason == ConsentReason.GIVEN
            )
        if op.kind == OperationKind.REFUND:  # a credit: no live list (bridge.refund_ops)
            return refund_data(self.client, self.factory, op)
        program = program_code(op.program)
        if op.kind == OperationKind.CONVERSION:
            if op.to_program is None:
                raise ValueError("a conversion needs to_program")
            return self.client.call_data(
                "convert",
                account,
                program,
                program_code(op.to_program),
                op.amount,
                to_bytes32(op.op_id),
                self.live_list(op.account_id, program),
            )
        if op.kind == OperationKind.DEDUCTION:
            ref = to_bytes32(op.op_id)  # keyed; the integrator's reference stays off chain
            return self.client.call_data(
                "deduct",
                account,
                program,
                op.amount,
                reason_code(op.reason),
                ref,
                self.live_list(op.account_id, program),
            )
        raise ValueError(f"unknown operation kind {op.kind!r}")

    def _submit_operations(self, rep: StepReport, room: int) -> int:
        sent = 0
        kinds = [k for k in self.operations if not self._lane_waiting(k)]
        self._expire_deferrals()
        waiting = len(self._deferred)
        for op in self.outbox.pending_operations(kinds, limit=room + waiting):
            if sent >= room:
                break
            if op.op_id in self._deferred:
                continue
            try:
                data = self.operation_data(op)
            except IndexBehind as exc:
                self._defer(op, str(exc), rep)
                continue
            except BadFunctionCallOutput as exc:  # a read of the ledger came back empty
                reason = f"reading the ledger at {self.client.address}: {exc} (no code there?)"
                self._block_lane(op.kind, reason, rep)
                break
            except (ValueError, KeyError) as exc:
                if self.outbox.fail_operation(op.op_id, f"invalid operation: {exc}"):
                    rep.ops_failed += 1
                continue
            sim = self.simulate(data)
            rep.simulations += 1
            if not sim.ok:
                if sim.revert is not None and sim.revert.error in RETRY_LATER_ERRORS:
                    self._defer(op, describe(sim.revert), rep)
                    continue
                if sim.revert is not None and sim.revert.error not in SYSTEMIC_ERRORS:
                    reason = describe(sim.revert)
                    if self.outbox.fail_operation(op.op_id, reason):
                        rep.ops_failed += 1
                        self.log.warning("operation rejected", op=op.op_id, reason=reason)
                    continue
                reason = describe(sim.revert) if sim.revert else f"simulation: {sim.message}"
                self._block_lane(op.kind, reason, rep)
                break
            try:
                stored = self.outbox.store_signed(
                    self.sender,
                    op.kind,
                    op.program,
                    self._sign_call(data, self._gas_limit(sim.gas)),
                    op_id=op.op_id,
                )
            except LeaseLost:
                continue
            rep.ops_signed += 1
            self._send(stored, rep, first=True)
            sent += 1
        return sent
