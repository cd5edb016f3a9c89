"""Chain-side helpers of the indexer, reconciliation and verifier tests (no tests of its own).

:class:`LedgerDriver` sends real ledger transactions (grants, deductions, conversions) with the
role keys of a :class:`conftest.DeployedLedger`, so the tests produce genuine ``EntryRecorded``
events on anvil.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eth_account import Account
from web3 import Web3

from bridge.client import GrantItem, LedgerClient
from ledger.domain.codes import Program, Reason

_award_numbers = itertools.count(1_000_000)


def acct(name: str) -> str:
    """A deterministic test account id (0x + 64 hex)."""
    return "0x" + hashlib.sha256(f"indexer-test|{name}".encode()).hexdigest()


class LedgerDriver:
    """Sends ledger transactions with the role keys of a deployed test ledger."""

    def __init__(self, deployed: Any) -> None:
        self.d = deployed
        self.w3: Web3 = deployed.w3
        self.client = LedgerClient(self.w3, deployed.address)

    def send(self, key: str, data: bytes, gas: int | None = None) -> Any:
        sender = Account.from_key(key)
        tx: dict[str, Any] = {
            "from": sender.address,
            "to": self.client.address,
            "data": data,
            "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
            "gasPrice": 0,
            "chainId": self.d.chain_id,
        }
        if gas is None:
            # grants cost more when mined in a later second than the estimate assumed (a new
            # expiry checkpoint per account): since grants to existing accounts got cheap, up to
            # 2.6 times the estimate (500 BIKE grants: 7.4M gas in the same second, 19.1M in the
            # next). Leave generous headroom (gas is free here), within the block limit.
            limit = int(self.w3.eth.get_block("latest")["gasLimit"])
            gas = min(limit, int(self.w3.eth.estimate_gas(tx) * 4) + 100_000)  # type: ignore[arg-type]
        tx["gas"] = gas
        signed = sender.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.send_raw_transaction(signed.raw_transaction), timeout=120
        )
        assert receipt["status"] == 1, "ledger transaction reverted"
        return receipt

    def grant(self, program: Program, awards: Sequence[tuple[str, int]]) -> Any:
        """One grantBatch of ``(account, amount)`` awards, with fresh award numbers."""
        items = []
        for account, amount in awards:
            no = next(_award_numbers)
            award_id = hashlib.sha256(f"award|{no}".encode()).digest()
            items.append(GrantItem(bytes.fromhex(account[2:]), no, amount, award_id))
        data = self.client.grant_batch_data(int(program), items)
        return self.send(self.d.issuer_keys[program.name], data)

    def deduct(self, account: str, program: Program, amount: int, ref: str = "r") -> Any:
        data = self.client.call_data(
            "deduct",
            bytes.fromhex(account[2:]),
            int(program),
            amount,
            int(Reason.TAX_PAYMENT),
            hashlib.sha256(ref.encode()).digest(),
            [],
        )
        return self.send(self.d.spender_key, data)

    def convert(self, account: str, src: Program, dst: Program, amount: int, cid: str) -> Any:
        data = self.client.call_data(
            "convert",
            bytes.fromhex(account[2:]),
            int(src),
            int(dst),
            amount,
            hashlib.sha256(cid.encode()).digest(),
            [],
        )
        return self.send(self.d.converter_key, data)

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    @contextmanager
    def snapshot(self) -> Iterator[str]:
        """``evm_snapshot`` ... (caller reverts with :meth:`revert`, or it is dropped)."""
        snap = self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        yield str(snap)

    def revert(self, snap: str) -> None:
        ok = self.w3.provider.make_request("evm_revert", [snap])["result"]  # type: ignore[arg-type]
        assert ok, "evm_revert failed"

    def head(self) -> int:
        return int(self.w3.eth.block_number)
