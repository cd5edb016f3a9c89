"""Send one administrative transaction and wait for it (deploys, role grants, merges, expiry).

Bulk work (grants, conversions, deductions) goes through the outbox and the submitter instead:
this helper is for rare operator commands, where waiting for the receipt is what a person wants.
"""

from __future__ import annotations

from typing import Any, cast

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractCustomError
from web3.types import TxParams

from bridge.errors import DeploymentError


def send_and_wait(
    w3: Web3, acct: LocalAccount, tx: dict[str, Any], *, gas_price: int = 0, timeout: float = 120
) -> Any:
    """Sign ``tx`` with ``acct`` (nonce, chain id, gas filled in), send it, return the receipt.
    Raises :class:`DeploymentError` if it reverts."""
    tx.setdefault("from", acct.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(acct.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    tx.setdefault("gasPrice", gas_price)
    if "gas" not in tx:
        tx["gas"] = int(w3.eth.estimate_gas(cast(TxParams, tx)) * 1.2) + 50_000
    signed = acct.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1:
        raise DeploymentError(f"transaction 0x{bytes(tx_hash).hex()} reverted")
    return receipt


def call_contract(
    w3: Web3, acct: LocalAccount, fn: Any, *, gas_price: int = 0, decode: Any = None
) -> Any:
    """Send a contract function call (``contract.functions.f(args)``) and wait. With ``decode``
    (a ``LedgerClient.decode_revert``), a revert found by simulation raises the decoded
    ``ContractRevert`` before anything is sent.

    Raises :class:`DeploymentError` before anything is sent if the node holds no code at the
    contract's address: a call to it would be mined with status 1 and do nothing, and the
    operator would be told it worked (a wrong address in the settings, another chain, a node
    that lost its state)."""
    address = fn.address
    if not bytes(w3.eth.get_code(address)):
        raise DeploymentError(
            f"no contract code at {address} on this chain (chain id {w3.eth.chain_id}): nothing "
            "was sent; check MILEAGE_CONTRACT_ADDRESS (or the deployment recorded in the "
            "database) and MILEAGE_RPC_URL"
        )
    params = {"from": acct.address, "gasPrice": gas_price}
    if decode is not None:
        try:
            fn.call(params)
        except ContractCustomError as exc:
            raise decode(exc.data) from exc
    tx = fn.build_transaction(
        {**params, "nonce": w3.eth.get_transaction_count(acct.address, "pending")}
    )
    return send_and_wait(w3, acct, dict(tx), gas_price=gas_price)
