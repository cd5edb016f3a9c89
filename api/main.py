"""The HTTP API of the mileage ledger: ``create_app(settings)`` builds it.

Served by ``mileage run`` (uvicorn). Everything under ``/v1``; one error body
``{code, message, details}``; bearer API keys with scopes (see :mod:`api.auth`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from api import read_pool
from api.context import AppContext
from api.errors import install_error_handlers
from api.guard import RequestGuard
from api.metrics import MetricsMiddleware
from ledger.recursion import restore_recursion_limit
from ledger.settings import Settings, get_settings

restore_recursion_limit()  # py_ecc raised it to 100,000: deep input would crash the process

DESCRIPTION = """
Seoul environment mileage ledger: balances and history for the Seoul Wallet app, conversions
and deductions for integrators, award submission for program operators, and audit trails with
self-verifying proofs for auditors.

Every read carries its **anchor**: chain id, contract address, block number and block hash of
the indexer's cursor. `GET /v1/accounts/{account}/proof` and the audit bundle let a client
holding a trusted block header verify an answer without trusting this server.

Authenticate with `Authorization: Bearer <API key>` (keys: `mileage apikeys create`); the wallet
app's `/v1/me/...` reads take the citizen's OpenID Connect access token instead.
Errors always have the body `{"code", "message", "details"}`. The key is checked before the body
is read; bodies over `MILEAGE_API_MAX_BODY_BYTES` get 413, JSON nested deeper than
`MILEAGE_API_MAX_JSON_DEPTH` 400 (`json_too_deep`); amounts are JSON integers only. Debits are
checked against the **spendable** balance: mileage lapsed at the chain's time (latest block) gets
409 `mileage_lapsed`. Every timestamp is UTC with its zone.
"""


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    cursor_name: str | None = "entries",
    max_lag_blocks: int = 20,
) -> FastAPI:
    """Build the API for ``settings`` (default: the process settings)."""
    from api.oidc import install_oidc
    from api.routes import (
        audit,
        console,
        health,
        integrators,
        me,
        operations_list,
        operators,
        summary,
        wallet,
    )

    settings = settings or get_settings()
    ctx = AppContext.build(settings, engine)
    ctx.cursor_name = cursor_name
    ctx.max_lag_blocks = max_lag_blocks

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        read_pool.dispose(ctx)
        if engine is None:
            ctx.engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: api.routes.console, with assets served offline
        redoc_url=None,
        title="Seoul environment mileage ledger API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "wallet", "description": "reads of one account (wallet, auditor keys)"},
            {"name": "me", "description": "the signed-in citizen's wallet (OIDC access token)"},
            {"name": "integrators", "description": "conversions and deductions (integrator)"},
            {"name": "operators", "description": "award batches (operator:<PROGRAM>)"},
            {"name": "audit", "description": "trails, totals and proof bundles (auditor)"},
            {"name": "health", "description": "liveness, readiness, metrics"},
        ],
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    install_oidc(app)
    modules = (wallet, me, integrators, operations_list, operators, summary, audit, health, console)
    for module in modules:
        app.include_router(module.router)
    app.add_middleware(RequestGuard, ctx=ctx)  # the key, then a bounded body, before routing
    app.add_middleware(MetricsMiddleware, metrics=ctx.metrics)

    return app


def app_factory() -> Any:
    """``uvicorn --factory api.main:app_factory``."""
    return create_app()
