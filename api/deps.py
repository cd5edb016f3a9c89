"""FastAPI dependencies as ``Annotated`` aliases: the context, a DB session, the caller.

The dependencies that do no blocking I/O (or only a cached key lookup) are ``async`` so FastAPI
runs them inline instead of hopping to the thread pool for each (the balance read is hot)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.auth import Principal
from api.context import AppContext


async def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


def get_session(ctx: Ctx) -> Iterator[Session]:
    with ctx.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="API key created with `mileage apikeys create` (shown once)",
)


async def get_principal(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller: resolved by :class:`api.guard.RequestGuard` before the body was read."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        return principal
    token = f"Bearer {credentials.credentials}" if credentials is not None else None
    return ctx.keys.resolve(token)


Caller = Annotated[Principal, Depends(get_principal)]


def require(*scopes: str) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency that lets through only keys holding one of ``scopes`` (admin: all)."""

    async def _check(caller: Caller) -> Principal:
        caller.require(*scopes)
        return caller

    return _check


AccountPath = Annotated[
    str,
    Path(
        pattern=r"^0x[0-9a-fA-F]{64}$",
        description="the on-chain account id (0x + 64 hex)",
        examples=["0x" + "3f" * 32],
    ),
]


async def get_account_reader(account: AccountPath, caller: Caller) -> str:
    """The path's account, lowercased, if the caller may read it (wallet: own; auditor: all)."""
    acct = account.lower()
    caller.require_account(acct)
    return acct


ReadableAccount = Annotated[str, Depends(get_account_reader)]
Integrator = Annotated[Principal, Depends(require("integrator"))]
#: follows operations: the integrator that asked, or an auditor (the service checks which)
OperationReader = Annotated[Principal, Depends(require("integrator", "auditor"))]
Auditor = Annotated[Principal, Depends(require("auditor"))]
