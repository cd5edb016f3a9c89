"""Shared integration fixtures: real anvil, a deployed ledger, real databases (SQLite + PostgreSQL).

- ``db_url`` is parametrized over ``sqlite`` and ``postgres``: every test that uses it (or
  ``session_factory``) runs on both. SQLite is a file in the test's tmp dir; PostgreSQL is a fresh
  database per test, cloned from a migrated template (``CREATE DATABASE .. TEMPLATE``), dropped
  afterwards.
- ``deployed`` is the ledger contract deployed once per session on the session anvil; every test
  gets the chain as it was right after the deployment (``evm_snapshot`` / ``evm_revert``).
- ``deploy_on(w3)`` deploys on any node (e.g. a ``fresh_anvil`` with a state file).
- ``seed_awards(...)`` inserts accounts + pending awards (the outbox) for the bridge to submit.

Keys are anvil's well-known development accounts (mnemonic ``test test ... junk``): index 0 is the
admin/deployer, 1..6 the issuers of programs 1..6, 7 the converter, 8 the spender, 9 spare.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import OIDC_KEY, ApiEnv, make_env
from eth_account import Account
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from api.oidc import OidcConfig, OidcVerifier
from bridge.anvil import AnvilProcess
from ledger.adapters.db import MIGRATIONS, make_engine, make_sessionmaker, migrate
from ledger.adapters.orm import Account as AccountRow
from ledger.adapters.orm import Award, Base, Deployment
from ledger.domain.codes import AWARDED_PROGRAMS, Program
from tests.oidc_helpers import AUDIENCE, ISSUER, Provider, serve_jwks

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()


def dev_key(index: int) -> str:
    """Private key (0x-hex) of anvil's development account ``index``."""
    acct = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return "0x" + bytes(acct.key).hex()


ADMIN_KEY = dev_key(0)
ISSUER_KEYS: dict[str, str] = {p.name: dev_key(int(p)) for p in AWARDED_PROGRAMS}  # 1..6
CONVERTER_KEY = dev_key(7)
SPENDER_KEY = dev_key(8)
SPARE_KEY = dev_key(9)


def address_of(key: str) -> str:
    return str(Account.from_key(key).address)


# --------------------------------------------------------------------------------------------
# databases
# --------------------------------------------------------------------------------------------


def _has_migrations() -> bool:
    return any((MIGRATIONS / "versions").glob("*.py"))


def create_schema(url: str) -> None:
    """Bring a fresh database to the current schema: Alembic if a revision exists, else (or with
    ``MILEAGE_TEST_SCHEMA=orm``) straight from the ORM tables."""
    if _has_migrations() and os.environ.get("MILEAGE_TEST_SCHEMA") != "orm":
        migrate(url)
        return
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dbtemplate") / "template.db"
    create_schema(f"sqlite:///{path}")
    # fold the WAL into the main file so a plain copy is complete
    eng = sa.create_engine(f"sqlite:///{path}")
    with eng.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        c.exec_driver_sql("PRAGMA journal_mode=DELETE")
    eng.dispose()
    return path


def _admin_engine(server_url: str) -> sa.Engine:
    return sa.create_engine(server_url, isolation_level="AUTOCOMMIT")


