"""The application context: settings, database, API keys and the (lazy) chain connection.

One instance per app, held on ``app.state.ctx``; routes get it (and its parts) through the
``Annotated`` dependencies of :mod:`api.deps`. It is built on the CLI's runtime
(`ledger.service.runtime.Runtime`), so the API reads the chain through the same checked client
(the deployment on the node's chain, from the contract this code reads). Nothing here talks to
the chain at import or start: the chain is connected on first use, so the API starts (and
``/healthz`` answers) while the node is down.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.auth import KeyStore
from api.errors import ServiceUnavailable
from api.metrics import Metrics
from bridge.rpc import JsonRpc
from ledger.adapters.orm import IndexCursor
from ledger.domain.keys import IdKeys
from ledger.service.runtime import Runtime, find_deployment
from ledger.settings import Settings

if TYPE_CHECKING:
    from web3 import Web3

    from bridge.client import LedgerClient


@dataclass(frozen=True)
class Anchor:
    """Where an answer stands on the chain: the indexer's cursor block."""

    chain_id: int
    contract: str
    block_number: int
    block_hash: str


@dataclass
class ChainInfo:
    """Chain id and contract address, resolved once (settings, else the newest deployment)."""

    chain_id: int
    contract: str


@dataclass
class AppContext:
    """Everything a request may need, built once per app."""

    runtime: Runtime
    keys: KeyStore
    cursor_name: str | None = "entries"  # bridge.indexer.CURSOR_NAME
    max_lag_blocks: int = 20
    _info: ChainInfo | None = None
    _w3: Web3 | None = None
    _rpc: JsonRpc | None = None
    _client: LedgerClient | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _head_cache: tuple[float, int] | None = None
    _time_cache: tuple[float, int | None, int] | None = None
    _time_w3: Web3 | None = None
    metrics: Metrics = field(default_factory=Metrics)
    cache: dict[str, Any] = field(default_factory=dict)
    _routes: dict[tuple[int, int], tuple[float, bool]] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, engine: Engine | None = None) -> AppContext:
        """The context of an app; refuses (`KeyNotConfigured`) without the id keys outside the
        embedded demo, before opening the database (the API does not migrate it)."""
        rt = Runtime.open(
            settings, upgrade=False, engine=engine, pool_size=16, rpc_timeout=10.0, check_node=False
        )
        return cls(runtime=rt, keys=KeyStore(rt.sessions))

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.runtime.sessions

    @property
    def id_keys(self) -> IdKeys:
        """The keys of the on-chain ids (award ids, operation ids; docs/keys.md)."""
        return self.runtime.keys

    # --- chain ---------------------------------------------------------------------------------
    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            with self._lock:
                self._w3 = self.runtime.w3
        return self._w3

    @property
    def rpc(self) -> JsonRpc:
        """Raw JSON-RPC to the same node as :attr:`w3` (``bridge.rpc``; proof reads), built once."""
        if self._rpc is None:
            w3 = self.w3  # outside the lock: w3 takes it too
            with self._lock:
                if self._rpc is None:
                    self._rpc = JsonRpc.of_web3(w3)
        return self._rpc

    def chain_info(self) -> ChainInfo:
        """Chain id and contract address (cached after the first success)."""
        if self._info is not None:
            return self._info
        address = self.settings.contract_address
        chain_id: int | None = None
        dep = find_deployment(self.sessions, address, None)
        if dep is not None:
            chain_id = dep.chain_id
            address = address or dep.address
        if address is None:
            raise ServiceUnavailable(
                "no ledger contract: deploy with `mileage deploy` or set MILEAGE_CONTRACT_ADDRESS"
            )
        if chain_id is None:
            try:
                chain_id = int(self.w3.eth.chain_id)
            except Exception as exc:
                raise ServiceUnavailable(f"chain unreachable: {type(exc).__name__}") from exc
        from web3 import Web3

        self._info = ChainInfo(chain_id=chain_id, contract=Web3.to_checksum_address(address))
        return self._info

    @property
    def client(self) -> LedgerClient:
        """The ledger contract client, checked as the CLI's (`Runtime.client`): 503 when nothing
        is deployed, or the deployment is of another chain or contract version."""
        if self._client is None:
            from bridge.errors import DeploymentError

            with self._lock:
                try:
                    self._client = self.runtime.client
                except DeploymentError as exc:
                    raise ServiceUnavailable(str(exc)) from exc
        return self._client

    def chain_head(self, max_age: float = 1.0) -> int:
        """The node's latest block number (cached ``max_age`` seconds)."""
        now = time.monotonic()
        if self._head_cache is not None and self._head_cache[0] > now:
            return self._head_cache[1]
        number = int(self.w3.eth.block_number)
        self._head_cache = (now + max_age, number)
        return number

    def chain_time(self, max_age: float = 0.0, key: int | None = None) -> int:
        """The chain's "now": the latest block's timestamp (unix seconds), what the contract
        compares expiry against. Cached ``max_age`` seconds while ``key`` (e.g. the anchor block)
        stays the same; ``max_age=0`` asks the node. If the node cannot be asked, the wall clock
        (never earlier than the last chain time seen)."""
        now = time.monotonic()
        hit = self._time_cache
        if hit is not None and hit[0] > now and hit[1] == key:
            return hit[2]
        try:
            stamp = int(self._quick_w3().eth.get_block("latest")["timestamp"])
        except Exception:  # node down: do not ask again for a while (the read path is hot)
            stamp = max(int(time.time()), hit[2] if hit is not None else 0)
            max_age = max(max_age, TIME_RETRY_S)
        self._time_cache = (now + max_age, key, stamp)
        return stamp

    def _quick_w3(self) -> Web3:
        """A connection for the chain's time that fails at once (no retries, short timeout):
        it is asked from the hot balance read."""
        if self._time_w3 is None:
            from bridge.chain import make_web3

            w3 = make_web3(self.settings.effective_rpc_url, timeout=2.0, check=False)
            w3.provider.exception_retry_configuration = None  # type: ignore[attr-defined]
            self._time_w3 = w3
        return self._time_w3

    def validity(self, program: int) -> int:
        """Seconds a grant of ``program`` stays valid (`Runtime.validity`)."""
        return self.runtime.validity(program)

    # --- index ---------------------------------------------------------------------------------
    def cursor_filter(self) -> Any:
        """SQL condition selecting the indexer's cursor row."""
        if self.cursor_name is not None:
            return IndexCursor.name == self.cursor_name
        return sa.true()

    def anchor_from_row(self, block_number: int | None, block_hash: str | None) -> Anchor:
        info = self.chain_info()
        if block_number is None or block_hash is None:
            raise ServiceUnavailable(
                "the indexer has not indexed any block yet: start `mileage bridge` (indexer)"
            )
        return Anchor(info.chain_id, info.contract, int(block_number), block_hash)

    def current_anchor(self, session: Session) -> Anchor:
        """The indexer cursor as an anchor."""
        row = session.execute(
            sa.select(IndexCursor.block_number, IndexCursor.block_hash)
            .where(self.cursor_filter())
            .order_by(IndexCursor.block_number.desc())
            .limit(1)
        ).first()
        return self.anchor_from_row(row[0] if row else None, row[1] if row else None)


#: seconds before the chain's time is asked again after the node did not answer
TIME_RETRY_S = 5.0


def route_open(ctx: AppContext, source: int, target: int, ttl: float = 30.0) -> bool | None:
    """Whether the contract has the conversion route ``source → target`` open (cached ``ttl``
    seconds); None when the chain cannot be asked."""
    now = time.monotonic()
    hit = ctx._routes.get((source, target))
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        num, _den = ctx.client.route_of(source, target)
    except Exception:
        return None
    ctx._routes[(source, target)] = (now + ttl, int(num) > 0)
    return int(num) > 0
