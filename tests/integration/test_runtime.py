"""One runtime for the CLI and the API (issue 17.5): both read the chain through the same checked
client, which refuses a recorded deployment of another chain or of another contract version."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from api.context import AppContext
from api.errors import ServiceUnavailable
from bridge.errors import DeploymentError
from ledger.adapters.orm import Deployment
from ledger.service.runtime import Runtime
from ledger.settings import Settings
from tests.keyring import ACCOUNT_KEY, REF_KEY

pytestmark = pytest.mark.chain


def settings(deployed: Any, db_url: str, *, address: bool = True) -> Settings:
    return Settings(
        database_url=db_url,
        rpc_url=deployed.url,
        contract_address=deployed.address if address else None,
        account_key=ACCOUNT_KEY,
        ref_key=REF_KEY,
    )


def refusals(deployed: Any, db_url: str, match: str, *, address: bool = True) -> None:
    """The CLI's runtime and the API's context both refuse, with the same explanation."""
    rt = Runtime.open(settings(deployed, db_url, address=address), upgrade=False)
    with pytest.raises(DeploymentError, match=match):
        _ = rt.client
    rt.close()
    ctx = AppContext.build(settings(deployed, db_url, address=address))
    with pytest.raises(ServiceUnavailable, match=match):
        _ = ctx.client
    ctx.engine.dispose()


def test_a_deployment_recorded_on_another_chain_is_refused_by_cli_and_api(
    deployed: Any, session_factory: sessionmaker[Session], db_url: str
) -> None:
    deployed.record(session_factory)
    other = deployed.chain_id + 1
    with session_factory() as s, s.begin():
        s.execute(sa.update(Deployment).values(chain_id=other))
    refusals(deployed, db_url, f"deployed on chain {other}, but the node at .* serves chain")
    refusals(deployed, db_url, "no ledger deployment recorded for this chain", address=False)


def test_a_deployment_of_another_contract_version_is_refused_by_cli_and_api(
    deployed: Any, session_factory: sessionmaker[Session], db_url: str
) -> None:
    deployed.record(session_factory)
    with session_factory() as s, s.begin():
        s.execute(sa.update(Deployment).values(abi_hash="0" * 64))
    for address in (True, False):
        refusals(deployed, db_url, "another version of the contract", address=address)


def test_the_recorded_deployment_serves_cli_and_api_alike(
    deployed: Any, session_factory: sessionmaker[Session], db_url: str
) -> None:
    deployed.record(session_factory)
    for address in (True, False):
        rt = Runtime.open(settings(deployed, db_url, address=address), upgrade=False)
        ctx = AppContext.build(settings(deployed, db_url, address=address))
        assert rt.client.address.lower() == ctx.client.address.lower() == deployed.address.lower()
        assert ctx.chain_info().chain_id == deployed.chain_id
        ctx.engine.dispose()
        rt.close()
