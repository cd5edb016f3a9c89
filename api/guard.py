"""What stands between the network and the JSON parser: the key first, then a bounded body.

:class:`RequestGuard` (plain ASGI middleware) handles every ``/v1`` request before routing:

1. the API key is resolved from the headers; without a valid one the answer is 401 and not one
   byte of the body is read;
2. the body is read up to ``MILEAGE_API_MAX_BODY_BYTES`` (a larger ``Content-Length`` is refused
   at once; a body streamed without one is counted as it arrives): beyond, 413;
3. its nesting depth is measured without recursion (:func:`json_depth`): deeper than
   ``MILEAGE_API_MAX_JSON_DEPTH``, 400 ``json_too_deep``;
   (a ``/v1/me/...`` write carries the citizen's OIDC token instead of a key: no key is
   resolved, the route's :func:`api.routes.me.signed_in` checks the token; the body is bounded
   all the same);
4. the buffered body is handed to the app, with the caller in ``request.state.principal`` (the
   dependencies of :mod:`api.deps` take it from there instead of resolving the key again).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import (
    ApiError,
    JsonTooDeep,
    PayloadTooLarge,
    ServiceUnavailable,
    error_response,
)

if TYPE_CHECKING:
    from api.auth import Principal
    from api.context import AppContext

PROTECTED_PREFIX = "/v1/"
CITIZEN_PREFIX = "/v1/me/"  # signed in with the city's OIDC token (api/oidc.py), no API key
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})

# a JSON string (escapes included), as one regex without nested repetition (no backtracking blowup)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")


def json_depth(body: bytes, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays/objects in ``body`` (brackets inside strings ignored), by
    a flat scan: no recursion, linear time. Stops counting once past ``stop_above``."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = peak = 0
    for ch in brackets:
        if ch in _OPEN:
            depth += 1
            if depth > peak:
                peak = depth
                if stop_above is not None and peak > stop_above:
                    break
        else:
            depth -= 1
    return peak


class RequestGuard:
    """ASGI middleware: key, then size and depth, for every ``/v1`` request (see the module)."""

    def __init__(self, app: ASGIApp, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if _signed_in_read(scope, headers):  # an OIDC access token, checked by api.oidc
            await self.app(scope, receive, send)
            return
        try:
            if not str(scope["path"]).startswith(CITIZEN_PREFIX):  # /v1/me: the OIDC token
                principal = self._resolve(headers)
                scope.setdefault("state", {})["principal"] = principal
            if scope["method"] in _NO_BODY and not _announces_body(headers):
                await self.app(scope, receive, send)
                return
            body = await self._read_body(headers, receive)
        except ApiError as exc:
            reply = error_response(exc.status, exc.code, exc.message, exc.details)
            await reply(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _resolve(self, headers: Headers) -> Principal:
        try:
            return self.ctx.keys.resolve(headers.get("authorization"))
        except SQLAlchemyError as exc:
            raise ServiceUnavailable(
                f"the database does not answer ({type(exc).__name__}); retry shortly"
            ) from exc

    async def _read_body(self, headers: Headers, receive: Receive) -> bytes:
        settings = self.ctx.settings
        limit = settings.api_max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        max_depth = settings.api_max_json_depth
        if json_depth(body, stop_above=max_depth) > max_depth:
            raise JsonTooDeep(
                f"the JSON body nests deeper than {max_depth} levels; send a flatter body "
                "(limit: MILEAGE_API_MAX_JSON_DEPTH)",
                {"max_depth": max_depth},
            )
        return body


def _signed_in_read(scope: Scope, headers: Headers) -> bool:
    """A bodiless read of the wallet's sign-in (``/v1/me/...``): no API key to resolve."""
    path = str(scope["path"])
    no_body = scope["method"] in _NO_BODY and not _announces_body(headers)
    return path.startswith(CITIZEN_PREFIX) and no_body


def _announces_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {limit} bytes; send a smaller body or split the "
        "batch (limit: MILEAGE_API_MAX_BODY_BYTES)",
        {"limit": limit},
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered body once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
