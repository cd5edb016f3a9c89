"""The submitter: awards and operations from the database outbox onto the chain, exactly once.

One :class:`Submitter` signs with exactly one key and owns that key's nonces. A step
(:meth:`Submitter.step`) is one claim–sign–send–confirm cycle:

1. *reconcile* (first step, and after the node was unreachable): the tracked next nonce becomes at
   least the node's pending count; stored transactions the node forgot are sent again, byte for
   byte; a nonce hole nothing fills gets a zero-value filler transaction;
2. *confirm*: receipts of sent transactions; a success moves its rows to ``mined`` (``final`` at
   ``confirmations == 0``), a revert puts awards back to ``pending`` and fails operations with the
   decoded custom error; mined transactions with enough blocks on top become ``final``;
3. *submit*: per program lane, lease a batch of pending awards, simulate ``grantBatch`` with
   ``eth_estimateGas`` and isolate every award the contract would reject (a custom error naming the
   award number or account fails those awards for good; otherwise the batch is halved until a
   part passes), sign, store, send. Then the same for pending conversions/deductions, one
   transaction each.

Exactly once: the contract skips award numbers and conversion ids it has recorded; a deduction is
protected by its nonce (the stored bytes are re-sent, a new signature only once the old nonce is
provably used by another transaction and no entry of the deduction exists).

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
from dataclasses import dataclass, field
from typing import Any

import requests
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from sqlalchemy.orm import Session, sessionmaker
from web3.types import RPCEndpoint

from bridge import metrics
from bridge.client import GrantItem, LedgerClient, encode_grant_batch, hex32, to_bytes32
from bridge.errors import BridgeError, ChainUnavailable, ContractRevert
from bridge.logs import get_logger
from bridge.outbox import ClaimedAward, LeaseLost, Outbox, PendingOperation, StoredTx, _aware
from bridge.signer import Signer
from ledger.adapters.orm import IndexCursor
from ledger.domain.codes import AWARDED_PROGRAMS, EntryKind, Program, Reason
from ledger.service.witness import IndexBehind, live_lists
from ledger.settings import Settings

log = get_logger(__name__, component="submitter")

#: Custom errors that say nothing about individual rows: the lane waits (backoff) and retries.
SYSTEMIC_ERRORS = frozenset(
    {
        "LedgerPaused",
        "ProgramPaused",
        "EnforcedPause",
        "UnknownProgram",
        "AccessControlUnauthorizedAccount",
    }
)
#: Custom errors of an operation that say its live checkpoint list was missing or stale: not the
#: operation's fault; it stays pending and is retried once the index has caught up.
RETRY_LATER_ERRORS = frozenset({"LiveCheckpointsRequired", "LiveCheckpointsMismatch"})
AWARD_SKIPPED_TOPIC = "0x" + keccak(text="AwardSkipped(uint64,bytes32,bytes32)").hex()
OP_KINDS = ("conversion", "deduction")
#: The index cursor row the live lists are built from (bridge.indexer.CURSOR_NAME).
INDEX_CURSOR = "entries"
#: A spend carries its live list once ``nextExpiry`` is this close (seconds): the transaction is
#: mined in a later block than the one it was built at.
LIVE_MARGIN = 600
#: A deferred operation is retried when the index cursor moves, or after this many seconds.
DEFER_SECONDS = 30.0


class RpcError(BridgeError):
    """The node answered a JSON-RPC call with an error (``code``, ``message``, revert ``data``)."""

    def __init__(self, method: str, code: int, message: str, data: str | None) -> None:
        self.method, self.code, self.message, self.data = method, code, message, data
        super().__init__(f"{method} failed: {message} (code {code})")


def describe(err: ContractRevert) -> str:
    """``AwardTooLarge(program=3, awardNo=7, maxAward=70000, amount=90000)``."""
    return f"{err.error}({', '.join(f'{k}={v}' for k, v in err.args_.items())})"


def program_code(value: str | int) -> int:
    """Program code from a name (``CAR``) or a number."""
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    return int(Program[str(value).upper()])


def reason_code(value: str | int | None) -> int:
    if value is None:
        raise ValueError("a deduction needs a reason")
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    return int(Reason[str(value).upper()])


@dataclass(frozen=True)
class Simulation:
    """Outcome of ``eth_estimateGas`` for a call."""

    gas: int = 0
    revert: ContractRevert | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.gas > 0


@dataclass
class StepReport:
    """What one step (or a run, summed) did."""

    claimed: int = 0
    txs_sent: int = 0
    txs_resent: int = 0
    txs_mined: int = 0
    txs_final: int = 0
    txs_reverted: int = 0
    txs_replaced: int = 0
    awards_signed: int = 0
    awards_mined: int = 0
    awards_skipped: int = 0
    awards_failed: int = 0
    ops_signed: int = 0
    ops_mined: int = 0
    ops_failed: int = 0
    simulations: int = 0
    inflight: int = 0
    blocked: dict[str, str] = field(default_factory=dict)
    #: operations left pending until the index catches up (op id → why)
    deferred: dict[str, str] = field(default_factory=dict)
    chain_error: str | None = None

    @property
    def progressed(self) -> bool:
        """Something changed state in this step."""
        return any(
            (
                self.txs_sent,
                self.txs_resent,
                self.txs_mined,
                self.txs_final,
                self.txs_reverted,
                self.txs_replaced,
                self.awards_failed,
                self.ops_failed,
            )
        )

    def add(self, other: StepReport) -> None:
        for name in (
            "claimed",
            "txs_sent",
            "txs_resent",
            "txs_mined",
            "txs_final",
            "txs_reverted",
            "txs_replaced",
            "awards_signed",
            "awards_mined",
            "awards_skipped",
            "awards_failed",
            "ops_signed",
            "ops_mined",
            "ops_failed",
            "simulations",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.blocked.update(other.blocked)
        self.deferred.update(other.deferred)
        self.inflight = other.inflight
        self.chain_error = other.chain_error


class Submitter:
    """Claim–sign–send–confirm for one signing key over the outbox.

    ``programs``: award lanes (default: the signer's role — ``issuer-CAR`` → ``["CAR"]``; a dev
    key → every awarded program). ``operations``: ``"conversion"``/``"deduction"`` (default: by
    role — converter / spender; a dev key → both)."""

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
    ) -> None:
        self.factory = session_factory
        self.client = client
        self.w3 = client.w3
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
        self._deploy_block = 0
        self.log = log.bind(sender=self.sender, worker=self.worker_id, lanes=self.lanes)

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
        return {"converter": ["conversion"], "spender": ["deduction"], "dev": list(OP_KINDS)}.get(
            role, []
        )

    # --- JSON-RPC ---------------------------------------------------------------------------
    def _rpc(self, method: str, params: list[Any]) -> Any:
        try:
            resp = self.w3.provider.make_request(RPCEndpoint(method), params)
        except (requests.RequestException, OSError, TimeoutError) as exc:
            metrics.CHAIN_ERRORS.labels(where=method).inc()
            raise ChainUnavailable(f"{method}: node unreachable ({type(exc).__name__})") from exc
        if "error" in resp:
            err = resp["error"]
            if isinstance(err, str):
                raise RpcError(method, -1, err, None)
            data = err.get("data")
            if isinstance(data, dict):
                data = data.get("data") or data.get("result")
            raise RpcError(
                method,
                int(err.get("code", -1)),
                str(err.get("message", "")),
                data if isinstance(data, str) else None,
            )
        return resp.get("result")

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._rpc("eth_chainId", []), 16)
        return self._chain_id

    def _gas_cap(self) -> int:
        if self._block_gas_limit is None:
            block = self._rpc("eth_getBlockByNumber", ["latest", False])
            self._block_gas_limit = int(block["gasLimit"], 16)
        return self._block_gas_limit

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        r: dict[str, Any] | None = self._rpc("eth_getTransactionReceipt", [tx_hash])
        return r

    def _block_number(self) -> int:
        return int(self._rpc("eth_blockNumber", []), 16)

    def _nonce(self, tag: str) -> int:
        return int(self._rpc("eth_getTransactionCount", [self.sender, tag]), 16)

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
            metrics.STEPS.labels(outcome="progress" if rep.progressed else "idle").inc()
        except ChainUnavailable as exc:
            rep.chain_error = str(exc)
            self._ready = False  # reconcile nonces and resend everything once the node is back
            self._last_send.clear()
            self._chain_id = None
            metrics.STEPS.labels(outcome="chain_error").inc()
            self.log.warning("node unavailable", error=str(exc))
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

    # --- reconcile ------------------------------------------------------------------------
    def _reconcile(self, rep: StepReport) -> None:
        pending = self._nonce("pending")
        latest = self._nonce("latest")
        next_nonce = self.outbox.reconcile_nonce(self.sender, pending)
        metrics.SIGNER_NONCE.labels(sender=self.sender).set(next_nonce)
        if next_nonce <= latest:
            return
        stored = self.outbox.txs_by_nonce(self.sender, range(latest, next_nonce))
        for n in range(latest, next_nonce):
            tx = stored.get(n)
            if tx is None:
                self._fill_nonce(n, rep)
            elif tx.status in ("mined", "final") and self._receipt(tx.tx_hash) is None:
                # the node lost a block we had seen (restored from an older state): send again
                self.log.warning("mined transaction vanished; resending", nonce=n, tx=tx.tx_hash)
                self.outbox.unmine(tx.id)
            elif tx.status in ("failed", "replaced"):
                self._fill_nonce(n, rep)
        self._last_send.clear()  # everything unresolved is due for a resend now

    def _fill_nonce(self, nonce: int, rep: StepReport) -> None:
        """A nonce no stored transaction can use: fill it with a zero-value self-transfer."""
        self.log.warning("filling nonce gap", nonce=nonce)
        stored = self.outbox.store_signed(
            self.sender,
            "filler",
            None,
            lambda n: self.signer.sign(
                {
                    "to": self.sender,
                    "value": 0,
                    "gas": 21_000,
                    "gasPrice": self.gas_price,
                    "nonce": n,
                    "chainId": self.chain_id,
                    "data": b"",
                }
            ),
            nonce=nonce,
        )
        self._send(stored, rep, first=True)

    # --- confirm ------------------------------------------------------------------------------
    def _confirm(self, rep: StepReport, wait: float = 0.0) -> int:
        """Process receipts of unresolved transactions; returns how many remain in flight."""
        deadline = time.monotonic() + wait
        seen_block: int | None = None
        full_pass = 0.0
        remaining = 0
        while True:
            # waiting: look at the receipts again only once a new block is out (one cheap call
            # per poll instead of one receipt query per transaction in flight), or after 1 s
            if (
                seen_block is not None
                and time.monotonic() - full_pass < 1.0
                and self._block_number() == seen_block
            ):
                if time.monotonic() >= deadline:
                    return remaining
                time.sleep(0.05)
                continue
            seen_block = self._block_number() if wait else None
            full_pass = time.monotonic()
            txs = self.outbox.unresolved_txs(self.sender)
            latest: int | None = None
            remaining = 0
            for tx in txs:
                receipt = self._receipt(tx.tx_hash)
                if receipt is not None and receipt.get("blockNumber") is not None:
                    self._apply_receipt(tx, receipt, rep)
                    continue
                if tx.status == "signed":
                    self._send(tx, rep, first=True)
                    remaining += 1
                    continue
                if latest is None:
                    latest = self._nonce("latest")
                if tx.nonce < latest:
                    # the nonce is used; if the node knows our transaction it is ours (the
                    # receipt can lag the nonce for a moment): wait for it
                    if self._rpc("eth_getTransactionByHash", [tx.tx_hash]) is None:
                        self._nonce_taken(tx, rep)
                    else:
                        remaining += 1
                    continue
                if time.monotonic() - self._last_send.get(tx.id, 0.0) >= self.resend_after:
                    self._send(tx, rep, first=False)
                remaining += 1
            self._finalize(rep)
            if remaining == 0 or time.monotonic() >= deadline:
                return remaining
            time.sleep(0.05)

    def _send(self, tx: StoredTx, rep: StepReport, *, first: bool) -> None:
        try:
            self._rpc("eth_sendRawTransaction", [tx.raw_tx])
        except RpcError as exc:
            msg = exc.message.lower()
            if "already known" in msg or "known transaction" in msg or "already imported" in msg:
                pass
            elif "nonce too low" in msg or "nonce is too low" in msg or "oldnonce" in msg:
                receipt = self._receipt(tx.tx_hash)
                if receipt is not None and receipt.get("blockNumber") is not None:
                    self._apply_receipt(tx, receipt, rep)
                elif self._rpc("eth_getTransactionByHash", [tx.tx_hash]) is None:
                    self._nonce_taken(tx, rep)
                else:  # ours, mined, receipt not served yet: confirmed on a later pass
                    self._last_send[tx.id] = time.monotonic()
                    if tx.status == "signed":
                        self.outbox.mark_sent(tx.id)
                return
            else:
                # keep the stored transaction (it is the only one allowed for its nonce); retried
                # after resend_after. A permanent problem shows in the logs and metrics.
                metrics.CHAIN_ERRORS.labels(where="send").inc()
                self.log.error(
                    "node refused transaction", tx=tx.tx_hash, nonce=tx.nonce, error=exc.message
                )
                self._last_send[tx.id] = time.monotonic()
                return
        self._last_send[tx.id] = time.monotonic()
        self.outbox.mark_sent(tx.id)
        if first and tx.status == "signed":
            rep.txs_sent += 1
            metrics.BATCHES_SENT.labels(kind=tx.kind, program=tx.program or "").inc()
        else:
            rep.txs_resent += 1
            metrics.TX_RESENT.labels(kind=tx.kind).inc()

    def _nonce_taken(self, tx: StoredTx, rep: StepReport) -> None:
        """Our nonce went to another transaction, ours has no receipt: it can never execute."""
        awards, ops = self.outbox.tx_rows(tx.id)
        for op in ops:
            if op.kind == "deduction":
                found = self._find_deduction(op)
                if found is not None:
                    self.log.warning("deduction found on chain without its receipt", op=op.op_id)
                    self.outbox.mark_mined(
                        tx.id,
                        block_number=found[0],
                        block_hash=found[1],
                        gas_used=0,
                        final=self.confirmations == 0,
                    )
                    rep.txs_mined += 1
                    return
        self.log.warning(
            "nonce used by another transaction; rows back to pending",
            tx=tx.tx_hash,
            nonce=tx.nonce,
            awards=len(awards),
            ops=len(ops),
        )
        self.outbox.abandon_tx(tx.id, status="replaced", error="nonce used by another transaction")
        self._last_send.pop(tx.id, None)
        rep.txs_replaced += 1

    def _find_deduction(self, op: PendingOperation) -> tuple[int, str] | None:
        # the ref is the (keyed) operation id; a deduction sent before docs/keys.md carried the
        # integrator's reference itself
        refs = {op.op_id.lower(), (op.reference or op.op_id).lower()}
        head = int(self._rpc("eth_blockNumber", []), 16)
        for ev in self.client.entry_logs(self._deploy_block, head, [to_bytes32(op.account_id)]):
            if ev.kind == EntryKind.DEDUCTION and hex32(ev.ref) in refs and ev.amount == op.amount:
                return ev.block_number, hex32(ev.block_hash)
        return None

    def _apply_receipt(self, tx: StoredTx, receipt: dict[str, Any], rep: StepReport) -> None:
        block = int(receipt["blockNumber"], 16)
        block_hash = str(receipt["blockHash"])
        gas_used = int(receipt["gasUsed"], 16)
        self._last_send.pop(tx.id, None)
        latency = time.time() - _aware(tx.created_at).timestamp()
        if latency >= 0:
            metrics.TX_LATENCY.labels(kind=tx.kind).observe(latency)
        awards, ops = self.outbox.tx_rows(tx.id)
        if int(receipt["status"], 16) == 1:
            final = self.confirmations == 0
            self.outbox.mark_mined(
                tx.id, block_number=block, block_hash=block_hash, gas_used=gas_used, final=final
            )
            skipped = sum(
                1
                for lg in receipt.get("logs", [])
                if lg.get("topics")
                and str(lg["topics"][0]).lower() == AWARD_SKIPPED_TOPIC
                and str(lg.get("address", "")).lower() == self.client.address.lower()
            )
            rep.txs_mined += 1
            rep.txs_final += int(final)
            rep.awards_mined += len(awards)
            rep.awards_skipped += skipped
            rep.ops_mined += len(ops)
            state = "final" if final else "mined"
            for a in awards:
                metrics.AWARDS_PROCESSED.labels(program=a.program, state=state).inc()
            if skipped:
                metrics.AWARDS_PROCESSED.labels(program=tx.program or "", state="skipped").inc(
                    skipped
                )
            return
        # reverted on chain although the simulation passed (state moved in between)
        err = self._replay(tx, block)
        reason = describe(err) if err is not None else "reverted (no reason)"
        if err is None and tx.kind == "grant" and self.gas_per_award is not None:
            # most likely out of gas: the per-award figure was too low for these accounts
            self.gas_per_award = int(self.gas_per_award * 1.5)
            self.log.warning(
                "grant batch reverted without reason; raising gas per award",
                gas_per_award=self.gas_per_award,
                gas_used=gas_used,
            )
        if err is not None:
            metrics.REVERTS.labels(error=err.error).inc()
        failed_ops: dict[str, str] = {}
        if err is not None and err.error in RETRY_LATER_ERRORS:
            # the live list went stale between building and mining: pending again, rebuilt
            for op in ops:
                self._defer(op, reason, rep)
        elif err is not None and err.error not in SYSTEMIC_ERRORS:
            failed_ops = {op.op_id: reason for op in ops}
        self.log.warning(
            "transaction reverted", tx=tx.tx_hash, reason=reason, awards=len(awards), ops=len(ops)
        )
        self.outbox.abandon_tx(
            tx.id,
            status="failed",
            error=reason,
            failed_ops=failed_ops,
            block_number=block,
            block_hash=block_hash,
            gas_used=gas_used,
        )
        rep.txs_reverted += 1
        rep.ops_failed += len(failed_ops)

    def _replay(self, tx: StoredTx, block: int) -> ContractRevert | None:
        """The revert reason of a mined, failed transaction (replayed on the previous block)."""
        try:
            onchain = self._rpc("eth_getTransactionByHash", [tx.tx_hash])
            if onchain is None:
                return None
            call = {
                "from": self.sender,
                "to": onchain["to"],
                "data": onchain["input"],
                "gas": onchain["gas"],
            }
            self._rpc("eth_call", [call, hex(max(block - 1, 0))])
        except RpcError as exc:
            if exc.data and len(HexBytes(exc.data)) >= 4:
                return self.client.decode_revert(exc.data)
        return None

    def _finalize(self, rep: StepReport) -> None:
        mined = self.outbox.mined_txs(self.sender)
        if not mined:
            return
        head = int(self._rpc("eth_blockNumber", []), 16)
        done: list[int] = []
        for tx in mined:
            if tx.block_number is None or head - tx.block_number < self.confirmations:
                continue
            receipt = self._receipt(tx.tx_hash)
            if receipt is None or str(receipt["blockHash"]).lower() != (tx.block_hash or ""):
                self.log.warning("mined transaction left the chain; resending", tx=tx.tx_hash)
                self.outbox.unmine(tx.id)
                continue
            done.append(tx.id)
        if done:
            self.outbox.finalize(done)
            rep.txs_final += len(done)

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
