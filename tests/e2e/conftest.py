"""End-to-end fixtures: a private anvil chain, the deployed ledger, a migrated database, the bridge
(submitters + indexer) in a background thread and the API served by a real uvicorn server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from eth_account import Account

from bridge.anvil import AnvilProcess, free_port
from bridge.chain import make_web3
from bridge.client import LedgerClient
from bridge.deploy import RoleHolders, deploy_ledger
from bridge.indexer import Indexer
from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.adapters.db import make_engine, make_sessionmaker, migrate
from ledger.adapters.orm import Deployment
from ledger.domain.codes import AWARDED_PROGRAMS
from ledger.service.witness import live_list_source
from ledger.settings import Settings
from tests.keyring import ACCOUNT_KEY, REF_KEY

MNEMONIC = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()


def dev_key(i: int) -> str:
    acct = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
    return "0x" + bytes(acct.key).hex()


def addr(key: str) -> str:
    return str(Account.from_key(key).address)


@dataclass
class Stack:
    """The running system: URLs, keys, database and the bridge thread."""

    api_url: str
    rpc_url: str
    contract: str
    settings: Settings
    sessions: Any
    w3: Any
    client: LedgerClient
    stop: threading.Event
    errors: list[BaseException] = field(default_factory=list)
    rounds: int = 0

    def wait_rounds(self, n: int = 2, timeout: float = 60) -> None:
        """Wait until the bridge loop completed ``n`` more rounds (submit + index)."""
        target = self.rounds + n
        deadline = time.monotonic() + timeout
        while self.rounds < target:
            if self.errors:
                raise self.errors[0]
            if time.monotonic() > deadline:
                raise TimeoutError("the bridge loop is stuck")
            time.sleep(0.05)


def _bridge_loop(stack: Stack, deployment_block: int) -> None:
    settings = Settings(batch_size=100, confirmations=0)
    subs = [
        Submitter(
            stack.sessions,
            stack.client,
            signer_from_key(dev_key(int(p)), f"issuer-{p.name}"),
            settings,
        )
        for p in AWARDED_PROGRAMS
    ]
    live = live_list_source(stack.client, stack.sessions)
    for key, role in ((dev_key(7), "converter"), (dev_key(8), "spender")):
        subs.append(
            Submitter(
                stack.sessions, stack.client, signer_from_key(key, role), settings, live_lists=live
            )
        )
    indexer = Indexer(stack.sessions, stack.client, deployment_block)
    while not stack.stop.is_set():
        try:
            for s in subs:
                s.run_until_idle(timeout=60)
            indexer.run_until_head()
        except BaseException as exc:  # surfaced to the test through wait_rounds
            stack.errors.append(exc)
            return
        stack.rounds += 1
        time.sleep(0.05)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with AnvilProcess(log_file=tmp_path / "anvil.log") as node:
        w3 = make_web3(node.url)
        roles = RoleHolders(
            issuers={int(p): addr(dev_key(int(p))) for p in AWARDED_PROGRAMS},
            converter=addr(dev_key(7)),
            spender=addr(dev_key(8)),
            expirer=addr(dev_key(9)),
            corrector=addr(dev_key(9)),
            registrar=addr(dev_key(9)),
            pauser=addr(dev_key(9)),
        )
        dep = deploy_ledger(w3, dev_key(0), roles)
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        migrate(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        with sessions() as s, s.begin():
            s.add(
                Deployment(
                    chain_id=dep.chain_id,
                    address=dep.address,
                    block_number=dep.block_number,
                    block_hash=dep.block_hash,
                    abi_hash=dep.abi_hash,
                    deployer=dep.deployer,
                )
            )
        settings = Settings(
            database_url=url,
            rpc_url=node.url,
            data_dir=tmp_path,
            api_port=free_port(),
            account_key=ACCOUNT_KEY,
            ref_key=REF_KEY,
        )
        from api.main import create_app

        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings), host="127.0.0.1", port=settings.api_port, log_level="warning"
            )
        )
        api_thread = threading.Thread(target=server.run, daemon=True)
        api_thread.start()
        stack = Stack(
            f"http://127.0.0.1:{settings.api_port}",
            node.url,
            dep.address,
            settings,
            sessions,
            w3,
            LedgerClient(w3, dep.address),
            threading.Event(),
        )
        bridge = threading.Thread(target=_bridge_loop, args=(stack, dep.block_number), daemon=True)
        bridge.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        stack.wait_rounds(1)
        try:
            yield stack
        finally:
            stack.stop.set()
            server.should_exit = True
            bridge.join(90)
            api_thread.join(30)
            engine.dispose()
