"""The outbox's states and operation kinds (ledger.domain.outbox) are what the database enforces:
a migrated database (SQLite and PostgreSQL) holds CHECK constraints that list exactly the enums'
values and refuses anything else; the migration that added the operations' checks goes down and
up again."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from ledger.adapters.db import alembic_config, make_engine, make_sessionmaker
from ledger.adapters.orm import Award, Operation
from ledger.domain.outbox import AwardState, OperationKind, OperationState, TxState

CHECKS = [
    ("awards", "ck_awards_status", AwardState),
    ("chain_txs", "ck_chain_txs_status", TxState),
    ("operations", "ck_operations_status", OperationState),
    ("operations", "ck_operations_kind", OperationKind),
]


def _checks(url: str) -> dict[str, set[str]]:
    """Every CHECK constraint of the outbox tables: name -> the quoted values it lists."""
    engine = make_engine(url)
    try:
        insp = sa.inspect(engine)
        return {
            str(ck["name"]): set(re.findall(r"'([a-z_]+)'", str(ck["sqltext"])))
            for table in ("awards", "chain_txs", "operations")
            for ck in insp.get_check_constraints(table)
        }
    finally:
        engine.dispose()


@pytest.mark.parametrize(("table", "name", "enum"), CHECKS, ids=[c[1] for c in CHECKS])
def test_database_checks_list_exactly_the_enum_values(
    db_url: str, table: str, name: str, enum: type[StrEnum]
) -> None:
    checks = _checks(db_url)
    assert name in checks, f"{table} has no {name}: a migration is missing"
    assert checks[name] == {v.value for v in enum}, "the enum changed without a migration"


def _operation(n: int, **kw: Any) -> Operation:
    values: dict[str, Any] = {
        "op_id": "0x" + f"{n:064x}",
        "kind": "conversion",
        "idempotency_key": f"k{n}",
        "request_hash": "0" * 64,
        "account_id": "0x" + "11" * 32,
        "program": "ECO_HOUSEHOLD",
        "to_program": "SEOUL",
        "amount": 10,
        "reason": "CONVERSION",
        "status": "pending",
        **kw,
    }
    return Operation(**values)


@pytest.mark.parametrize(
    "bad",
    [{"status": "conflict"}, {"status": "done"}, {"kind": "transfer"}, {"kind": "Conversion"}],
    ids=["status-conflict", "status-done", "kind-transfer", "kind-capitalised"],
)
def test_the_database_refuses_an_operation_outside_the_enums(
    db_url: str, bad: dict[str, str]
) -> None:
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    try:
        with pytest.raises(IntegrityError), factory() as s, s.begin():
            s.add(_operation(1, **bad))
        with factory() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(Operation)) == 0
    finally:
        engine.dispose()


def test_every_kind_and_state_is_accepted(db_url: str) -> None:
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    try:
        with factory() as s, s.begin():
            n = 0
            for kind in OperationKind:
                for state in OperationState:
                    n += 1
                    s.add(_operation(n, kind=kind.value, status=state.value))
        with factory() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(Operation)) == n
    finally:
        engine.dispose()


def test_the_database_refuses_an_award_state_outside_the_enum(db_url: str) -> None:
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    try:
        with pytest.raises(IntegrityError), factory() as s, s.begin():
            s.add(
                Award(
                    award_id="0x" + "22" * 32,
                    program="CAR",
                    member_id="m1",
                    account_id="0x" + "11" * 32,
                    period="2025-01",
                    amount=10,
                    status="replaced",  # a transaction's state, never an award's
                )
            )
    finally:
        engine.dispose()


def test_the_operations_checks_migrate_down_and_up(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0017-1")
    down = _checks(db_url)
    assert "ck_operations_status" not in down and "ck_operations_kind" not in down
    assert "ck_awards_status" in down  # only the operations' checks belong to 0017
    command.upgrade(cfg, "head")
    up = _checks(db_url)
    assert up["ck_operations_status"] == {v.value for v in OperationState}
    assert up["ck_operations_kind"] == {v.value for v in OperationKind}
