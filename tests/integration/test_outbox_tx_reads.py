"""The submitter's per-pass reads of its transactions by state (in flight, mined, landed, any
work) return the same rows in nonce order, and on SQLite find them through
``ix_chain_txs_sender_status`` instead of walking every transaction the sender ever sent (whose
``status`` sits after ``raw_tx``'s overflow pages)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bridge.outbox import Outbox
from ledger.adapters.orm import ChainTx, SignerNonce, utcnow

SENDER = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
# nonce -> state, inserted in a shuffled order so that ids are not in nonce order
STATES = {
    0: "final",
    1: "final",
    2: "failed",
    3: "final",
    4: "mined",
    5: "replaced",
    6: "mined",
    7: "sent",
    8: "signed",
    9: "sent",
    10: "signed",
}
ORDER = [9, 3, 0, 10, 6, 1, 8, 2, 7, 4, 5]


def _seed(factory: Any) -> None:
    now = utcnow()
    with factory() as s, s.begin():
        s.add(SignerNonce(sender=SENDER, next_nonce=11))
        for n in ORDER:
            for sender in (SENDER, OTHER):
                s.add(
                    ChainTx(
                        sender=sender,
                        nonce=n,
                        kind="grant",
                        program="CAR",
                        raw_tx="0x" + "ee" * 40_000,  # a batch's size: overflow pages
                        tx_hash=f"0x{n:062x}{1 if sender == SENDER else 2:02x}",
                        status=STATES[n],
                        block_number=100 + n if STATES[n] in ("mined", "final") else None,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )


def test_reads_by_state_are_in_nonce_order(session_factory: Any) -> None:
    _seed(session_factory)
    box = Outbox(session_factory, "w")
    assert [t.nonce for t in box.unresolved_txs(SENDER)] == [7, 8, 9, 10]
    assert [t.status for t in box.unresolved_txs(SENDER)] == ["sent", "signed", "sent", "signed"]
    assert all(t.sender == SENDER for t in box.unresolved_txs(SENDER))
    assert [t.nonce for t in box.mined_txs(SENDER)] == [4, 6]
    assert [t.nonce for t in box.landed_from(SENDER, 3)] == [3, 4, 6]
    assert box.landed_from(SENDER, 7) == []
    assert box.has_work([], [], SENDER)
    assert not box.has_work([], [], "0x" + "00" * 20)


def test_sqlite_finds_them_by_the_state_index(session_factory: Any, engine: Any) -> None:
    if engine.dialect.name != "sqlite":
        return
    _seed(session_factory)
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "chain_txs" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        box = Outbox(session_factory, "w", fast=False)
        box.unresolved_txs(SENDER)
        box.mined_txs(SENDER)
        box.has_work([], [], SENDER)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert len(seen) == 3
    # the same reads on the raw fast path (bridge.outbox.fast), which SQLAlchemy does not see
    raw = Outbox(session_factory, "w").raw
    assert raw is not None
    seen += [(raw.sql[q], {"sender": SENDER}) for q in ("unresolved_txs", "mined_txs")]
    _assert_uses(engine, seen, "ix_chain_txs_sender_status")


def test_sqlite_moves_a_transactions_operations_by_the_tx_id_index(
    session_factory: Any, engine: Any
) -> None:
    """Every batch moves its transaction's operations by ``tx_id`` (sent, then landed), on
    both paths: without ``ix_operations_tx_id`` each statement read the whole table."""
    if engine.dialect.name != "sqlite":
        return
    _seed(session_factory)
    with session_factory() as s:
        tx_id = s.scalar(sa.select(ChainTx.id).where(ChainTx.status == "signed").limit(1))
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE OPERATIONS"):
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        box = Outbox(session_factory, "w", fast=False)
        box.mark_sent(tx_id)
        box.mark_mined(tx_id, block_number=1, block_hash="0x" + "11" * 32, gas_used=1, final=True)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert len(seen) == 2
    raw = Outbox(session_factory, "w").raw  # the fast path's statements (bridge.outbox.fast)
    assert raw is not None
    named = {"now": None, "tx_id": tx_id, "to_state": "final"}
    seen += [(raw.sql[q], named) for q in ("ops_sent", "ops_landed")]
    _assert_uses(engine, seen, "ix_operations_tx_id")


def _assert_uses(engine: Any, seen: list[tuple[str, Any]], index: str) -> None:
    """Every statement of ``seen`` (with its parameters) finds its rows through ``index``."""
    with engine.connect() as conn:
        for statement, params in seen:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            )
            assert index in plan, (statement, plan)
