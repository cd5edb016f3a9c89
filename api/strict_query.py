"""Reject query parameters an operation does not declare (422 naming them).

FastAPI ignores unknown query parameters; for a ledger API a misspelt filter (``?progam=CAR``)
silently returning unfiltered data is worse than an error. Every router uses
:class:`StrictQueryRoute`; requests without a query string (the hot balance reads) pay nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


def _query_names(dependant: Dependant) -> set[str]:
    """Names of the query parameters of an operation, its dependencies included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class StrictQueryRoute(APIRoute):
    """An APIRoute that answers 422 (the API's validation body) to undeclared query parameters."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        allowed = frozenset(_query_names(self.dependant))

        async def strict(request: Request) -> Response:
            raw = request.scope.get("query_string")
            if raw:
                names = {k for k, _ in parse_qsl(raw.decode("latin-1"), keep_blank_values=True)}
                unknown = sorted(names - allowed)
                if unknown:
                    raise RequestValidationError(
                        [
                            {
                                "loc": ("query", n),
                                "msg": "unknown query parameter",
                                "type": "extra_forbidden",
                            }
                            for n in unknown
                        ]
                    )
            return await handler(request)

        return strict
