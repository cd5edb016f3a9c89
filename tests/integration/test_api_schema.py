"""Schemathesis against the OpenAPI spec: no 5xx, every answer matches its documented schema.

Runs every operation with a few generated requests (positive and negative) under an admin key on
a ledger that holds data (grants, a conversion), so the reads return real bodies.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_harness import ApiEnv, acct, make_env
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session, sessionmaker

from api.oidc import OidcConfig, OidcVerifier
from ledger.adapters.db import make_engine, make_sessionmaker
from ledger.domain.accounts import account_id
from tests.oidc_helpers import AUDIENCE, ISSUER, rsa_key, serve_jwks

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)
_STATE: dict[str, str] = {}


@pytest.fixture
def api_env(deployed: Any, _sqlite_template: Path, tmp_path: Path) -> Iterator[ApiEnv]:
    path = tmp_path / "ledger.db"
    shutil.copyfile(_sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    factory: sessionmaker[Session] = make_sessionmaker(engine)
    env = make_env(deployed, factory, url)
    env.grant("ECO_HOUSEHOLD", ALICE, [30_000])
    env.member("BIKE", "B-1", ALICE)
    _STATE["admin"] = env.key("admin")
    # the wallet's sign-in (/v1/me/...): a citizen with mileage, a token from a served JWKS
    secret = env.app.state.ctx.id_keys.account
    env.grant("CAR", "0x" + account_id("citizen-7", secret).hex(), [20_000])
    key = rsa_key("schema-1")
    with serve_jwks(key) as provider:
        env.app.state.oidc = OidcVerifier(OidcConfig(provider.url, ISSUER, AUDIENCE), secret)
        _STATE["citizen"] = provider.token(key, "citizen-7", exp_in=3600)
        yield env
    env.http.close()
    engine.dispose()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _schema(env: ApiEnv) -> Any:
    """The app's schema; a negative body over MILEAGE_API_MAX_BODY_BYTES is rightly refused
    with 413 (documented on the write routes), so 413 counts as a rejection too."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", env.app)
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


def _auth_for(path: str, auth: dict[str, str] | None) -> dict[str, str] | None:
    if path == "/metrics":
        return None
    if path.startswith("/v1/me/"):
        return {"Authorization": f"Bearer {_STATE['citizen']}"}
    return auth


def _runner(
    op: Any,
    mode: GenerationMode,
    checks: list[Any],
    auth: dict[str, str] | None,
    examples: int = 6,
) -> Any:
    @given(case=op.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        headers = _auth_for(case.path, auth)
        case.call_and_validate(headers=headers, checks=checks)

    return run


def test_openapi_conformance(api_env: ApiEnv) -> None:
    """Every operation, positive and negative data: no 5xx, documented statuses, bodies that
    match their schemas, invalid requests rejected. (Driven through the schema object rather
    than ``schemathesis.pytest.from_fixture``, which does not run under pytest 9.)"""
    schema = _schema(api_env)
    auth = {"Authorization": f"Bearer {_STATE['admin']}"}
    signed_in = api_env.http.get("/v1/me/balances", headers=_auth_for("/v1/me/x", auth))
    assert signed_in.status_code == 200 and signed_in.json()["total"] == 20_000  # the token works
    failures: list[str] = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 15
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            checks = (
                [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS
            )

            run = _runner(op, mode, checks, auth)
            try:
                run()
            except Unsatisfiable:  # no parameters to make invalid (e.g. GET /healthz)
                continue
            except Exception as exc:  # collect, so one run reports every failing operation
                failures.append(f"{op.method.upper()} {op.path} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)


WRITES = {
    ("POST", "/v1/conversions"),
    ("POST", "/v1/deductions"),
    ("POST", "/v1/deductions/{op_id}/refunds"),
    ("POST", "/v1/awards"),
}


def test_write_endpoints_fuzzed(api_env: ApiEnv) -> None:
    """Every write endpoint, many generated bodies (valid and invalid), with an admin key, an
    integrator key and none: never a 5xx, only documented statuses, and the app still answers."""
    schema = _schema(api_env)
    keys = {
        "admin": {"Authorization": f"Bearer {_STATE['admin']}"},
        "integrator": {"Authorization": f"Bearer {api_env.key('integrator')}"},
        "none": None,
    }
    writes = [
        op
        for op in (r.ok() for r in schema.get_all_operations())
        if (op.method.upper(), op.path) in WRITES
    ]
    assert {(op.method.upper(), op.path) for op in writes} == WRITES
    failures: list[str] = []
    for op in writes:
        for who, auth in keys.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                checks = [not_a_server_error, status_code_conformance]
                if mode is GenerationMode.NEGATIVE and who != "none":
                    checks.append(negative_data_rejection)  # e.g. "100" or true as an amount
                run = _runner(op, mode, checks, auth, examples=25)
                try:
                    run()
                except Exception as exc:
                    failures.append(f"{op.method.upper()} {op.path} [{who}, {mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)
    assert api_env.http.get("/healthz").status_code == 200
