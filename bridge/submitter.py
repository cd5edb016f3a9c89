"""The submitter: awards and operations from the database outbox onto the chain, exactly once.

One :class:`Submitter` signs with exactly one key and owns that key's nonces. A step
(:meth:`Submitter.step`) is one claim–sign–send–confirm cycle:

1. *reconcile* (first step, and after the node was unreachable): the tracked next nonce becomes at
   least the node's pending count; stored transactions the node forgot are sent again, byte for
   byte; a nonce hole nothing fills gets a zero-value filler transaction;
2. *confirm*: mined or final transactions that left the chain (reorg) are sent again
   (:mod:`bridge.confirm`); receipts of sent transactions; a success moves its rows to ``mined``
   (``final`` at ``confirmations == 0``) except skipped awards whose GRANT the chain does not
   hold, which become ``conflict`` (:mod:`bridge.skips`); a success without the ledger's event
   (:mod:`bridge.ledger_events`: no code at the address) fails the transaction, puts its rows
   back to ``pending`` and blocks every lane until a restart; a revert puts awards back to
   ``pending`` and fails operations with the decoded custom error; mined transactions with
   enough blocks on top become ``final``. A signer whose transactions stop confirming is
   reported stalled (:class:`bridge.stall.ProgressWatch`);
3. *submit*: per program lane, lease a batch of pending awards, sign, store and send it
   (:mod:`bridge.award_lane`). A batch none of whose awards failed before is claimed, signed and
   stored in one database transaction without a simulation; a batch holding an award whose
   transaction reverted (or lost its nonce) is simulated first (``grantBatch`` by ``eth_call``)
   and every award the contract would reject is isolated (a custom error naming the award number
   or account fails those awards for good; otherwise the batch is halved until a part passes).
   Then the same for pending conversions/deductions, one transaction each
   (:mod:`bridge.ops_lane`).

Exactly once: the contract skips award numbers, conversion ids and refund ids it has recorded
(:mod:`bridge.refund_ops`); a deduction is protected by its nonce (the stored bytes are re-sent,
a new signature only once the old nonce is provably used by another transaction and no entry of
the deduction exists).

Live checkpoints: a late conversion or deduction carries the debited position's live checkpoint
list; while the index cannot give it the operation waits (:mod:`bridge.ops_lane`).

The parts: :mod:`bridge.award_lane` (batches of awards), :mod:`bridge.ops_lane` (operations),
:mod:`bridge.lane` (simulation and signing both share), :mod:`bridge.confirm` (nonces, sending,
receipts, reorgs, finality), :mod:`bridge.outbox` (the database side).

Two processes must not share a signing key: they would compete for nonces. Run one process per
key (one issuer key per program, one converter, one spender). Several processes may serve the same
program with different issuer keys: leases (and ``SKIP LOCKED`` on PostgreSQL) keep their batches
apart.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from bridge import metrics, skips
from bridge.award_lane import AwardLane
from bridge.client import LedgerClient
from bridge.errors import ChainUnavailable
from bridge.ledger_events import LedgerEvents
from bridge.logs import get_logger
from bridge.loop import BridgeLoop, install_stop_signals
from bridge.ops_lane import (
    DEFER_SECONDS,
    INDEX_CURSOR,
    LIVE_MARGIN,
    LiveListSource,
    OperationLane,
)
from bridge.outbox import Outbox
from bridge.rpc import JsonRpc, RpcError
from bridge.signer import Signer
from bridge.stall import ProgressWatch
from bridge.steps import (
    RETRY_LATER_ERRORS,
    SYSTEMIC_ERRORS,
    Simulation,
    StepReport,
    describe,
    program_code,
    reason_code,
)
from ledger.domain.codes import AWARDED_PROGRAMS, Program
from ledger.domain.outbox import OperationKind
from ledger.settings import Settings

log = get_logger(__name__, component="submitter")

#: The operation kinds a submitter sends (lanes; :class:`OperationKind` values).
OP_KINDS: tuple[str, ...] = tuple(
    k.value
    for k in (
        OperationKind.CONVERSION,
        OperationKind.DEDUCTION,
        OperationKind.REFUND,
        OperationKind.CONSENT,
    )
)

__all__ = [
    "DEFER_SECONDS",
    "INDEX_CURSOR",
    "LIVE_MARGIN",
    "RETRY_LATER_ERRORS",
    "SYSTEMIC_ERRORS",
    "LiveListSource",
    "RpcError",
    "Simulation",
    "StepReport",
    "Submitter",
    "describe",
    "install_stop_signals",
    "program_code",
    "reason_code",
]


class Submitter(AwardLane, OperationLane):
    """Claim–sign–send–confirm for one signing key over the outbox.

    ``programs``: award lanes (default: the signer's role — ``issuer-CAR`` → ``["CAR"]``; a dev
    key → every awarded program). ``operations``: ``"conversion"``/``"deduction"``/``"refund"``/
    ``"consent"`` (default: by role — converter / spender (deductions and refunds) / registrar; a
    dev key → all). ``live_lists``:
    builds a late spend's live checkpoint list from the index
    (:func:`ledger.service.witness.live_list_source`); without it a spend that needs one waits
    (:mod:`bridge.ops_lane`)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        client: LedgerClient,
        signer: Signer,
        settings: Settings,
        *,
        programs: Sequence[str] | None = None,
        operations: Sequence[str] | None = None,
        worker_id: str | None = None,
        batch_size: int | None = None,
        gas_price: int | None = None,
        max_inflight: int | None = None,
        lease_seconds: float = 120.0,
        resend_after: float = 3.0,
        receipt_wait: float = 2.0,
        gas_per_award: int | None = 100_000,
        stall_seconds: float | None = None,
        live_lists: LiveListSource | None = None,
    ) -> None:
        self.factory = session_factory
        self.client = client
        self.w3 = client.w3
        self.rpc = JsonRpc.of_web3(client.w3)
        self.signer = signer
        self.sender = signer.address
        self.settings = settings
        self.batch_size = batch_size or settings.batch_size
        self.confirmations = settings.confirmations
        self.gas_price = (
            gas_price if gas_price is not None else int(getattr(settings, "gas_price", 0) or 0)
        )
        self.programs = (
            [Program[p].name for p in programs]
            if programs is not None
            else self._default_programs(signer.role)
        )
        self.operations = (
            list(operations) if operations is not None else self._default_operations(signer.role)
        )
        for k in self.operations:
            if k not in OP_KINDS:
                raise ValueError(f"unknown operation kind {k!r}: one of {OP_KINDS}")
        self.worker_id = worker_id or self.sender.lower()
        self.outbox = Outbox(session_factory, self.worker_id, lease_seconds=lease_seconds)
        self.max_inflight = max_inflight or int(getattr(settings, "max_inflight", 4))
        self.gas_per_award = gas_per_award
        self.resend_after = resend_after
        self.receipt_wait = receipt_wait
        self._ready = False
        self._chain_id: int | None = None
        self._block_gas_limit: int | None = None
        self._last_send: dict[int, float] = {}
        self._lane_wait: dict[str, float] = {}
        # op id -> (index cursor block when deferred, monotonic deadline, why)
        self._deferred: dict[str, tuple[int | None, float, str]] = {}
        self._deploy_block: int | None = None
        self._skips = skips.SkipDecoder.of(client)
        self._events = LedgerEvents.of(client)
        self._halted: str | None = None
        self.log = log.bind(sender=self.sender, worker=self.worker_id, lanes=self.lanes)
        self.watch = ProgressWatch(
            self.sender,
            settings.stall_seconds if stall_seconds is None else stall_seconds,
            self.log,
        )
        self._in_flight = False
        self.live_source = live_lists

    @property
    def lanes(self) -> list[str]:
        return [*self.programs, *self.operations]

    @staticmethod
    def _default_programs(role: str) -> list[str]:
        if role.startswith("issuer-"):
            return [Program[role.removeprefix("issuer-")].name]
        if role == "dev":
            return [p.name for p in AWARDED_PROGRAMS]
        return []

    @staticmethod
    def _default_operations(role: str) -> list[str]:
        return {
            "converter": ["conversion"],
            "spender": [OperationKind.DEDUCTION.value, OperationKind.REFUND.value],
            "registrar": [OperationKind.CONSENT.value],
            "dev": list(OP_KINDS),
        }.get(role, [])

    # --- the cycle ----------------------------------------------------------------------------
    def step(self) -> StepReport:
        """One claim–sign–send–confirm cycle. Node outages are reported, not raised."""
        rep = StepReport()
        try:
            if not self._ready:
                self._reconcile(rep)
                self._ready = True
            else:
                self._resend_dropped(rep)
            inflight = self._confirm(rep)
            sent_any = False
            # fill every free in-flight slot, one batch per lane in turn: on a chain with a
            # block period (QBFT, anvil --block-time) several batches then share a block
            lanes = [p for p in self.programs if not self._lane_waiting(p)]
            while lanes and inflight < self.max_inflight:
                for program in list(lanes):
                    if inflight >= self.max_inflight:
                        break
                    if self._submit_awards(program, rep):
                        inflight += 1
                        sent_any = True
                    else:
                        lanes.remove(program)
            if self.operations and inflight < self.max_inflight:
                n = self._submit_operations(rep, self.max_inflight - inflight)
                inflight += n
                sent_any = sent_any or n > 0
            if sent_any:
                # a full window means the lanes had more: refill as soon as a slot frees
                full = inflight >= self.max_inflight
                inflight = self._confirm(rep, wait=self.receipt_wait, refill=full)
            rep.inflight = inflight
            self._in_flight = inflight > 0
            metrics.STEPS.labels(outcome="progress" if rep.progressed else "idle").inc()
        except ChainUnavailable as exc:
            rep.chain_error = str(exc)
            self._ready = False  # reconcile nonces and resend everything once the node is back
            self._last_send.clear()
            self._chain_id = None
            metrics.STEPS.labels(outcome="chain_error").inc()
            self.log.warning("node unavailable", error=str(exc))
        rep.stalled = self.watch.observe(progressed=rep.confirmed, in_flight=self._in_flight)
        return rep

    def run_until_idle(
        self,
        *,
        timeout: float | None = None,
        poll: float = 0.1,
        max_backoff: float = 5.0,
        stop: threading.Event | None = None,
    ) -> StepReport:
        """Step until nothing is pending in this submitter's lanes and nothing is in flight
        (lanes blocked by a systemic error, e.g. a paused program, count as idle). Node outages are
        waited out with exponential backoff. Raises TimeoutError after ``timeout`` seconds
        (:class:`bridge.loop.BridgeLoop` with this submitter alone)."""
        return BridgeLoop([self]).run(
            stop, until_idle=True, poll=poll, max_backoff=max_backoff, timeout=timeout
        )

    def run_forever(
        self, stop: threading.Event, *, poll: float = 0.5, max_backoff: float = 10.0
    ) -> None:
        """Step until ``stop`` is set; each step is finished before checking it."""
        BridgeLoop([self]).run(stop, poll=poll, max_backoff=max_backoff)

    def has_runnable_work(self) -> bool:
        """Pending rows in lanes that are not blocked, or unresolved transactions. Operations
        deferred until the index catches up count as idle, like a blocked lane."""
        runnable = [p for p in self.programs if not self._lane_waiting(p)]
        ops = [k for k in self.operations if not self._lane_waiting(k)]
        if not self.outbox.has_work(runnable, ops, self.sender):
            return False
        if not ops or not self._deferred:
            return True
        if self.outbox.has_work(runnable, [], self.sender):
            return True
        self._expire_deferrals()
        pending = self.outbox.pending_operations(ops, limit=len(self._deferred) + 1)
        return any(op.op_id not in self._deferred for op in pending)
