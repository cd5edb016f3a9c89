"""``GET``/``PUT /v1/me/consent``: the citizen reads and changes their donation consent with a
real OIDC token; a change is a ``wallet`` history row and a queued ``consent`` operation (one
transaction) that the bridge's registrar lane brings to a real anvil chain."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import OIDC_KEY, ApiEnv

from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.adapters.orm import Account, ConsentChange, Operation
from ledger.domain.accounts import account_id
from ledger.settings import Settings
from tests.oidc_helpers import Provider

pytestmark = pytest.mark.chain
CITIZEN = "citizen-77"


def account_of(e: ApiEnv, citizen: str) -> str:
    return "0x" + account_id(citizen, e.app.state.ctx.id_keys.account).hex()


def call(e: ApiEnv, provider: Provider, method: str, body: Any = None, sub: str = CITIZEN) -> Any:
    headers = {"Authorization": f"Bearer {provider.token(OIDC_KEY, sub)}"}
    return e.http.request(method, "/v1/me/consent", headers=headers, json=body)


def join(e: ApiEnv, citizen: str) -> str:
    account = account_of(e, citizen)
    e.member("ECO_HOUSEHOLD", "H-77", account)
    return account


def send(e: ApiEnv) -> None:
    """The bridge's registrar lane (the deployment's admin key holds REGISTRAR) sends it."""
    d = e.deployed
    settings = Settings(batch_size=50, confirmations=0)
    Submitter(e.factory, d.client, signer_from_key(d.admin_key), settings).run_until_idle(
        timeout=60
    )


def ops(e: ApiEnv, account: str) -> list[tuple[str, str]]:
    with e.factory() as s:
        rows = s.execute(
            sa.select(Operation.reason, Operation.status)
            .where(Operation.kind == "consent", Operation.account_id == account)
            .order_by(Operation.created_at, Operation.op_id)
        )
        return [(r or "", st) for r, st in rows]


def rows(e: ApiEnv, account: str) -> list[tuple[bool, str, str]]:
    with e.factory() as s:
        found = s.scalars(
            sa.select(ConsentChange)
            .where(ConsentChange.account_id == account)
            .order_by(ConsentChange.id)
        )
        return [(c.consent, c.terms_version, c.channel) for c in found]


def test_consent_given_and_withdrawn_in_the_wallet_reaches_the_chain(
    signed_in_env: tuple[ApiEnv, Provider],
) -> None:
    e, provider = signed_in_env
    account = join(e, CITIZEN)
    before = call(e, provider, "GET")
    assert before.status_code == 200, before.text
    assert before.json() == {
        "account": account,
        "consent": False,
        "terms_version": None,
        "at": None,
        "channel": None,
        "pending": False,
        "on_chain": False,
    }

    given = call(e, provider, "PUT", {"consent": True, "terms_version": "v3"})
    assert given.status_code == 200, given.text
    body = given.json()
    assert body["consent"] is True and body["terms_version"] == "v3"
    assert body["channel"] == "wallet" and body["at"].endswith("Z")
    assert body["pending"] is True and body["on_chain"] is False
    assert rows(e, account) == [(True, "v3", "wallet")]
    assert ops(e, account) == [("consent", "pending")]
    with e.factory() as s:
        assert s.get(Account, account).donation_consent is True  # type: ignore[union-attr]

    # the same consent again: no history row, no operation
    again = call(e, provider, "PUT", {"consent": True, "terms_version": "v3"})
    assert again.status_code == 200 and again.json()["consent"] is True
    assert len(rows(e, account)) == 1 and len(ops(e, account)) == 1

    send(e)
    after = call(e, provider, "GET").json()
    assert after["on_chain"] is True and after["pending"] is False and after["consent"] is True
    assert e.deployed.client.account_state(bytes.fromhex(account[2:])).donation is True
    assert ops(e, account) == [("consent", "final")]

    # withdrawal (no terms needed) reaches the chain too
    withdrawn = call(e, provider, "PUT", {"consent": False})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["consent"] is False and withdrawn.json()["pending"] is True
    assert rows(e, account)[-1] == (False, "v3", "wallet")
    send(e)
    final = call(e, provider, "GET").json()
    assert final["on_chain"] is False and final["pending"] is False
    assert ops(e, account) == [("consent", "final"), ("withdrawal", "final")]
    # withdrawing again changes nothing
    assert call(e, provider, "PUT", {"consent": False}).status_code == 200
    assert len(rows(e, account)) == 2 and len(ops(e, account)) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"consent": "true", "terms_version": "v3"},
        {"consent": 1, "terms_version": "v3"},
        {"consent": True},
        {"consent": True, "terms_version": ""},
        {"consent": True, "terms_version": "x" * 33},
        {"consent": True, "terms_version": "v3\n"},
        {"terms_version": "v3"},
    ],
)
def test_bad_bodies_are_refused_and_change_nothing(
    signed_in_env: tuple[ApiEnv, Provider], body: dict[str, Any]
) -> None:
    e, provider = signed_in_env
    account = join(e, CITIZEN)
    r = call(e, provider, "PUT", body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    assert rows(e, account) == [] and ops(e, account) == []


def test_no_token_is_401_and_a_non_member_cannot_consent(
    signed_in_env: tuple[ApiEnv, Provider],
) -> None:
    e, provider = signed_in_env
    for method in ("GET", "PUT"):
        r = e.http.request(method, "/v1/me/consent", json={"consent": True, "terms_version": "v"})
        assert r.status_code == 401, (method, r.text)
    # not a member: the read is the empty answer, the change a clear 404
    stranger = account_of(e, "citizen-nobody")
    empty = call(e, provider, "GET", sub="citizen-nobody")
    assert empty.status_code == 200 and empty.json()["consent"] is False
    refused = call(
        e, provider, "PUT", {"consent": True, "terms_version": "v3"}, sub="citizen-nobody"
    )
    assert refused.status_code == 404, refused.text
    assert refused.json()["code"] == "not_a_member"
    assert "join" in refused.json()["message"]
    assert rows(e, stranger) == [] and ops(e, stranger) == []
