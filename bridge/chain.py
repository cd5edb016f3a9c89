"""The only module that builds a :class:`web3.Web3`: plain JSON-RPC over HTTP, so the same code
runs against anvil, a Hardhat node or a Hyperledger Besu QBFT network.

Everything else receives a Web3 (or, better, a :class:`bridge.client.LedgerClient`) from here.
"""

from __future__ import annotations

from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from bridge.errors import ChainUnavailable


def make_web3(rpc_url: str, *, timeout: float = 30.0, check: bool = True) -> Web3:
    """Connect to a JSON-RPC node. QBFT/Clique blocks carry long extraData: the POA middleware
    makes web3 accept them. With ``check``, fail fast with a clear error if the node is down."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    if check and not w3.is_connected():
        raise ChainUnavailable(
            f"no JSON-RPC node answers at {rpc_url}: start it, or set MILEAGE_RPC_URL"
        )
    return w3
