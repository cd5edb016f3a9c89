"""Helpers of the API tests: a deployed ledger, a database, the bridge and the app together.

(Imported by the test_api*.py and test_proofs.py modules; it holds no tests itself.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.client import MileageClient
from api.main import create_app
from bridge.indexer import Indexer
from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.adapters.orm import Account, Award, Member
from ledger.service.apikeys import create_api_key
from ledger.service.witness import live_list_source
from ledger.settings import Settings
from tests.keyring import ACCOUNT_KEY, REF_KEY
from tests.oidc_helpers import rsa_key

#: The signing key of the test identity provider of the ``signed_in_env`` fixture (conftest).
OIDC_KEY = rsa_key("k1")


@dataclass
class ApiEnv:
    """One test's ledger: contract on anvil, database, bridge workers and the API app."""

    deployed: Any
    factory: sessionmaker[Session]
    db_url: str
    settings: Settings
    app: FastAPI
    http: TestClient
    _awards: int = field(default=0)

    def key(self, *scopes: str, account: str | None = None) -> str:
        return create_api_key(self.factory, f"test-{'-'.join(scopes)}", list(scopes), account).key

    def client(self, key: str | None) -> MileageClient:
        return MileageClient("http://testserver", key, http=self.http)

    def get(self, path: str, key: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.http.get(path, headers=headers, **kw)

    def post(self, path: str, key: str | None, body: Any, idem: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return self.http.post(path, headers=headers, json=body)

    # --- bridge ----------------------------------------------------------------------------------
    def index(self) -> None:
        Indexer(self.factory, self.deployed.client, self.deployed.block_number).run_until_head()

    def submit(self, role: str, program: str | None = None) -> None:
        d = self.deployed
        if role == "issuer":
            assert program is not None
            signer = signer_from_key(d.issuer_keys[program], f"issuer-{program}")
        elif role == "converter":
            signer = signer_from_key(d.converter_key, "converter")
        else:
            signer = signer_from_key(d.spender_key, "spender")
        Submitter(
            self.factory,
            d.client,
            signer,
            Settings(batch_size=50, confirmations=0),
            live_lists=live_list_source(d.client, self.factory),
        ).run_until_idle(timeout=60)

    def grant(
        self, program: str, account: str, amounts: list[int], period: str = "2026-01"
    ) -> None:
        """Award ``amounts`` of ``program`` to ``account`` on chain, then index."""
        with self.factory() as s, s.begin():
            if s.get(Account, account) is None:
                s.add(Account(account_id=account, citizen_id=f"citizen:{account[2:]}"))
            for amount in amounts:
                self._awards += 1
                n = self._awards
                s.execute(
                    sa.insert(Award).values(
                        award_id="0x" + f"{n:064x}",
                        program=program,
                        member_id=f"m{n}",
                        account_id=account,
                        period=period,
                        amount=amount,
                        status="pending",
                    )
                )
        self.submit("issuer", program)
        self.index()

    def member(self, program: str, member_id: str, account: str) -> None:
        with self.factory() as s, s.begin():
            if s.get(Account, account) is None:
                s.add(Account(account_id=account, citizen_id=f"citizen:{account[2:]}"))
            s.add(Member(program=program, member_id=member_id, account_id=account))

    def mine(self, seconds: int = 0) -> None:
        if seconds:
            self.deployed.w3.provider.make_request("evm_increaseTime", [seconds])
        self.deployed.w3.provider.make_request("evm_mine", [])

    def execute(self, stmt: Any) -> None:
        with self.factory() as s, s.begin():
            s.execute(stmt)

    def scalar(self, stmt: Any) -> Any:
        with self.factory() as s:
            return s.execute(stmt).scalar()


def make_env(deployed: Any, factory: sessionmaker[Session], db_url: str, **kw: Any) -> ApiEnv:
    deployed.record(factory)
    settings = Settings(
        database_url=db_url,
        rpc_url=deployed.url,
        contract_address=deployed.address,
        account_key=ACCOUNT_KEY,
        ref_key=REF_KEY,
    )
    app = create_app(settings, **kw)
    env = ApiEnv(deployed, factory, db_url, settings, app, TestClient(app))
    env.index()  # an anchor exists from the start
    return env


def acct(n: int) -> str:
    return "0x" + f"{n:064x}"


__all__ = ["ApiEnv", "acct", "make_env", "sa"]


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is the API's error body (``code``, ``message``, ``details``) with ``status``."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"code", "message", "details"}, body
    if code is not None:
        assert body["code"] == code, body
    return dict(body)
