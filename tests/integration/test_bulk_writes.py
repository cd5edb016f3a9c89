"""`ledger.adapters.bulk.BulkWriter` (SQLite and PostgreSQL): rows inserted on the session's raw
connection read back as the same rows Core's ``insert`` writes (model defaults included), in the
session's transaction, and a driver error is SQLAlchemy's, so callers catch what they caught."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ledger.adapters.bulk import IN_CHUNK, LARGE_CACHE_KIB, BulkWriter, large_page_cache
from ledger.adapters.orm import AccountHead, Award, AwardWindow, Balance, BikeAccrual

COLUMNS = ("member_id", "month", "account_id", "amount", "tier", "source", "savings")
ACCRUALS = BikeAccrual.__table__


def accrual(member: str, savings: str | None = '{"ride_minutes": "10"}') -> tuple[object, ...]:
    return (member, "2025-01", "0x" + "ab" * 32, 1_500, "t", f"f.csv:{member}", savings)


def stored(factory: sessionmaker[Session]) -> dict[str, tuple[object, ...]]:
    with factory() as s:
        return {
            a.member_id: (a.month, a.account_id, a.amount, a.tier, a.source, a.savings, a.award_id)
            for a in s.scalars(sa.select(BikeAccrual))
        }


def test_bulk_rows_read_back_as_core_rows(session_factory: sessionmaker[Session]) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    with session_factory() as s, s.begin():
        BulkWriter(s).insert(ACCRUALS, COLUMNS, [accrual("B1"), accrual("B2", None)])
        s.execute(sa.insert(ACCRUALS), [dict(zip(COLUMNS, accrual("B3"), strict=True))])
    rows = stored(session_factory)
    for member in ("B1", "B3"):
        assert rows[member] == (*accrual(member)[1:], None)
    assert rows["B2"] == (*accrual("B2", None)[1:], None)
    with session_factory() as s:
        made = {a.member_id: a.created_at for a in s.scalars(sa.select(BikeAccrual))}
    for member in ("B1", "B2", "B3"):  # the model default, stored as Core stores it
        when = made[member]
        assert when.tzinfo is None or when.utcoffset() == UTC.utcoffset(None)
        assert abs(when.replace(tzinfo=UTC) - start).total_seconds() < 120


def test_a_duplicate_is_an_integrity_error_and_the_savepoint_recovers(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as s, s.begin():
        bulk = BulkWriter(s)
        bulk.insert(ACCRUALS, COLUMNS, [accrual("B1")])
        with pytest.raises(IntegrityError), s.begin_nested():
            BulkWriter(s).insert(ACCRUALS, COLUMNS, [accrual("B2"), accrual("B1")])
        bulk.insert(ACCRUALS, COLUMNS, [accrual("B3")])  # the transaction goes on
    assert sorted(stored(session_factory)) == ["B1", "B3"]


def test_a_rollback_takes_the_bulk_rows_with_it(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(ZeroDivisionError), session_factory() as s, s.begin():
        BulkWriter(s).insert(ACCRUALS, COLUMNS, [accrual("B1")])
        _ = 1 / 0
    assert stored(session_factory) == {}


def test_a_check_constraint_still_refuses(session_factory: sessionmaker[Session]) -> None:
    row = ("B1", "2025-01", "0x" + "ab" * 32, -1, "t", "s", None)
    with pytest.raises(IntegrityError), session_factory() as s, s.begin():
        BulkWriter(s).insert(ACCRUALS, COLUMNS, [row])


def test_columns_the_driver_cannot_take_as_they_are_are_refused(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as s, s.begin():
        bulk = BulkWriter(s)
        if bulk.postgres:
            pytest.skip("psycopg takes datetimes as they are")
        with pytest.raises(TypeError, match="created_at needs conversion"):
            bulk.insert(ACCRUALS, (*COLUMNS, "created_at"), [(*accrual("B1"), datetime.now(UTC))])


def test_award_defaults_match_the_model(session_factory: sessionmaker[Session]) -> None:
    cols = ("award_id", "program", "member_id", "account_id", "period", "amount")
    with session_factory() as s, s.begin():
        bulk = BulkWriter(s)
        bulk.insert(Award.__table__, cols, [("0x01", "BIKE", "B1", "0xaa", "2025", 5)])
        bulk.insert(AwardWindow.__table__, ("program", "holder", "month", "award_id"), [])
    with session_factory() as s:
        a = s.scalars(sa.select(Award)).one()
    assert (a.award_no, a.tier, a.source, a.status, a.savings, a.error) == (
        1,
        "",
        "",
        "pending",
        None,
        None,
    )
    assert a.created_at is not None and a.updated_at is not None


BALANCES = Balance.__table__
HEADS = AccountHead.__table__


def balances(factory: sessionmaker[Session]) -> dict[tuple[str, int], int]:
    with factory() as s:
        return {(b.account_id, b.program): b.balance for b in s.scalars(sa.select(Balance))}


def test_upsert_inserts_new_keys_and_updates_stored_ones(
    session_factory: sessionmaker[Session],
) -> None:
    cols = ("account_id", "program", "balance")
    with session_factory() as s, s.begin():
        s.add_all(
            [
                Balance(account_id="a", program=1, balance=5),
                Balance(account_id="b", program=1, balance=7),
            ]
        )
    with session_factory() as s, s.begin():
        BulkWriter(s).upsert(BALANCES, cols, 2, [("a", 1, 50), ("a", 2, 3), ("c", 1, 0)])
        BulkWriter(s).upsert(BALANCES, cols, 2, [])
    assert balances(session_factory) == {("a", 1): 50, ("a", 2): 3, ("b", 1): 7, ("c", 1): 0}


def test_an_upsert_that_breaks_a_check_is_refused_whole(
    session_factory: sessionmaker[Session],
) -> None:
    with pytest.raises(IntegrityError), session_factory() as s, s.begin():
        BulkWriter(s).upsert(
            BALANCES, ("account_id", "program", "balance"), 2, [("a", 1, 5), ("b", 1, -1)]
        )
    assert balances(session_factory) == {}


def test_an_upsert_never_cuts_a_value_longer_than_its_column(
    session_factory: sessionmaker[Session],
) -> None:
    long = "0x" + "ab" * 40  # 82 characters in a String(66) column
    try:
        with session_factory() as s, s.begin():
            BulkWriter(s).upsert(HEADS, ("account_id", "count", "head"), 1, [("a", 1, long)])
    except sa.exc.DBAPIError:
        return  # PostgreSQL refuses it, as a plain INSERT would
    with session_factory() as s:  # SQLite does not enforce lengths: stored whole
        assert s.scalars(sa.select(AccountHead.head)).one() == long


def test_select_in_reads_what_a_core_select_reads(session_factory: sessionmaker[Session]) -> None:
    accounts = [f"0x{i:04x}" for i in range(2 * IN_CHUNK + 7)]
    with session_factory() as s, s.begin():
        rows = [(a, i % 3, i) for i, a in enumerate(accounts)]
        BulkWriter(s).upsert(BALANCES, ("account_id", "program", "balance"), 2, rows)
    wanted = [*accounts[::2], "0xmissing"]
    with session_factory() as s:
        got = BulkWriter(s).select_in(BALANCES, ("account_id", "balance"), "account_id", wanted)
        core = s.execute(
            sa.select(Balance.account_id, Balance.balance).where(Balance.account_id.in_(wanted))
        ).all()
        assert BulkWriter(s).select_in(BALANCES, ("balance",), "account_id", []) == []
    assert sorted(got) == sorted(tuple(r) for r in core)
    assert len(got) == len(accounts[::2])


class _Interrupted(BaseException):
    """Stands for `StopRequested`: SIGTERM raised in the middle of a bulk write."""


def test_an_interrupted_bulk_write_reports_the_interruption_not_the_closed_connection(
    session_factory: sessionmaker[Session],
) -> None:
    """SQLAlchemy closes a connection when a BaseException cuts a statement short; putting the
    page cache back on it must not replace the interruption by "closed database" (a SIGTERM
    during `mileage run`'s demo import then exited 1 instead of stopping cleanly)."""
    with session_factory() as s:
        bulk = BulkWriter(s)
        if bulk.postgres:
            pytest.skip("SQLite only: PostgreSQL's bulk writes leave the cache alone")
        with pytest.raises(_Interrupted), large_page_cache(bulk):
            s.connection().invalidate()  # closes the DB-API connection, as on an interruption
            raise _Interrupted


def test_the_page_cache_is_put_back_after_a_bulk_write(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as s:
        bulk = BulkWriter(s)
        if bulk.postgres:
            pytest.skip("SQLite only: PostgreSQL's bulk writes leave the cache alone")
        before = bulk.fetch("PRAGMA cache_size")
        with large_page_cache(bulk):
            assert bulk.fetch("PRAGMA cache_size") == [(-LARGE_CACHE_KIB,)]
        assert bulk.fetch("PRAGMA cache_size") == before
