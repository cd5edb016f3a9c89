"""The runtime of a command: settings, the keys of the on-chain ids, the migrated database and
(lazily) the chain client.

`Runtime.open` is where every command that touches data starts, so it is where a process
without its secrets refuses to start (outside the embedded demo; docs/keys.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.db import make_engine, make_sessionmaker, migrate
from ledger.adapters.orm import Deployment
from ledger.domain.keys import IdKeys
from ledger.settings import Settings, get_settings

if TYPE_CHECKING:
    from web3 import Web3

    from bridge.client import LedgerClient


@dataclass
class Runtime:
    """Settings, database and chain access for one process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: IdKeys = field(default_factory=IdKeys, repr=False)
    """The keys of the on-chain ids (account ids, award ids, operation ids)."""
    _w3: Web3 | None = field(default=None, repr=False)
    _client: LedgerClient | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings | None = None, *, upgrade: bool = True) -> Runtime:
        """Open the configured database, migrating it to the newest schema first.

        Raises `KeyNotConfigured` before touching anything when the id keys are missing or the
        public demo keys outside the embedded demo (`Settings.id_keys`)."""
        settings = settings or get_settings()
        keys = settings.id_keys()
        url = settings.effective_database_url
        if upgrade:
            migrate(url)
        engine = make_engine(url)
        return cls(settings, engine, make_sessionmaker(engine), keys)

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            from bridge.chain import make_web3

            self._w3 = make_web3(self.settings.effective_rpc_url)
        return self._w3

    def deployment(self) -> Deployment | None:
        """The ledger deployment in use: MILEAGE_CONTRACT_ADDRESS, else the newest recorded one
        for the connected chain."""
        chain_id = int(self.w3.eth.chain_id)
        with self.sessions() as s:
            q = sa.select(Deployment).where(Deployment.chain_id == chain_id)
            if self.settings.contract_address:
                q = q.where(
                    sa.func.lower(Deployment.address) == self.settings.contract_address.lower()
                )
            return s.scalars(q.order_by(Deployment.id.desc()).limit(1)).first()

    @property
    def client(self) -> LedgerClient:
        """The ledger contract client (fails with a clear error when nothing is deployed)."""
        if self._client is None:
            from bridge.client import LedgerClient
            from bridge.compile import main_artifact
            from bridge.errors import DeploymentError

            address = self.settings.contract_address
            dep = self.deployment()
            if not address:
                if dep is None:
                    raise DeploymentError(
                        "no ledger deployment recorded for this chain: run `mileage deploy` "
                        "(or `make run`), or set MILEAGE_CONTRACT_ADDRESS"
                    )
                address = dep.address
            expected = main_artifact().abi_hash
            if dep is not None and dep.abi_hash != expected:
                raise DeploymentError(
                    f"the ledger recorded at {dep.address} was deployed from another version of "
                    f"the contract (ABI {dep.abi_hash[:12]}, this code reads {expected[:12]}), so "
                    "its events cannot be read: deploy the current contract on a fresh chain and "
                    "database (`mileage deploy`), or for the embedded default move `.mileage/` "
                    "away and run `make run` again"
                )
            self._client = LedgerClient(self.w3, address)
        return self._client

    def close(self) -> None:
        self.engine.dispose()
