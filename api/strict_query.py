"""Reject query parameters an operation does not declare (422 naming them).

FastAPI ignores unknown query parameters; for a ledger API a misspelt filter (``?progam=CAR``)
silently returning unfiltered data is worse than an error. A plain ASGI middleware, so requests
without a query string (the hot balance reads) pay nothing.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response


def _query_names(dependant: Dependant) -> set[str]:
    """Names of the query parameters of an operation, its dependencies included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class RejectUnknownQuery:
    """ASGI middleware: 422 ``validation_error`` for undeclared query parameters."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self._table: list[tuple[re.Pattern[str], set[str], frozenset[str]]] | None = None

    def _routes(self) -> list[tuple[re.Pattern[str], set[str], frozenset[str]]]:
        if self._table is None:
            self._table = [
                (
                    r.path_regex,
                    set(r.methods or ()),
                    frozenset(_query_names(r.dependant)),
                )
                for r in self.api.routes
                if isinstance(r, APIRoute)
            ]
        return self._table

    def _unknown(self, scope: Scope) -> list[str]:
        path, method = scope["path"], scope["method"]
        for regex, methods, allowed in self._routes():
            if method in methods and regex.match(path):
                query = scope["query_string"].decode("latin-1")
                names = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
                return sorted(names - allowed)
        return []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            unknown = self._unknown(scope)
            if unknown:
                errors: list[dict[str, Any]] = [
                    {
                        "field": n,
                        "location": "query",
                        "message": "unknown query parameter",
                        "type": "extra_forbidden",
                    }
                    for n in unknown
                ]
                response = error_response(
                    422,
                    "validation_error",
                    f"invalid request: unknown query parameter(s) {', '.join(unknown)}",
                    {"errors": errors},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
