"""GET /v1/operations: an integrator's own conversions and deductions, filtered, paged with an
opaque cursor in a stable order, and as CSV (formula cells neutralised)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from ledger.adapters.orm import Operation
from ledger.service.apikeys import create_api_key
from ledger.settings import Settings
from tests.keyring import ACCOUNT_KEY, REF_KEY

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def acct(n: int) -> str:
    return "0x" + f"{n:064x}"


class Env:
    def __init__(self, factory: sessionmaker[Session], http: TestClient) -> None:
        self.factory, self.http = factory, http
        self.n = 0

    def key(self, *scopes: str, account: str | None = None) -> tuple[int, str]:
        created = create_api_key(self.factory, "t", list(scopes), account)
        return created.id, created.key

    def op(self, key_id: int, kind: str, at: datetime, **kw: Any) -> str:
        self.n += 1
        op_id = "0x" + f"{self.n:064x}"
        values: dict[str, Any] = {
            "op_id": op_id,
            "kind": kind,
            "idempotency_key": f"{key_id}:k{self.n}",
            "request_hash": "0" * 64,
            "account_id": acct(1),
            "program": "ECO_HOUSEHOLD" if kind == "conversion" else "SEOUL",
            "to_program": "SEOUL" if kind == "conversion" else None,
            "amount": 10_000,
            "reason": "CONVERSION" if kind == "conversion" else "GIFT_CERTIFICATE",
            "reference": None if kind == "conversion" else acct(100 + self.n),
            "status": "final",
            "created_at": at,
            "updated_at": at,
            **kw,
        }
        with self.factory() as s, s.begin():
            s.add(Operation(**values))
        return op_id

    def get(self, key: str, **params: Any) -> Any:
        accept = params.pop("accept", None)
        headers = {"Authorization": f"Bearer {key}"}
        if accept:
            headers["Accept"] = accept
        return self.http.get("/v1/operations", params=params, headers=headers)

    def all_ids(self, key: str, **params: Any) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            extra = {"cursor": cursor} if cursor else {}
            resp = self.get(key, **params, **extra)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            ids += [o["id"] for o in body["operations"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return ids


@pytest.fixture
def env(db_url: str, session_factory: sessionmaker[Session]) -> Iterator[Env]:
    app = create_app(Settings(database_url=db_url, account_key=ACCOUNT_KEY, ref_key=REF_KEY))  # type: ignore[arg-type]
    with TestClient(app) as http:
        yield Env(session_factory, http)


def test_only_the_callers_own_operations(env: Env) -> None:
    a_id, a = env.key("integrator")
    b_id, b = env.key("integrator")
    mine = [env.op(a_id, "conversion", T0), env.op(a_id, "deduction", T0 + timedelta(1))]
    theirs = env.op(b_id, "deduction", T0 + timedelta(2))
    assert sorted(env.all_ids(a)) == sorted(mine)
    assert env.all_ids(b) == [theirs]
    _, auditor = env.key("auditor")
    assert sorted(env.all_ids(auditor)) == sorted([*mine, theirs])
    _, wallet = env.key("wallet", account=acct(1))
    assert env.get(wallet).status_code == 403
    assert env.get("mlk_unknown").status_code == 401


def test_filters(env: Env) -> None:
    k_id, k = env.key("integrator")
    conv = env.op(k_id, "conversion", T0)
    ded = env.op(k_id, "deduction", T0 + timedelta(days=1), reference=acct(77))
    failed = env.op(k_id, "deduction", T0 + timedelta(days=2), status="failed")
    assert env.all_ids(k, kind="conversion") == [conv]
    assert env.all_ids(k, kind="deduction") == [failed, ded]
    assert env.all_ids(k, status="failed") == [failed]
    assert env.all_ids(k, reference=acct(77).upper().replace("0X", "0x")) == [ded]
    day1 = (T0 + timedelta(days=1)).isoformat()
    assert env.all_ids(k, since=day1) == [failed, ded]
    assert env.all_ids(k, until=day1) == [conv]
    assert env.all_ids(k, since=T0.isoformat(), until=day1, kind="deduction") == []
    for not_iso in ("6", "2026-03-01"):  # unix seconds, a date without time: not date-time
        r = env.get(k, until=not_iso)
        assert r.status_code == 422 and "until" in r.json()["message"], not_iso
    refund = env.op(k_id, "refund", T0 + timedelta(days=3), deduction_id=ded)
    assert env.all_ids(k, kind="refund") == [refund]
    assert env.all_ids(k, deduction=ded) == [refund]
    bad = env.get(k, kind="consent")  # the registrar's operations are not listed
    assert bad.status_code == 422 and "kind" in bad.json()["message"]
    assert env.get(k, stauts="final").status_code == 422  # a misspelt filter is an error


def test_cursor_pages_are_stable_and_complete(env: Env) -> None:
    k_id, k = env.key("integrator")
    same = T0 + timedelta(hours=1)  # ties on created_at: the id breaks them
    ids = [env.op(k_id, "conversion", same) for _ in range(4)]
    ids += [env.op(k_id, "deduction", T0 + timedelta(hours=h)) for h in (0, 2, 3)]
    expected = [ids[6], ids[5], ids[3], ids[2], ids[1], ids[0], ids[4]]
    first = env.get(k, limit=3).json()
    assert [o["id"] for o in first["operations"]] == expected[:3]
    # a newer operation arriving between pages neither repeats nor hides older rows
    env.op(k_id, "deduction", T0 + timedelta(days=9))
    rest: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        page = env.get(k, limit=3, cursor=cursor).json()
        rest += [o["id"] for o in page["operations"]]
        cursor = page["next_cursor"]
    assert rest == expected[3:]
    for bad in ("nonsense", "c2VxOjU", "b3BzfHh8eQ"):
        r = env.get(k, cursor=bad)
        assert r.status_code == 422 and "cursor" in r.json()["message"], bad


def test_csv_is_the_same_rows_with_formulas_neutralised(env: Env) -> None:
    k_id, k = env.key("integrator")
    ok = env.op(k_id, "conversion", T0)
    bad = env.op(k_id, "deduction", T0 + timedelta(1), status="failed", error="=HYPERLINK(1)")
    as_json = env.get(k).json()["operations"]
    r = env.get(k, accept="text/csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["id"] for row in rows] == [o["id"] for o in as_json] == [bad, ok]
    assert rows[0]["error"] == "'=HYPERLINK(1)"
    assert rows[1]["amount"] == "10000" and rows[1]["to_program"] == "SEOUL"
    paged = env.get(k, accept="text/csv", limit=1)
    assert "Next-Cursor" in paged.headers
    follow = env.get(k, accept="text/csv", limit=1, cursor=paged.headers["Next-Cursor"])
    assert ok in follow.text and "Next-Cursor" not in follow.headers


def test_consent_operations_are_not_listed(env: Env) -> None:
    """The registrar's consent operations (ledger/service/consent.py) are not integrators'
    conversions or deductions: an auditor's list leaves them out instead of failing."""
    _, auditor = env.key("auditor")
    conv = env.op(0, "conversion", T0)
    key = "consent:" + acct(1) + ":0"
    env.op(
        0, "consent", T0 + timedelta(1), idempotency_key=key, program="CONSENT", reason="consent"
    )
    assert env.all_ids(auditor) == [conv]
