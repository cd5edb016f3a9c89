"""What the submitter's two lanes share: simulating a call from the signer, signing it, and
backing off a lane the contract blocks as a whole (a paused program, a missing role), or every
lane until a restart when a successful receipt lacks the ledger's event
(:mod:`bridge.ledger_events`).

:class:`bridge.award_lane.AwardLane` and :class:`bridge.ops_lane.OperationLane` build on it;
:class:`bridge.submitter.Submitter` combines them."""

from __future__ import annotations

import time
from typing import Any

from hexbytes import HexBytes

from bridge import metrics
from bridge.confirm import Confirmer
from bridge.outbox import StoredTx
from bridge.rpc import RpcError
from bridge.steps import Simulation, StepReport


class Lane(Confirmer):
    """Simulation, signing and lane back-off on top of the chain side (:class:`Confirmer`)."""

    _lane_wait: dict[str, float]

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

    def _gas_limit(self, estimate: int) -> int:
        return min(int(estimate * 1.25) + 30_000, self._gas_cap())

    def _sign_call(self, data: bytes, gas: int) -> Any:
        def sign(nonce: int) -> tuple[bytes, str]:
            return self.signer.sign(
                {
                    "to": self.client.address,
                    "value": 0,
                    "data": data,  # bytes: the same transaction as its 0x-hex, no round trip
                    "gas": gas,
                    "gasPrice": self.gas_price,
                    "nonce": nonce,
                    "chainId": self.chain_id,
                }
            )

        return sign

    def _lane_waiting(self, lane: str) -> bool:
        if self._halted is not None:  # the ledger's events were missing: until a restart
            return True
        until = self._lane_wait.get(lane)
        return until is not None and time.monotonic() < until

    def _block_lane(self, lane: str, reason: str, rep: StepReport) -> None:
        rep.blocked[lane] = reason
        self._lane_wait[lane] = time.monotonic() + 5.0
        self.log.warning("lane blocked", lane=lane, reason=reason)

    def _not_landed(
        self, tx: StoredTx, block: int, block_hash: str, gas_used: int, rep: StepReport
    ) -> None:
        """A status-1 receipt without the ledger's event (:mod:`bridge.ledger_events`): the
        transaction failed, its rows are pending again, every lane waits for a restart."""
        try:
            code = HexBytes(self._rpc("eth_getCode", [self.client.address, "latest"]) or "0x")
        except RpcError:
            code = HexBytes("0x01")  # unknown: not said to be empty
        why = self._events.missing(tx.kind, tx.tx_hash, no_code=code == b"")
        if tx.kind != "grant" and self._found_on_chain(tx, self.outbox.tx_rows(tx.id)[1], rep):
            self.log.error("receipt without the ledger's event, entry found", reason=why)
            return
        self.outbox.abandon_tx(
            tx.id,
            status="failed",
            error=why,
            block_number=block,
            block_hash=block_hash,
            gas_used=gas_used,
        )
        metrics.REVERTS.labels(error="NoLedgerEvent").inc()
        rep.txs_reverted += 1
        rep.blocked[tx.program if tx.kind == "grant" and tx.program else tx.kind] = why
        self._halted = why
        self.log.error("lanes blocked until restart", tx=tx.tx_hash, reason=why)
