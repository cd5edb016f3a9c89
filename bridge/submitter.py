"""The submitter: awards and operations from the database outbox onto the chain, exactly once.

One :class:`Submitter` signs with exactly one key and owns that key's nonces. A step
(:meth:`Submitter.step`) is one claim–sign–send–confirm cycle:

1. *reconcile* (first step, and after the node was unreachable): the tracked next nonce becomes at
   least the node's pending count; stored transactions the node forgot are sent again, byte for
   byte; a nonce hole nothing fills gets a zero-value filler transaction;
2. *confirm*: mined or final transactions that left the chain (reorg) are sent again
   (:mod:`bridge.confirm`); receipts of sent transactions; a success moves its rows to ``mined``
   (``final`` at ``confirmations == 0``) except skipped awards whose GRANT the chain does not
   hold, which become ``conflict`` (:mod:`bridge.skips`); a revert puts awards back to
   ``pending`` and fails operations with the decoded custom error; mined transactions with
   enough blocks on top become ``final``. A signer whose transactions stop confirming is
   reported stalled (:class:`bridge.stall.ProgressWatch`);
3. *submit*: per program lane, lease a batch of pending awards, simulate ``grantBatch`` with
   ``eth_estimateGas`` and isolate every award the contract would reject (a custom error naming the
   award number or account fails those awards for good; otherwise the batch is halved until a
   part passes), sign, store, send. Then the same for pending conversions/deductions, one
   transaction each.

Exactly once: the contract skips award numbers, conversion ids and refund ids it has recorded
(:mod:`bridge.refund_ops`); a deduction is protected by its nonce (the stored bytes are re-sent,
a new signature only once the old nonce is provably used by another transaction and no entry of
the deduction exists).

Live checkpoints: once ``nextExpiry`` of the debited position has passed (or is about to), a
conversion or deduction carries the position's live checkpoint list, built from the indexed
entries (:func:`ledger.service.witness.live_lists`). While the index cannot give it (it is behind
the chain), the operation stays ``pending`` and is retried once the index cursor has moved (or
after :data:`DEFER_SECONDS`); a revert saying the list was missing or stale
(:data:`RETRY_LATER_ERRORS`) likewise leaves it pending instead of failing it.

Two processes must not share a signing key: they would compete for nonces. Run one process per
key (one issuer key per program, one converter, one spender). Several processes may serve the same
program with different issuer keys: leases (and ``SKIP LOCKED`` on PostgreSQL) keep their batches
apart.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

import requests
from hexbytes import HexBytes
from sqlalchemy.orm import Session, sessionmaker

from bridge import metrics, skips
from bridge.client import GrantItem, LedgerClient, encode_grant_batch, to_bytes32
from bridge.confirm import Confirmer
from bridge.errors import ChainUnavailable, ContractRevert
from bridge.logs import get_logger
from bridge.outbox import ClaimedAward, LeaseLost, Outbox, PendingOperation
from bridge.refund_ops import REFUND_KIND, refund_data
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
from ledger.adapters.orm import IndexCursor
from ledger.domain.codes import AWARDED_PROGRAMS, Program
from ledger.service.consent import CONSENT_KIND, GIVEN
from ledger.service.witness import IndexBehind, live_lists
from ledger.settings import Settings

log = get_logger(__name__, component="submitter")

OP_KINDS = ("conversion", "deduction", REFUND_KIND, CONSENT_KIND)
#: The index cursor row the live lists are built from (bridge.indexer.CURSOR_NAME).
INDEX_CURSOR = "entries"
#: A spend carries its live list once ``nextExpiry`` is this close (seconds): the transaction is
#: mined in a later block than the one it was built at.
LIVE_MARGIN = 600
#: A deferred operation is retried when the index cursor moves, or after this many seconds.
DEFER_SECONDS = 30.0

__all__ = [
    "RETRY_LATER_ERRORS",
    "SYSTEMIC_ERRORS",
    "RpcError",
    "Simulation",
    "StepReport",
    "Submitter",
    "describe",
    "install_stop_signals",
    "program_code",
    "reason_code",
]


class Submitter(Confirmer):
    """Claim–sign–send–confirm for one signing key over the outbox.

    ``programs``: award lanes (default: the signer's role — ``issuer-CAR`` → ``["CAR"]``; a dev
    key → every awarded program). ``operations``: ``"conversion"``/``"deduction"``/``"refund"``/
    ``"consent"`` (default: by role — converter / spender (deductions and refunds) / registrar; a
    dev key → all)."""

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
        self.log = log.bind(sender=self.sender, worker=self.worker_id, lanes=self.lanes)
        self.watch = ProgressWatch(
            self.sender,
            settings.stall_seconds if stall_seconds is None else stall_seconds,
            self.log,
        )
        self._in_flight = False

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
            "spender": ["deduction", REFUND_KIND],
            "registrar": [CONSENT_KIND],
            "dev": list(OP_KINDS),
        }.get(role, [])

    def simulate(self, data: bytes, *, gas_hint: int | None = None) -> Simulation:
        """Run the call from this signer without sending it; a revert comes back decoded.

        With ``gas_hint`` the call is one ``eth_call`` (limited to ``gas_hint``) and the hint is
        the gas; without, ``eth_estimateGas`` (several executions: 5-15x slower for a batch)."""
        call: dict[str, Any] = {
            "from": self.sender,
            "to": self.client.address,
            "data": "0x" + data.hex(),
        }
        try:
            if gas_hint is not None:
                call["gas"] = hex(gas_hint)
                self._rpc("eth_call", [call, "latest"])
                gas = gas_hint
            else:
                gas = int(self._rpc("eth_estimateGas", [call]), 16)
        except RpcError as exc:
            if exc.data and len(HexBytes(exc.data)) >= 4:
                err = self.client.decode_revert(exc.data)
                metrics.REVERTS.labels(error=err.error).inc()
                return Simulation(revert=err, message=exc.message)
            return Simulation(message=exc.message)
        return Simulation(gas=gas)

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
                inflight = self._confirm(rep, wait=self.receipt_wait)
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
        waited out with exponential backoff. Raises TimeoutError after ``timeout`` seconds."""
        total = StepReport()
        deadline = None if timeout is None else time.monotonic() + timeout
        backoff = poll
        while stop is None or not stop.is_set():
            rep = self.step()
            total.add(rep)
            if rep.chain_error:
                self._sleep(backoff, deadline, stop)
                backoff = min(max_backoff, backoff * 2)
                continue
            backoff = poll
            total.chain_error = None
            if not rep.progressed and rep.inflight == 0 and not self._has_runnable_work():
                return total
            if not rep.progressed:
                self._sleep(poll, deadline, stop)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"submitter not idle after {timeout}s: {total}")
        return total

    def run_forever(
        self, stop: threading.Event, *, poll: float = 0.5, max_backoff: float = 10.0
    ) -> None:
        """The long-running loop of ``mileage bridge run``: until ``stop`` is set; each step is
        finished before checking it."""
        backoff = poll
        while not stop.is_set():
            rep = self.step()
            if rep.chain_error:
                stop.wait(backoff)
                backoff = min(max_backoff, backoff * 2)
                continue
            backoff = poll
            if not rep.progressed:
                stop.wait(poll)

    @staticmethod
    def _sleep(seconds: float, deadline: float | None, stop: threading.Event | None) -> None:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("submitter not idle before the deadline")
            seconds = min(seconds, remaining)
        if stop is not None:
            stop.wait(seconds)
        else:
            time.sleep(seconds)

    def _has_runnable_work(self) -> bool:
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

    def _lane_waiting(self, lane: str) -> bool:
        until = self._lane_wait.get(lane)
        return until is not None and time.monotonic() < until

    def _block_lane(self, lane: str, reason: str, rep: StepReport) -> None:
        rep.blocked[lane] = reason
        self._lane_wait[lane] = time.monotonic() + 5.0
        self.log.warning("lane blocked", lane=lane, reason=reason)

    # --- submit awards ------------------------------------------------------------------------
    def _grant_data(self, program: str, awards: Sequence[ClaimedAward]) -> bytes:
        """``grantBatch`` calldata of claimed awards."""
        items = [
            GrantItem(to_bytes32(a.account_id), a.award_no, a.amount, to_bytes32(a.award_id))
            for a in awards
        ]
        return encode_grant_batch(program_code(program), items)

    def _batch_gas(self, n: int) -> int | None:
        """Gas limit of a batch of ``n`` awards from the per-award figure (None: estimate)."""
        if self.gas_per_award is None:
            return None
        return min(self._gas_cap(), 100_000 + n * self.gas_per_award)

    def _batch_limit(self) -> int:
        """The configured batch size, shrunk so a batch fits the chain's block gas limit."""
        if self.gas_per_award is None:
            return self.batch_size
        fits = (self._gas_cap() - 100_000) // self.gas_per_award
        return max(1, min(self.batch_size, fits))

    def _gas_limit(self, estimate: int) -> int:
        return min(int(estimate * 1.25) + 30_000, self._gas_cap())

    def _sign_call(self, data: bytes, gas: int) -> Any:
        def sign(nonce: int) -> tuple[bytes, str]:
            return self.signer.sign(
                {
                    "to": self.client.address,
                    "value": 0,
                    "data": "0x" + data.hex(),
                    "gas": gas,
                    "gasPrice": self.gas_price,
                    "nonce": nonce,
                    "chainId": self.chain_id,
                }
            )

        return sign

    def isolate(
        self, program: str, claimed: Sequence[ClaimedAward], rep: StepReport | None = None
    ) -> tuple[list[ClaimedAward], int, dict[int, str], str | None]:
        """Find a batch the contract accepts: returns (batch, gas estimate, failures by award
        number with decoded reasons, systemic error or None)."""
        rep = rep or StepReport()
        remaining = list(claimed)
        failures: dict[int, str] = {}
        while remaining:
            sim = self.simulate(
                self._grant_data(program, remaining), gas_hint=self._batch_gas(len(remaining))
            )
            rep.simulations += 1
            if sim.ok:
                return remaining, sim.gas, failures, None
            err = sim.revert
            if err is not None and err.error in SYSTEMIC_ERRORS:
                return [], 0, failures, describe(err)
            named = self._named(err, remaining) if err is not None else set()
            if named:
                for a in remaining:
                    if a.award_no in named:
                        failures[a.award_no] = describe(err)  # type: ignore[arg-type]
                remaining = [a for a in remaining if a.award_no not in named]
                continue
            if len(remaining) == 1:
                if err is not None:
                    failures[remaining[0].award_no] = describe(err)
                    remaining = []
                    continue
                return [], 0, failures, f"simulation failed: {sim.message}"
            # the error names no award (or is no revert, e.g. the batch needs more gas than a
            # block holds): keep the first half; the rest stays pending for the next step
            remaining = remaining[: len(remaining) // 2]
        return [], 0, failures, None

    @staticmethod
    def _named(err: ContractRevert, awards: Sequence[ClaimedAward]) -> set[int]:
        """Award numbers a custom error points at (by ``awardNo``, or by ``account``)."""
        args = err.args_
        if "awardNo" in args:
            no = int(str(args["awardNo"]))
            return {no} if any(a.award_no == no for a in awards) else set()
        for key in ("account", "from"):
            acct = args.get(key)
            if isinstance(acct, str) and acct.startswith("0x") and len(acct) == 66:
                return {a.award_no for a in awards if a.account_id == acct.lower()}
        return set()

    def _submit_awards(self, program: str, rep: StepReport) -> bool:
        claimed = self.outbox.claim_awards(program, self._batch_limit())
        if not claimed:
            return False
        rep.claimed += len(claimed)
        batch, gas, failures, systemic = self.isolate(program, claimed, rep)
        if failures:
            rep.awards_failed += self.outbox.fail_awards(failures)
            metrics.AWARDS_PROCESSED.labels(program=program, state="failed").inc(len(failures))
            for no, reason in failures.items():
                self.log.warning("award rejected", award_no=no, reason=reason, program=program)
        in_batch = {a.award_no for a in batch}
        leftover = [
            a.award_no for a in claimed if a.award_no not in in_batch and a.award_no not in failures
        ]
        if systemic:
            self.outbox.release_awards(leftover)
            self._block_lane(program, systemic, rep)
            return False
        if leftover:
            self.outbox.release_awards(leftover)
        if not batch:
            return False
        data = self._grant_data(program, batch)
        try:
            stored = self.outbox.store_signed(
                self.sender,
                "grant",
                program,
                self._sign_call(data, gas if self.gas_per_award else self._gas_limit(gas)),
                award_nos=[a.award_no for a in batch],
            )
        except LeaseLost as exc:
            self.log.info("lease lost before signing", error=str(exc))
            return False
        rep.awards_signed += len(batch)
        metrics.BATCH_SIZE.observe(len(batch))
        self._send(stored, rep, first=True)
        return True

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
                return live_lists(self.client, self.factory, account_id, [program], number)[program]
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
        if op.kind == CONSENT_KIND:  # ledger.service.consent; no batch call: one tx each
            return self.client.call_data("setDonationConsent", account, op.reason == GIVEN)
        if op.kind == REFUND_KIND:  # a credit: no live list (bridge.refund_ops)
            return refund_data(self.client, self.factory, op)
        program = program_code(op.program)
        if op.kind == "conversion":
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
        if op.kind == "deduction":
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


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT set ``stop``: the loop finishes its current step and returns."""

    def handler(signum: int, _frame: Any) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
