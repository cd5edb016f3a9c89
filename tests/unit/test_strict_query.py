"""Undeclared query parameters are refused with the API's 422 body, naming them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.testclient import TestClient

from api.errors import install_error_handlers
from api.strict_query import StrictQueryRoute


def _limit(limit: Annotated[int, Query()] = 10) -> int:
    return limit


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter(prefix="/v1", route_class=StrictQueryRoute)

    @router.get("/items/{item}")
    def item(
        item: str, program: str | None = None, limit: Annotated[int, Depends(_limit)] = 10
    ) -> dict[str, object]:
        return {"item": item, "program": program, "limit": limit}

    app.include_router(router)
    return app


def test_declared_parameters_pass_and_unknown_ones_are_named() -> None:
    client = TestClient(make_app())
    assert client.get("/v1/items/a").json() == {"item": "a", "program": None, "limit": 10}
    ok = client.get("/v1/items/a?program=CAR&limit=3")
    assert ok.status_code == 200 and ok.json()["limit"] == 3
    bad = client.get("/v1/items/a?progam=CAR&limit=3&x=")
    assert bad.status_code == 422
    body = bad.json()
    assert body["code"] == "validation_error"
    assert "progam" in body["message"] and "x" in body["message"]
    assert [e["field"] for e in body["details"]["errors"]] == ["progam", "x"]
    assert client.get("/nowhere?x=1").status_code == 404
