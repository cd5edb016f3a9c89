"""Who may call what through the HTTP API, how bad input is answered, and the API keys' CLI
(against a real anvil chain, the real bridge and both databases)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, acct, assert_error

from ledger.adapters.orm import ApiKey
from tests.keyring import set_key_env

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)
BOB = acct(0xB0B)


def test_auth_scopes_and_accounts(env: ApiEnv) -> None:
    path = f"/v1/accounts/{ALICE}/balances"
    assert_error(env.get(path), 401, "unauthorized")
    assert_error(env.get(path, "mlk_not-a-key"), 401, "unauthorized")
    wallet = env.key("wallet", account=ALICE)
    assert env.get(path, wallet).status_code == 200
    body = assert_error(env.get(f"/v1/accounts/{BOB}/balances", wallet), 403, "forbidden")
    assert "own account" in body["message"]
    integrator = env.key("integrator")
    assert_error(env.get(path, integrator), 403, "forbidden")
    auditor = env.key("auditor")
    assert env.get(f"/v1/accounts/{BOB}/balances", auditor).status_code == 200
    assert_error(env.get(f"/v1/audit/accounts/{ALICE}/trail", wallet), 403)
    assert_error(env.post("/v1/conversions", wallet, {}, "k1"), 403)
    # keys are stored hashed, never in clear
    with env.factory() as s:
        rows = s.scalars(sa.select(ApiKey)).all()
    assert all(wallet not in (r.key_hash, r.prefix) and len(r.key_hash) == 64 for r in rows)
    # revocation
    key_id = max(r.id for r in rows if r.scopes == "auditor")
    from ledger.service.apikeys import revoke_api_key

    assert revoke_api_key(env.factory, key_id)
    env.app.state.ctx.keys.invalidate()
    assert_error(env.get(path, auditor), 401)


def test_validation_errors_name_fields(env: ApiEnv) -> None:
    k = env.key("admin")
    body = assert_error(env.get("/v1/accounts/0x1234/balances", k), 422, "validation_error")
    assert body["details"]["errors"][0]["field"] == "account"
    body = assert_error(
        env.post("/v1/conversions", k, {"account": ALICE, "amount": -5}, "v1"),
        422,
        "validation_error",
    )
    fields = {e["field"] for e in body["details"]["errors"]}
    assert {"from_program", "amount"} <= fields
    body = assert_error(env.post("/v1/conversions", k, {"account": ALICE}), 422)
    assert "Idempotency-Key" in {e["field"] for e in body["details"]["errors"]}
    assert_error(env.get(f"/v1/accounts/{ALICE}/history?cursor=zzz", k), 422, "validation_error")


def test_apikeys_cli(env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mileage apikeys create|list|revoke`: the key is printed once, stored hashed, and works."""
    from typer.testing import CliRunner

    from ledger.cli.apikeys import app as apikeys_app
    from ledger.settings import get_settings

    monkeypatch.setenv("MILEAGE_DATABASE_URL", env.db_url)
    set_key_env(monkeypatch)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        res = runner.invoke(
            apikeys_app, ["create", "wallet-app", "-s", "wallet", "--account", ALICE]
        )
        assert res.exit_code == 0, res.output
        key = res.stdout.strip().splitlines()[0]
        assert key.startswith("mlk_") and len(key) > 40
        assert env.get(f"/v1/accounts/{ALICE}/balances", key).status_code == 200
        bad = runner.invoke(apikeys_app, ["create", "x", "-s", "wallet"])
        assert bad.exit_code == 2 and "--account" in bad.output
        bad = runner.invoke(apikeys_app, ["create", "x", "-s", "superuser"])
        assert bad.exit_code == 2 and "unknown scopes" in bad.output
        listing = runner.invoke(apikeys_app, ["list"])
        assert listing.exit_code == 0 and "wallet-app" in listing.output
        assert key not in listing.output and key[4:12] in listing.output
        key_id = next(
            line.split()[0] for line in listing.output.splitlines() if "wallet-app" in line
        )
        assert runner.invoke(apikeys_app, ["revoke", key_id]).exit_code == 0
        assert runner.invoke(apikeys_app, ["revoke", key_id]).exit_code == 1
        env.app.state.ctx.keys.invalidate()
        assert_error(env.get(f"/v1/accounts/{ALICE}/balances", key), 401)
    finally:
        get_settings.cache_clear()
