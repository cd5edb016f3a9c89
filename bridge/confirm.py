"""The chain side of the submitter: nonces, sending, receipts, reorgs and finality.

:class:`Confirmer` holds the JSON-RPC helpers and everything after a transaction is signed and
stored: reconciling the tracked nonce with the node (start-up, and after the node was unreachable),
sending the stored bytes (never a new signature for the same rows), applying receipts (skipped
awards are resolved by :mod:`bridge.skips`), and finality after ``MILEAGE_CONFIRMATIONS`` blocks.
:class:`bridge.submitter.Submitter` adds claiming, simulation and signing on top.

Dropped transactions (:func:`dropped`). A reorg (or a node restored from an older state) can take
a transaction we already called mined or final off the chain. With ``MILEAGE_CONFIRMATIONS=0``
its rows were final at once, and the transactions signed after it then wait forever behind the
nonce gap. Every step compares the node's account nonce (``eth_getTransactionCount(sender,
'latest')``) with the newest nonce the database holds as landed: a landed transaction at or above
the node's nonce cannot be on the chain. Only then are receipts fetched; a transaction without a
receipt goes back to ``sent`` and its stored bytes are sent again (never a new signature). A
healthy step costs one JSON-RPC call and one indexed query.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import requests
from hexbytes import HexBytes
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from bridge import metrics, skips
from bridge.client import LedgerClient, hex32, to_bytes32
from bridge.errors import ChainUnavailable, ContractRevert
from bridge.ledger_events import LedgerEvents
from bridge.outbox import ClaimedAward, Outbox, PendingOperation, StoredTx, _aware
from bridge.refund_ops import REFUND_KIND, find_refund
from bridge.rpc import JsonRpc, NodeUnreachable, RpcError
from bridge.signer import Signer
from bridge.steps import (
    RETRY_LATER_ERRORS,
    SYSTEMIC_ERRORS,
    StepReport,
    describe,
    program_code,
)
from ledger.domain.codes import EntryKind


def dropped(
    outbox: Outbox,
    sender: str,
    node_nonce: int,
    receipt: Callable[[str], dict[str, Any] | None],
) -> list[StoredTx]:
    """Mined or final transactions of ``sender`` that are no longer on the chain: a nonce at or
    above the node's account nonce (``node_nonce``, at ``latest``) and no receipt."""
    return [
        tx
        for tx in outbox.landed_from(sender, node_nonce)
        if (r := receipt(tx.tx_hash)) is None or r.get("blockNumber") is None
    ]