def _url_with_db(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _postgres_template(postgres_url: str) -> Iterator[str]:
    name = f"mileage_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _admin_engine(postgres_url)
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    create_schema(_url_with_db(postgres_url, name))
    yield name
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_kind(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: the backend of this test's database."""
    kind: str = request.param
    return kind


@contextmanager
def _postgres_clone(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database cloned from the migrated template, dropped afterwards."""
    server: str = request.getfixturevalue("postgres_url")
    template_name: str = request.getfixturevalue("_postgres_template")
    name = f"mileage_t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(server)
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    try:
        yield _url_with_db(server, name)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def db_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test (SQLite file or PostgreSQL database)."""
    if db_kind == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "ledger.db"
        shutil.copyfile(template, path)
        path.chmod(0o600)  # as the ledger creates it (a lax one is narrowed with a warning)
        yield f"sqlite:///{path}"
        return
    with _postgres_clone(request) as url:
        yield url


@pytest.fixture
def pg_db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database only (for tests that need row locks, e.g. SKIP LOCKED)."""
    with _postgres_clone(request) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


# --------------------------------------------------------------------------------------------
# chain
# --------------------------------------------------------------------------------------------


@dataclass
class DeployedLedger:
    """A ledger contract deployed for a test, with the keys of its roles."""

    w3: Web3
    url: str
    address: str
    block_number: int
    block_hash: str
    chain_id: int
    admin_key: str = ADMIN_KEY
    issuer_keys: dict[str, str] = field(default_factory=lambda: dict(ISSUER_KEYS))
    converter_key: str = CONVERTER_KEY
    spender_key: str = SPENDER_KEY
    spare_key: str = SPARE_KEY

    @property
    def client(self) -> Any:
        from bridge.client import LedgerClient

        return LedgerClient(self.w3, self.address)

    def admin_call(self, fn: str, *args: Any) -> Any:
        """Send one admin transaction (e.g. ``grantRole``, ``setBudget``); returns the receipt."""
        from bridge.client import LedgerClient

        acct = Account.from_key(self.admin_key)
        tx = {
            "from": acct.address,
            "to": self.address,
            "data": LedgerClient(self.w3, self.address).call_data(fn, *args),
            "nonce": self.w3.eth.get_transaction_count(acct.address, "pending"),
            "gasPrice": 0,
            "chainId": self.chain_id,
        }
        tx["gas"] = int(self.w3.eth.estimate_gas(tx) * 1.3) + 50_000
        signed = acct.sign_transaction(tx)
        h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(h, timeout=60)
        assert receipt["status"] == 1, f"admin call {fn}{args} reverted"
        return receipt

    def grant_issuer(self, program: str, key: str) -> None:
        """Give ``key``'s address the issuer role of ``program`` (a second issuer)."""
        role = self.client.issuer_role(int(Program[program]))
        self.admin_call("grantRole", role, address_of(key))

    def record(self, factory: sessionmaker[Session]) -> None:
        """Write the Deployment row (as ``mileage deploy`` would) into a test database."""
        from bridge.compile import main_artifact

        with factory() as s, s.begin():
            s.add(
                Deployment(
                    chain_id=self.chain_id,
                    address=self.address,
                    block_number=self.block_number,
                    block_hash=self.block_hash,
                    abi_hash=main_artifact().abi_hash,
                    deployer=address_of(self.admin_key),
                )
            )


def deploy_on(w3: Web3, url: str) -> DeployedLedger:
    """Deploy MileageLedger on ``w3`` with the 7 programs, SEOUL routes and role grants."""
    from bridge.deploy import RoleHolders, deploy_ledger

    admin = address_of(ADMIN_KEY)
    roles = RoleHolders(
        issuers={int(Program[name]): address_of(k) for name, k in ISSUER_KEYS.items()},
        converter=address_of(CONVERTER_KEY),
        spender=address_of(SPENDER_KEY),
        expirer=admin,
        corrector=admin,
        registrar=admin,
        pauser=admin,
    )
    dep = deploy_ledger(w3, ADMIN_KEY, roles)
    block_hash = dep.block_hash
    if isinstance(block_hash, bytes | bytearray):
        block_hash = "0x" + bytes(block_hash).hex()
    return DeployedLedger(
        w3=w3,
        url=url,
        address=str(dep.address),
        block_number=int(dep.block_number),
        block_hash=str(block_hash),
        chain_id=int(w3.eth.chain_id),
    )


@pytest.fixture(scope="session")
def _session_deployment(w3: Web3, anvil: AnvilProcess) -> DeployedLedger:
    return deploy_on(w3, anvil.url)


_TEST_NUMBERS = itertools.count(1)


@pytest.fixture
def deployed(_session_deployment: DeployedLedger, w3: Web3) -> Iterator[DeployedLedger]:
    """The session's ledger, with the chain reset to right after its deployment for each test.

    Each test mines with its own coinbase, so its blocks never have the hash of another test's
    blocks. Without it, tests that mine the same empty blocks from the reverted snapshot (same
    parent, same second) make blocks of equal hashes, and anvil keeps its historical states by
    block hash: once the session has evicted enough states, an old duplicate's eviction takes
    the live state of that hash with it, and a later ``anvil_reorg`` to that block restores a
    state without the contract's code (seen in test_submitter_reorg's depth-5 reorgs after ~70
    tests: the resent grants "succeeded" with no logs)."""
    snap = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    coinbase = f"0x{next(_TEST_NUMBERS):040x}"
    w3.provider.make_request("anvil_setCoinbase", [coinbase])  # type: ignore[arg-type]
    yield _session_deployment
    w3.provider.make_request("evm_revert", [snap])  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# seed data
# --------------------------------------------------------------------------------------------


def account_id_for(citizen: str) -> str:
    """A deterministic bytes32 test account id (tests do not need the HMAC key)."""
    return "0x" + hashlib.sha256(f"test-account|{citizen}".encode()).hexdigest()


def award_id_for(program: str, member_id: str, period: str) -> str:
    from eth_utils import keccak

    return "0x" + keccak(text=f"mileage-award|{program}|{member_id}|{period}").hex()


def seed_awards(
    factory: sessionmaker[Session],
    program: str,
    amounts: Sequence[int],
    *,
    period: str = "2026-01",
    accounts: Sequence[str] | None = None,
    prefix: str = "m",
) -> list[int]:
    """Insert one pending award per amount (member ``{prefix}{i}``, its own account unless
    ``accounts`` gives the account ids, cycled). Returns the award numbers, in order."""
    nos: list[int] = []
    with factory() as s, s.begin():
        existing = {a for (a,) in s.execute(sa.select(AccountRow.account_id))}
        rows: list[Award] = []
        for i, amount in enumerate(amounts):
            member = f"{prefix}{i}"
            if accounts:
                acct = accounts[i % len(accounts)]
            else:
                acct = account_id_for(f"{program}:{member}")
            if acct not in existing:
                s.add(AccountRow(account_id=acct, citizen_id=f"citizen:{acct[2:]}"))
                existing.add(acct)
            row = Award(
                award_id=award_id_for(program, member, period),
                program=program,
                member_id=member,
                account_id=acct,
                period=period,
                amount=int(amount),
                status="pending",
            )
            s.add(row)
            rows.append(row)
        s.flush()
        nos = [r.award_no for r in rows]
    return nos


@pytest.fixture
def seed(session_factory: sessionmaker[Session]) -> Any:
    """``seed(program, amounts, **kw) -> award_nos``: :func:`seed_awards` on this test's database
    (tests use this fixture instead of importing from conftest)."""

    def _seed(program: str, amounts: Sequence[int], **kw: Any) -> list[int]:
        return seed_awards(session_factory, program, amounts, **kw)

    return _seed


@pytest.fixture
def deploy() -> Any:
    """``deploy(w3, url) -> DeployedLedger``: deploy a fresh ledger on any node (e.g. a private
    anvil with a state file)."""
    return deploy_on


@pytest.fixture
def env(deployed: Any, session_factory: Any, db_url: str) -> Iterator[ApiEnv]:
    """The API on the deployed test ledger (a module whose ``env`` is something else, such as an
    anvil process, defines its own)."""
    e = make_env(deployed, session_factory, db_url)
    yield e
    e.http.close()


@pytest.fixture
def signed_in_env(
    deployed: Any, session_factory: Any, db_url: str
) -> Iterator[tuple[ApiEnv, Provider]]:
    """The API whose citizen sign-in trusts a served test identity provider (tokens signed with
    `api_harness.OIDC_KEY`), and that provider."""
    e = make_env(deployed, session_factory, db_url)
    with serve_jwks(OIDC_KEY) as provider:
        secret = e.app.state.ctx.id_keys.account
        e.app.state.oidc = OidcVerifier(OidcConfig(provider.url, ISSUER, AUDIENCE), secret)
        yield e, provider
    e.http.close()
