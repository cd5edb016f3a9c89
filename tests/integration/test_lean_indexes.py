"""The awards' and accruals' indexes hold only what a query reads (migration 0023), and every
query that needs one still finds its rows through it, on SQLite and PostgreSQL alike.

The hostile cases: an award not yet claimed must have no entry in ``ix_awards_tx_id``, a paid
accrual none in ``ix_bike_accruals_unpaid`` (else each costs the random-key index writes the
migration removed); and a statement that can no longer use an index would read the whole table
on every batch, payout or wallet request."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from bridge.outbox import Outbox
from ledger.adapters.award_state import award_state_of
from ledger.adapters.orm import Award, BikeAccrual, ChainTx, utcnow
from ledger.domain.rules.bike_payout import Cadence
from ledger.service.bike_accruals import accrued_total, accrued_unpaid

ACCOUNT = "0x" + "a1" * 32
OTHER = "0x" + "b2" * 32


def _seed(factory: Any) -> int:
    """A signed transaction holding two awards, one award not yet claimed, and three accruals
    (two unpaid); returns the transaction's id."""
    now = utcnow()
    with factory() as s, s.begin():
        tx = ChainTx(
            sender="0x" + "ab" * 20,
            nonce=0,
            kind="grant",
            program="BIKE",
            raw_tx="0x00",
            tx_hash="0x" + "11" * 32,
            status="signed",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        s.add(tx)
        s.flush()
        for n, (status, tx_id) in enumerate(
            [("signed", tx.id), ("signed", tx.id), ("pending", None)]
        ):
            s.add(
                Award(
                    award_id=f"0x{n:064x}",
                    program="BIKE",
                    member_id=f"m{n}",
                    account_id=ACCOUNT,
                    period="2025-06",
                    amount=100,
                    status=status,
                    tx_id=tx_id,
                )
            )
        for month, paid in [("2025-04", "0x" + "cc" * 32), ("2025-05", None), ("2025-06", None)]:
            s.add(
                BikeAccrual(
                    member_id="m0", month=month, account_id=ACCOUNT, amount=300, award_id=paid
                )
            )
        s.add(BikeAccrual(member_id="m9", month="2025-06", account_id=OTHER, amount=50))
        return int(tx.id)


def _capture(engine: Any, prefix: str, run: Any) -> list[tuple[str, Any]]:
    """The statements starting with ``prefix`` (upper case) and naming the awards or accruals
    table that ``run()`` sends, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        head = statement.lstrip().upper()
        if head.startswith(prefix) and ("AWARDS" in head or "BIKE_ACCRUALS" in head):
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert seen, f"no statement starting with {prefix}"
    return seen


def _assert_uses(engine: Any, seen: list[tuple[str, Any]], index: str) -> None:
    """Every statement of ``seen`` finds its rows through ``index`` (PostgreSQL: with sequential
    scans priced out, so that the plan shows whether the index can serve it at all)."""
    with engine.connect() as conn:
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, params in seen:
            plan = " ".join(
                str(row[-1]) for row in conn.exec_driver_sql(explain + statement, params)
            )
            assert re.search(rf"\b{index}\b", plan), (statement, plan)
        conn.rollback()


def _index_definitions(engine: Any, table: str) -> dict[str, str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
                (table,),
            )
        else:
            rows = conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %(t)s", {"t": table}
            )
        return {str(name): str(sql or "") for name, sql in rows}


def test_only_claimed_awards_and_unpaid_accruals_have_index_entries(
    session_factory: Any, engine: Any
) -> None:
    awards = _index_definitions(engine, "awards")
    assert "ix_awards_account_id" not in awards
    assert "tx_id IS NOT NULL" in awards["ix_awards_tx_id"].replace("(", "").replace(")", "")
    accruals = _index_definitions(engine, "bike_accruals")
    assert "ix_bike_accruals_account_id" not in accruals
    assert "ix_bike_accruals_award_id" not in accruals
    for name, column in (
        ("ix_bike_accruals_unpaid", "award_id"),
        ("ix_bike_accruals_unpaid_account", "account_id"),
    ):
        unpaid = accruals[name].replace("(", "").replace(")", "")
        assert "award_id IS NULL" in unpaid and column in unpaid.split("WHERE")[0], unpaid
    _seed(session_factory)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":  # the entries themselves: 2 claimed, 3 unpaid
            count = "SELECT count(*) FROM {} INDEXED BY {} WHERE {} "
            claimed = count.format("awards", "ix_awards_tx_id", "tx_id IS NOT NULL")
            unpaid_rows = count.format(
                "bike_accruals", "ix_bike_accruals_unpaid", "award_id IS NULL"
            )
            assert conn.exec_driver_sql(claimed).scalar() == 2
            assert conn.exec_driver_sql(unpaid_rows).scalar() == 3
            by_account = unpaid_rows.replace("_unpaid ", "_unpaid_account ")
            assert conn.exec_driver_sql(by_account).scalar() == 3


def test_a_transactions_awards_are_found_by_the_claimed_index(
    session_factory: Any, engine: Any
) -> None:
    """Counting a transaction's awards as it lands, on both outbox paths (the awards are not
    moved: they take their transaction's state)."""
    tx_id = _seed(session_factory)
    box = Outbox(session_factory, "w", fast=False)

    def land() -> None:
        box.mark_mined(tx_id, block_number=1, block_hash="0x" + "22" * 32, gas_used=1, final=True)

    seen = _capture(engine, "", land)  # the count of its awards
    assert len(seen) == 1, seen
    raw = Outbox(session_factory, "w").raw
    assert raw is not None
    named = {"now": utcnow(), "tx_id": tx_id, "to_state": "final"}
    seen += [(raw.sql["award_count"], named)]
    _assert_uses(engine, seen, "ix_awards_tx_id")
    with session_factory() as s:
        read = sa.select(Award.member_id, award_state_of())
        states = {m: st for m, st in s.execute(read)}
    assert states == {"m0": "final", "m1": "final", "m2": "pending"}


def test_unpaid_accruals_are_found_by_the_unpaid_index(session_factory: Any, engine: Any) -> None:
    """The wallet's accrued months of an account, and their total, by account; the payout's
    unpaid rows and its paid marks in the table's order (all keys NULL), not through the
    accounts at random."""
    _seed(session_factory)
    with session_factory() as s:
        months = _capture(engine, "SELECT", lambda: accrued_unpaid(s, ACCOUNT, Cadence.MONTHLY))
        total = _capture(engine, "SELECT", lambda: accrued_total(s, ACCOUNT))
        assert [m.month for m in accrued_unpaid(s, ACCOUNT, Cadence.MONTHLY)] == [
            "2025-05",
            "2025-06",
        ]
        assert accrued_total(s, ACCOUNT) == 600
        assert accrued_total(s, OTHER) == 50
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    payout = (
        "SELECT member_id, month, amount, account_id, savings FROM bike_accruals "
        f"WHERE award_id IS NULL AND month <= {mark}"
    )
    _assert_uses(engine, [*months, *total], "ix_bike_accruals_unpaid_account")
    marks = (  # bike_accruals._mark_paid
        f"UPDATE bike_accruals SET award_id = w.award_id FROM award_windows w "
        f"WHERE w.program = {mark} AND w.holder = {mark} || bike_accruals.member_id "
        "AND w.month = bike_accruals.month "
        f"AND bike_accruals.award_id IS NULL AND bike_accruals.month <= {mark}"
    )
    # PostgreSQL fetches the many rows a payout reads in table order whichever index names them
    # (a bitmap heap scan): either unpaid index serves it there
    scan = (
        "ix_bike_accruals_unpaid"
        if engine.dialect.name == "sqlite"
        else "ix_bike_accruals_unpaid(_account)?"
    )
    _assert_uses(engine, [(payout, ("2025-06",)), (marks, ("BIKE", "bike:", "2025-06"))], scan)


def test_an_accounts_pending_awards_are_found_by_the_status_index(
    session_factory: Any, engine: Any
) -> None:
    """The merge (ledger.service.chain_ops) moves an account's pending awards: with no index on
    the account, the status index finds them."""
    _seed(session_factory)
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    merge = (
        f"UPDATE awards SET account_id = {mark} WHERE awards.account_id = {mark} "
        "AND awards.status = 'pending'"
    )
    _assert_uses(engine, [(merge, (OTHER, ACCOUNT))], "ix_awards_status_program")