class Confirmer:
    """The chain side of a :class:`bridge.submitter.Submitter`: JSON-RPC calls, nonce
    reconciliation, sending stored transactions, receipts, reorgs and finality. The submitter
    sets the attributes declared here."""

    factory: sessionmaker[Session]
    client: LedgerClient
    w3: Web3
    rpc: JsonRpc
    signer: Signer
    sender: str
    outbox: Outbox
    confirmations: int
    gas_price: int
    gas_per_award: int | None
    resend_after: float
    max_inflight: int
    log: Any
    _chain_id: int | None
    _block_gas_limit: int | None
    _last_send: dict[int, float]
    _deploy_block: int | None
    _skips: skips.SkipDecoder
    _events: LedgerEvents
    _halted: str | None  # why every lane waits for a restart (a receipt without its event)

    def _defer(self, op: PendingOperation, why: str, rep: StepReport) -> None:
        """Leave ``op`` pending until the index catches up (the submitter's deferrals)."""
        raise NotImplementedError

    def _not_landed(self, tx: StoredTx, block: int, hash_: str, gas: int, rep: StepReport) -> None:
        """A receipt without the ledger's event (:meth:`bridge.lane.Lane._not_landed`)."""
        raise NotImplementedError

    # --- JSON-RPC ---------------------------------------------------------------------------
    def _rpc(self, method: str, params: list[Any]) -> Any:
        """One raw call (:attr:`rpc`); an error answer raises :class:`bridge.rpc.RpcError`, no
        answer :class:`ChainUnavailable` (the step reports it and reconciles once it is back)."""
        try:
            return self.rpc.call(method, params)
        except NodeUnreachable as exc:
            metrics.CHAIN_ERRORS.labels(where=method).inc()
            raise ChainUnavailable(f"{method}: node unreachable ({exc.cause})") from exc

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

    def _receipts(self, hashes: Sequence[str]) -> list[dict[str, Any] | None] | None:
        """The receipts of several transactions in one JSON-RPC batch (one HTTP request, not one
        each). None when there are fewer than two, or when the node refuses the batch or answers
        one of its calls with an error: the caller then asks for each receipt on its own
        (:meth:`_receipt`), as it does without a batch."""
        if len(hashes) < 2:
            return None
        try:
            return list(self.rpc.batch("eth_getTransactionReceipt", [[h] for h in hashes]))
        except NodeUnreachable as exc:
            metrics.CHAIN_ERRORS.labels(where="eth_getTransactionReceipt").inc()
            raise ChainUnavailable(
                f"eth_getTransactionReceipt: node unreachable ({exc.cause})"
            ) from exc
        except RpcError:
            return None

    def _block_number(self) -> int:
        return int(self._rpc("eth_blockNumber", []), 16)

    def _nonce(self, tag: str) -> int:
        return int(self._rpc("eth_getTransactionCount", [self.sender, tag]), 16)

    # --- reconcile ------------------------------------------------------------------------
    def _reconcile(self, rep: StepReport) -> None:
        pending = self._nonce("pending")
        latest = self._nonce("latest")
        next_nonce = self.outbox.reconcile_nonce(self.sender, pending)
        metrics.SIGNER_NONCE.labels(sender=self.sender).set(next_nonce)
        if next_nonce <= latest:
            return
        # the node lost blocks we had seen (reorg, restored from an older state): send again
        self._resend_dropped(rep, latest)
        stored = self.outbox.txs_by_nonce(self.sender, range(latest, next_nonce))
        for n in range(latest, next_nonce):
            tx = stored.get(n)
            if tx is None or tx.status in ("failed", "replaced"):
                self._fill_nonce(n, rep)
        self._last_send.clear()  # everything unresolved is due for a resend now

    def _resend_dropped(self, rep: StepReport, latest: int | None = None) -> None:
        """Mined/final transactions that left the chain (reorg): back to ``sent``, sent again
        byte for byte in this step's confirm pass (:func:`dropped`). ``latest``: the node's
        account nonce, when the caller has it."""
        node_nonce = self._nonce("latest") if latest is None else latest
        for tx in dropped(self.outbox, self.sender, node_nonce, self._receipt):
            self.log.warning(
                "transaction left the chain (reorg); resending the stored bytes",
                tx=tx.tx_hash,
                nonce=tx.nonce,
                was=tx.status,
                block=tx.block_number,
            )
            self.outbox.unmine(tx.id)
            self._last_send.pop(tx.id, None)
            metrics.TX_DROPPED.labels(kind=tx.kind).inc()
            rep.txs_dropped += 1

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
    def _confirm(self, rep: StepReport, wait: float = 0.0, *, refill: bool = False) -> int:
        """Process receipts of unresolved transactions; returns how many remain in flight.
        Waiting (``wait``), it returns once nothing is in flight or ``wait`` is over, or, with
        ``refill`` (the window was full and more work waits), as soon as a transaction lands
        and frees a slot."""
        deadline = time.monotonic() + wait
        seen_block: int | None = None
        full_pass = 0.0
        remaining = 0
        landed = 0  # receipts applied in this call
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
            receipts = self._receipts([tx.tx_hash for tx in txs])
            latest: int | None = None
            remaining = 0
            for i, tx in enumerate(txs):
                receipt = receipts[i] if receipts is not None else self._receipt(tx.tx_hash)
                if receipt is not None and receipt.get("blockNumber") is not None:
                    self._apply_receipt(tx, receipt, rep)
                    landed += 1
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
            if refill and landed and remaining < self.max_inflight:
                # a slot is free: the caller fills it now, so that the next block carries a
                # full window, instead of after every transaction in flight has landed
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
        if self._found_on_chain(tx, ops, rep):
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

    def _found_on_chain(
        self, tx: StoredTx, ops: Sequence[PendingOperation], rep: StepReport
    ) -> bool:
        """A deduction or refund of ``tx`` whose entry the ledger's logs hold: ``tx`` is mined
        (a deduction must never be signed again once it is on chain)."""
        for op in ops:
            if op.kind in ("deduction", REFUND_KIND):
                found = (
                    self._find_deduction(op)
                    if op.kind == "deduction"
                    else find_refund(self.client, self.deploy_block, self._block_number(), op.op_id)
                )
                if found is not None:
                    self.log.warning(f"{op.kind} found on chain without its receipt", op=op.op_id)
                    self.outbox.mark_mined(
                        tx.id,
                        block_number=found[0],
                        block_hash=found[1],
                        gas_used=0,
                        final=self.confirmations == 0,
                    )
                    rep.txs_mined += 1
                    return True
        return False

    def _find_deduction(self, op: PendingOperation) -> tuple[int, str] | None:
        # the ref is the (keyed) operation id; a deduction sent before docs/keys.md carried the
        # integrator's reference itself
        refs = {op.op_id.lower(), (op.reference or op.op_id).lower()}
        head = int(self._rpc("eth_blockNumber", []), 16)
        for ev in self.client.entry_logs(self.deploy_block, head, [to_bytes32(op.account_id)]):
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
        ok = int(receipt["status"], 16) == 1
        if ok and not self._events.landed(tx.kind, receipt):
            self._not_landed(tx, block, block_hash, gas_used, rep)
            return
        awards: Sequence[ClaimedAward]
        if tx.kind == "grant":
            # a batch's award rows are read only when the receipt names skipped awards (500
            # rows per batch otherwise; mark_mined counts them)
            skipped = self._skips.award_nos(receipt) if ok else []
            awards = self.outbox.tx_rows(tx.id)[0] if skipped else []
            ops: Sequence[PendingOperation] = []
        else:
            awards, ops = self.outbox.tx_rows(tx.id)
            skipped = self._skips.award_nos(receipt) if ok and awards else []
        if ok:
            final = self.confirmations == 0
            conflicts = self._conflicts(tx, awards, skipped, block) if skipped else {}
            n_awards = self.outbox.mark_mined(
                tx.id,
                block_number=block,
                block_hash=block_hash,
                gas_used=gas_used,
                final=final,
                conflicts=conflicts,
            )
            rep.txs_mined += 1
            rep.txs_final += int(final)
            rep.awards_mined += n_awards - len(conflicts)
            rep.awards_skipped += len(skipped)
            rep.awards_conflict += len(conflicts)
            rep.ops_mined += len(ops)
            state = "final" if final else "mined"
            if n_awards - len(conflicts):
                metrics.AWARDS_PROCESSED.labels(program=tx.program or "", state=state).inc(
                    n_awards - len(conflicts)
                )
            if skipped:
                metrics.AWARDS_PROCESSED.labels(program=tx.program or "", state="skipped").inc(
                    len(skipped)
                )
            skips.log_conflicts(self.log, tx.program or "", awards, conflicts)
            return
        # reverted on chain although the simulation passed (state moved in between)
        n_awards = self.outbox.award_count(tx.id) if tx.kind == "grant" else len(awards)
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
            "transaction reverted", tx=tx.tx_hash, reason=reason, awards=n_awards, ops=len(ops)
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

    def _conflicts(
        self, tx: StoredTx, awards: Sequence[ClaimedAward], skipped: Sequence[int], block: int
    ) -> dict[int, str]:
        """Skipped awards of ``tx`` with no GRANT on chain (:func:`bridge.skips.conflicts`)."""
        try:
            return skips.conflicts(
                self.client,
                awards,
                skipped,
                program_code(tx.program or awards[0].program),
                from_block=self.deploy_block,
                to_block=block,
                tx_hash=tx.tx_hash,
            )
        except (requests.RequestException, OSError, TimeoutError) as exc:
            metrics.CHAIN_ERRORS.labels(where="skips").inc()
            raise ChainUnavailable(
                f"skipped awards: node unreachable ({type(exc).__name__})"
            ) from exc

    @property
    def deploy_block(self) -> int:
        """The ledger's deployment block (from the database; 0 when unknown)."""
        if self._deploy_block is None:
            self._deploy_block = skips.deployment_block(self.factory, self.client.address)
        return self._deploy_block

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
