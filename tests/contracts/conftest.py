"""Contract test fixtures: a MileageLedger deployed once per session on the session's anvil
(tests/conftest.py), and a clean snapshot of it for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ledger_helpers import Ledger, deploy_ledger
from web3 import Web3


@pytest.fixture(scope="session")
def deployed(w3: Web3) -> Ledger:
    return deploy_ledger(w3)


@pytest.fixture
def ledger(deployed: Ledger) -> Iterator[Ledger]:
    """The deployed ledger, reverted to its freshly deployed state after the test."""
    snap = deployed.w3.provider.make_request("evm_snapshot", [])["result"]
    yield deployed
    deployed.w3.provider.make_request("evm_revert", [snap])
