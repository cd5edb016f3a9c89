"""An operator command never reports success for a call that reached no contract
(bridge.txs.call_contract): a call to an address without code is mined with status 1 and does
nothing, so the command must refuse before sending."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from bridge.errors import DeploymentError
from bridge.txs import call_contract

pytestmark = pytest.mark.chain


def _nonce(deployed: Any, address: str) -> int:
    return int(deployed.w3.eth.get_transaction_count(address, "pending"))


def test_an_admin_call_to_an_address_without_code_is_refused(deployed: Any) -> None:
    admin = Account.from_key(deployed.admin_key)
    fn = deployed.client.function("setPaused", True)
    deployed.w3.provider.make_request("anvil_setCode", [deployed.address, "0x"])
    before = _nonce(deployed, admin.address)
    with pytest.raises(DeploymentError, match=r"no contract code at .*MILEAGE_CONTRACT_ADDRESS"):
        call_contract(deployed.w3, admin, fn)
    assert _nonce(deployed, admin.address) == before  # nothing was sent


def test_an_admin_call_to_the_ledger_still_goes_through(deployed: Any) -> None:
    admin = Account.from_key(deployed.admin_key)
    receipt = call_contract(deployed.w3, admin, deployed.client.function("setPaused", True))
    assert receipt["status"] == 1
    assert deployed.client.paused()
