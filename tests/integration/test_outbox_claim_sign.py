"""``Outbox.claim_and_sign`` moves exactly the awards it read and signed, and nothing else: on
SQLite its UPDATE names them by a range (the claimable awards up to the last one read, under the
write lock), on PostgreSQL by their numbers. Around and inside that range sit awards it must not
touch: leased by another worker, of another program, already signed, failed, and claimable ones
past the batch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bridge.outbox import LeaseLost, Outbox
from ledger.adapters.award_state import award_state_of
from ledger.adapters.orm import Award, ChainTx, utcnow

SENDER = "0x" + "ab" * 20


def snapshot(factory: Any) -> dict[int, tuple[Any, ...]]:
    with factory() as s:
        return {
            a.award_no: (a.status, a.tx_id, a.claimed_by, a.claimed_until, a.error, a.updated_at)
            for a in s.scalars(sa.select(Award))
        }


def sign_for(awards: list[Any]) -> Any:
    return lambda nonce: (bytes([nonce]) * 10, "0x" + f"{nonce:064x}")


@pytest.mark.parametrize("limit", [5, 7, 50])
def test_claim_and_sign_moves_exactly_the_batch(
    session_factory: Any, seed: Any, limit: int
) -> None:
    nos = seed("CAR", [100 + i for i in range(20)])
    other_program = seed("BIKE", [5, 6, 7], prefix="b")
    now = utcnow()
    others = {nos[1], nos[4], nos[9]}  # another worker's live lease, inside the range
    expired = nos[2]  # another worker's expired lease: claimable
    mine = nos[3]  # this worker's own lease: claimable
    with session_factory() as s, s.begin():
        for no in others:
            s.get(Award, no).claimed_by, s.get(Award, no).claimed_until = (  # type: ignore[union-attr]
                "other",
                now + timedelta(hours=1),
            )
        a = s.get(Award, expired)
        a.claimed_by, a.claimed_until = "other", now - timedelta(hours=1)  # type: ignore[union-attr]
        a = s.get(Award, mine)
        a.claimed_by, a.claimed_until = "me", now + timedelta(hours=1)  # type: ignore[union-attr]
        s.get(Award, nos[5]).status = "failed"  # type: ignore[union-attr]
        s.get(Award, nos[6]).status = "final"  # type: ignore[union-attr]
    box = Outbox(session_factory, "me")
    box.reconcile_nonce(SENDER, 0)
    before = snapshot(session_factory)

    stored, batch = box.claim_and_sign(SENDER, "CAR", limit, sign_for)

    assert stored is not None
    claimable = [n for n in nos if n not in others and n not in (nos[5], nos[6])]
    want = claimable[:limit]
    assert [a.award_no for a in batch] == want
    after = snapshot(session_factory)
    for no, row in after.items():
        if no in want:
            assert row[0] == "signed" and row[1] == stored.id and row[2] == "me", no
        else:
            assert row == before[no], no  # untouched, to the update time
    assert all(after[n] == before[n] for n in other_program)
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ChainTx)) == 1

    # the next batch starts after this one and skips what is signed or leased
    stored2, batch2 = box.claim_and_sign(SENDER, "CAR", limit, sign_for)
    rest = claimable[limit:]
    if rest:
        assert stored2 is not None
        assert [a.award_no for a in batch2] == rest[:limit]
        assert stored2.nonce == stored.nonce + 1
    else:
        assert stored2 is None and batch2 == []


def test_a_batch_holding_an_award_that_failed_before_is_not_signed(
    session_factory: Any, seed: Any
) -> None:
    nos = seed("CAR", [100, 200, 300])
    with session_factory() as s, s.begin():
        s.get(Award, nos[1]).error = "failed: reverted"  # type: ignore[union-attr]
    box = Outbox(session_factory, "me")
    box.reconcile_nonce(SENDER, 0)
    before = snapshot(session_factory)
    stored, batch = box.claim_and_sign(SENDER, "CAR", 10, sign_for)
    assert stored is None and [a.award_no for a in batch] == nos
    assert [a.retry for a in batch] == [False, True, False]
    assert snapshot(session_factory) == before
    assert box.reconcile_nonce(SENDER, 0) == 0  # the nonce was not used


def test_a_signer_that_fails_leaves_nothing(session_factory: Any, seed: Any) -> None:
    seed("CAR", [100, 200])
    box = Outbox(session_factory, "me")
    box.reconcile_nonce(SENDER, 0)
    before = snapshot(session_factory)

    def broken(awards: list[Any]) -> Any:
        def sign(nonce: int) -> tuple[bytes, str]:
            raise LeaseLost("signer gone")

        return sign

    with pytest.raises(LeaseLost):
        box.claim_and_sign(SENDER, "CAR", 10, broken)
    assert snapshot(session_factory) == before
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ChainTx)) == 0


def _raw_rows(factory: Any, table: str, key: str) -> dict[Any, dict[str, Any]]:
    """Rows as the database stores them (no type processing), minus ids and links."""
    with factory() as s:
        rows = s.execute(sa.text(f"SELECT * FROM {table}")).mappings().all()
    skip = {"id", "tx_id", "nonce", "tx_hash", "raw_tx", "award_no", "award_id", "member_id"}
    return {r[key]: {k: v for k, v in r.items() if k not in skip} for r in rows}


@pytest.mark.parametrize("final", [True, False])
def test_prebuilt_transitions_write_what_the_generic_helpers_write(
    session_factory: Any, seed: Any, monkeypatch: Any, final: bool
) -> None:
    """mark_sent and mark_mined run statements built once (bridge.outbox.statements); a second
    transaction moved by the generic helpers with the same values ends up stored identically
    (states, times as stored, block fields, attempts), awards and transactions alike."""
    from bridge.outbox import txs as txs_mod
    from ledger.domain.outbox import OperationState, TxState

    fixed = utcnow()
    monkeypatch.setattr(txs_mod, "utcnow", lambda: fixed)
    nos = seed("CAR", [100, 200, 300, 400])
    box = Outbox(session_factory, "me")
    box.reconcile_nonce(SENDER, 0)
    hot, _ = box.claim_and_sign(SENDER, "CAR", 2, sign_for)
    generic, _ = box.claim_and_sign(SENDER, "CAR", 2, sign_for)
    assert hot is not None and generic is not None

    box.mark_sent(hot.id)
    with session_factory() as s, s.begin():
        now = fixed
        txs_mod._set_txs(
            s,
            [generic.id],
            txs_mod.UNRESOLVED,
            now,
            status=TxState.SENT,
            attempts=txs_mod.TXS.c.attempts + 1,
        )
        txs_mod._move_rows(
            s,
            [generic.id],
            (OperationState.SIGNED,),
            OperationState.SENT,
            now,
            tables=(txs_mod.OPS,),
        )
    sent = _raw_rows(session_factory, "chain_txs", "nonce")
    assert sent[hot.nonce] == sent[generic.nonce] and sent[hot.nonce]["status"] == "sent"
    box.mark_mined(hot.id, block_number=7, block_hash="0xAB" + "cd" * 31, gas_used=9, final=final)
    with session_factory() as s, s.begin():
        txs_mod._set_txs(
            s,
            [generic.id],
            None,
            now,
            status=TxState.FINAL if final else TxState.MINED,
            block_number=7,
            block_hash="0xab" + "cd" * 31,
            gas_used=9,
            error=None,
        )
        landed = OperationState.FINAL if final else OperationState.MINED
        txs_mod._move_rows(s, [generic.id], txs_mod.IN_FLIGHT, landed, now, tables=(txs_mod.OPS,))
    txs = _raw_rows(session_factory, "chain_txs", "nonce")
    assert txs[hot.nonce] == txs[generic.nonce]
    assert txs[hot.nonce]["status"] == ("final" if final else "mined")
    assert txs[hot.nonce]["attempts"] == 1
    moved = ("status", "updated_at", "claimed_by", "claimed_until", "error")
    awards = {
        no: tuple(row[k] for k in moved)
        for no, row in _raw_rows(session_factory, "awards", "award_no").items()
    }
    assert awards[nos[0]] == awards[nos[2]] and awards[nos[1]] == awards[nos[3]]
    # the award rows are not rewritten: they take their transaction's state
    assert awards[nos[0]][0] == "signed"
    with session_factory() as s:
        state = s.scalar(sa.select(award_state_of()).where(Award.award_no == nos[0]))
    assert state == ("final" if final else "mined")
