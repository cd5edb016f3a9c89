"""The runtime of a process: settings, the keys of the on-chain ids, the database and (lazily)
the chain client. The one builder of the CLI and the API (`api.context.AppContext.build`).

`Runtime.open` is where every command that touches data starts, so it is where a process
without its secrets refuses to start (outside the embedded demo; docs/keys.md). The chain client
is built by `connect_ledger` only after checking the deployment it reads: recorded on the chain
the node serves, and deployed from the contract this code reads (its ABI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.db import make_engine, make_sessionmaker, migrate
from ledger.adapters.orm import Deployment
from ledger.domain.keys import IdKeys
from ledger.domain.lots import DEFAULT_VALIDITY
from ledger.settings import Settings, get_settings

if TYPE_CHECKING:
    from web3 import Web3

    from bridge.client import LedgerClient


def find_deployment(
    sessions: sessionmaker[Session], address: str | None, chain_id: int | None
) -> Deployment | None:
    """The recorded deployment of ``address`` (preferring one on ``chain_id``), or without an
    address the newest recorded on ``chain_id`` (None: on any chain)."""
    q = sa.select(Deployment)
    if address:
        q = q.where(sa.func.lower(Deployment.address) == address.lower())
        if chain_id is not None:
            q = q.order_by((Deployment.chain_id == chain_id).desc())
    elif chain_id is not None:
        q = q.where(Deployment.chain_id == chain_id)
    with sessions() as s:
        return s.scalars(q.order_by(Deployment.id.desc()).limit(1)).first()


def check_deployment(dep: Deployment, chain_id: int, rpc_url: str) -> None:
    """Refuse (`DeploymentError`) a deployment recorded on another chain than the node's
    ``chain_id``, or deployed from another version of the contract (its ABI hash)."""
    from bridge.compile import main_artifact
    from bridge.errors import DeploymentError

    if int(dep.chain_id) != chain_id:
        raise DeploymentError(
            f"the ledger {dep.address} was deployed on chain {dep.chain_id}, but the node at "
            f"{rpc_url} serves chain {chain_id}: point MILEAGE_RPC_URL at a node of chain "
            f"{dep.chain_id}, or MILEAGE_CONTRACT_ADDRESS at the ledger of chain {chain_id}"
        )
    expected = main_artifact().abi_hash
    if dep.abi_hash != expected:
        raise DeploymentError(
            f"the ledger recorded at {dep.address} was deployed from another version of "
            f"the contract (ABI {dep.abi_hash[:12]}, this code reads {expected[:12]}), so "
            "its events cannot be read: deploy the current contract on a fresh chain and "
            "database (`mileage deploy`), or for the embedded default move `.mileage/` "
            "away and run `make run` again"
        )


def connect_ledger(settings: Settings, sessions: sessionmaker[Session], w3: Web3) -> LedgerClient:
    """The ledger contract client of ``settings`` (MILEAGE_CONTRACT_ADDRESS, else the newest
    deployment recorded for the node's chain), after `check_deployment` when it is recorded.
    Raises `DeploymentError` when nothing is deployed."""
    from bridge.client import LedgerClient
    from bridge.errors import DeploymentError

    chain_id = int(w3.eth.chain_id)
    address = settings.contract_address
    dep = find_deployment(sessions, address, chain_id)
    if not address:
        if dep is None:
            raise DeploymentError(
                "no ledger deployment recorded for this chain: run `mileage deploy` "
                "(or `make run`), or set MILEAGE_CONTRACT_ADDRESS"
            )
        address = dep.address
    if dep is not None:
        check_deployment(dep, chain_id, settings.effective_rpc_url)
    return LedgerClient(w3, address)


@dataclass
class Runtime:
    """Settings, database and chain access for one process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: IdKeys = field(default_factory=IdKeys, repr=False)
    """The keys of the on-chain ids (account ids, award ids, operation ids)."""
    rpc_timeout: float = 30.0
    """Seconds a JSON-RPC call may take."""
    check_node: bool = True
    """Fail at the first chain use when the node does not answer (the API starts without it)."""
    _w3: Web3 | None = field(default=None, repr=False)
    _client: LedgerClient | None = field(default=None, repr=False)
    _validity: dict[int, int] = field(default_factory=dict, repr=False)

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        upgrade: bool = True,
        engine: Engine | None = None,
        pool_size: int | None = None,
        rpc_timeout: float = 30.0,
        check_node: bool = True,
    ) -> Runtime:
        """Open the configured database (``engine``: one already open), migrating it to the
        newest schema first (``upgrade``); ``pool_size`` sizes a server's connection pool
        (PostgreSQL; twice as many may overflow it).

        Raises `KeyNotConfigured` before touching anything when the id keys are missing or the
        public demo keys outside the embedded demo (`Settings.id_keys`)."""
        settings = settings or get_settings()
        keys = settings.id_keys()
        url = settings.effective_database_url
        if upgrade:
            migrate(url)
        if engine is None:
            pool = (
                {}
                if pool_size is None or url.startswith("sqlite")
                else {"pool_size": pool_size, "max_overflow": 2 * pool_size}
            )
            engine = make_engine(url, **pool)
        return cls(settings, engine, make_sessionmaker(engine), keys, rpc_timeout, check_node)

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            from bridge.chain import make_web3

            self._w3 = make_web3(
                self.settings.effective_rpc_url, timeout=self.rpc_timeout, check=self.check_node
            )
        return self._w3

    def deployment(self) -> Deployment | None:
        """The ledger deployment in use: MILEAGE_CONTRACT_ADDRESS, else the newest recorded one
        for the connected chain."""
        chain_id = int(self.w3.eth.chain_id)
        dep = find_deployment(self.sessions, self.settings.contract_address, chain_id)
        return dep if dep is not None and int(dep.chain_id) == chain_id else None

    @property
    def client(self) -> LedgerClient:
        """The ledger contract client, checked (`connect_ledger`)."""
        if self._client is None:
            self._client = connect_ledger(self.settings, self.sessions, self.w3)
        return self._client

    def validity(self, program: int) -> int:
        """Seconds a grant of ``program`` stays valid: the contract's ``programConfig`` (the typed
        `LedgerClient.program_config` read), cached per program; the plan's 5 years
        (`DEFAULT_VALIDITY`) for an unregistered program (0), or while the contract cannot be
        asked (asked again at the next call). The lookup of the expiry notices (CLI) and of the
        API's lapse and expiring reads."""
        known = self._validity.get(program)
        if known is not None:
            return known
        try:
            validity = self.client.program_config(program).validity
        except Exception:  # chain or deployment unreachable: the plan's validity for now
            return DEFAULT_VALIDITY
        self._validity[program] = validity or DEFAULT_VALIDITY
        return self._validity[program]

    def close(self) -> None:
        self.engine.dispose()
