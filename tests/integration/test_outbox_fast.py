"""The outbox's raw fast path (:mod:`bridge.outbox.fast`: claim_and_sign, mark_sent, mark_mined,
unresolved_txs, mined_txs on a pooled DB-API connection) writes and returns exactly what the
general path (SQLAlchemy statements, ``Outbox(..., fast=False)``) does, on SQLite and PostgreSQL;
a batch whose rows moved, a signer that fails, a hash already stored: nothing is signed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.outbox import LeaseLost, Outbox
from bridge.outbox import txs as txs_mod
from ledger.adapters.orm import utcnow

SENDER = "0x" + "ab" * 20
PROGRAMS = ("CAR", "BIKE")

# one award: program, status, lease (None / mine / another's live / another's expired), failed
# before (error set)
award_st = st.tuples(
    st.sampled_from(PROGRAMS),
    st.sampled_from(["pending", "pending", "pending", "signed", "failed", "final"]),
    st.sampled_from([None, "me", "live", "expired"]),
    st.booleans(),
)
# a step: claim (program, limit), or send / land (final or not) the n-th stored transaction
step_st = st.one_of(
    st.tuples(st.just("claim"), st.sampled_from(PROGRAMS), st.integers(1, 6)),
    st.tuples(st.just("sent"), st.integers(0, 5)),
    st.tuples(st.just("mined"), st.integers(0, 5), st.booleans()),
)


def _wipe(factory: Any) -> None:
    with factory() as s, s.begin():
        for table in ("awards", "operations", "chain_txs", "signer_nonces", "accounts"):
            s.execute(sa.text(f"DELETE FROM {table}"))


def _seed(factory: Any, seed: Any, awards: list[tuple[Any, ...]], now: Any) -> None:
    for program in PROGRAMS:
        mine = [(i, a) for i, a in enumerate(awards) if a[0] == program]
        if not mine:
            continue
        nos = seed(program, [100 + i for i, _ in mine], prefix=f"{program}-")
        leases = {
            None: (None, None),
            "me": ("me", now + timedelta(hours=1)),
            "live": ("other", now + timedelta(hours=1)),
            "expired": ("other", now - timedelta(hours=1)),
        }
        with factory() as s, s.begin():
            for no, (_i, (_p, status, lease, failed)) in zip(nos, mine, strict=True):
                by, until = leases[lease]
                s.execute(
                    sa.text(
                        "UPDATE awards SET status = :st, claimed_by = :by, claimed_until = :until,"
                        " error = :err, created_at = :at, updated_at = :at WHERE award_no = :no"
                    ).bindparams(
                        sa.bindparam("until", type_=sa.DateTime(timezone=True)),
                        sa.bindparam("at", type_=sa.DateTime(timezone=True)),
                    ),
                    {
                        "st": status,
                        "by": by,
                        "until": until,
                        "err": "failed: reverted" if failed else None,
                        "at": now - timedelta(days=1),
                        "no": no,
                    },
                )


def _tables(factory: Any) -> dict[str, Any]:
    """Every row the outbox writes, as stored, keyed by what does not depend on sequences
    (award id; nonce for transactions, which stand in for their ids)."""
    with factory() as s:
        nonce_of = dict(s.execute(sa.text("SELECT id, nonce FROM chain_txs")).all())
        awards = s.execute(sa.text("SELECT * FROM awards")).mappings().all()
        txs = s.execute(sa.text("SELECT * FROM chain_txs")).mappings().all()
        nonces = s.execute(sa.text("SELECT * FROM signer_nonces")).mappings().all()
    return {
        "awards": {
            r["award_id"]: {
                **{k: v for k, v in r.items() if k != "award_no"},
                "tx_id": nonce_of.get(r["tx_id"]),
            }
            for r in awards
        },
        "txs": {r["nonce"]: {k: v for k, v in r.items() if k != "id"} for r in txs},
        "nonces": [dict(r) for r in nonces],
    }


def _tx_view(tx: Any) -> Any:
    return None if tx is None else {**tx.__dict__, "id": None}


def _run(
    factory: Any, fast: bool, steps: list[tuple[Any, ...]]
) -> tuple[list[Any], dict[str, Any]]:
    """Run ``steps`` through one outbox; returns what each call returned and the tables."""
    box = Outbox(factory, "me", fast=fast)
    assert (box.raw is not None) == fast
    box.reconcile_nonce(SENDER, 0)
    stored: list[Any] = []
    out: list[Any] = []
    award_ids: dict[int, str] = {}
    with factory() as s:
        award_ids = dict(s.execute(sa.text("SELECT award_no, award_id FROM awards")).all())

    def sign_for(awards: list[Any]) -> Any:
        return lambda nonce: (bytes([nonce, len(awards)]) * 5, "0x" + f"{nonce:064X}")

    for step in steps:
        if step[0] == "claim":
            tx, batch = box.claim_and_sign(SENDER, step[1], step[2], sign_for)
            if tx is not None:
                stored.append(tx)
            out.append(
                (_tx_view(tx), [(award_ids[a.award_no], *a[1:]) for a in batch]),
            )
        elif step[1] < len(stored):
            tx = stored[step[1]]
            if step[0] == "sent":
                box.mark_sent(tx.id)
                out.append("sent")
            else:
                out.append(
                    box.mark_mined(
                        tx.id,
                        block_number=7 + step[1],
                        block_hash="0xAB" + "cd" * 31,
                        gas_used=9,
                        final=step[2],
                    )
                )
        out.append([_tx_view(t) for t in box.unresolved_txs(SENDER)])
        out.append([_tx_view(t) for t in box.mined_txs(SENDER)])
    return out, _tables(factory)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    awards=st.lists(award_st, min_size=0, max_size=14),
    steps=st.lists(step_st, min_size=1, max_size=8),
)
@example(  # a batch's whole life, around awards it must not touch
    awards=[
        ("CAR", "pending", None, False),
        ("CAR", "pending", "live", False),
        ("CAR", "pending", "expired", False),
        ("CAR", "pending", "me", False),
        ("BIKE", "pending", None, False),
        ("CAR", "final", None, False),
        ("CAR", "pending", None, False),
    ],
    steps=[
        ("claim", "CAR", 2),
        ("claim", "CAR", 6),
        ("sent", 0),
        ("mined", 0, False),
        ("sent", 1),
        ("mined", 1, True),
        ("mined", 0, True),
        ("claim", "BIKE", 3),
        ("claim", "CAR", 3),
    ],
)
@example(awards=[("CAR", "pending", None, True)], steps=[("claim", "CAR", 3)])
def test_fast_path_equals_general_path(
    session_factory: Any, seed: Any, monkeypatch: Any, awards: Any, steps: Any
) -> None:
    fixed = utcnow()
    ticks = [0]

    def clock() -> Any:  # the same times, call by call, for both paths
        ticks[0] += 1
        return fixed + timedelta(milliseconds=ticks[0])

    monkeypatch.setattr(txs_mod, "utcnow", clock)
    results = []
    for fast in (False, True):
        ticks[0] = 0
        _wipe(session_factory)
        _seed(session_factory, seed, awards, fixed)
        results.append(_run(session_factory, fast, steps))
    (general_out, general_tables), (fast_out, fast_tables) = results
    assert fast_out == general_out
    assert fast_tables == general_tables


@pytest.mark.parametrize("moved", ["sign", "raises"])
def test_fast_claim_signs_nothing_when_a_row_moved_or_the_signer_fails(
    session_factory: Any, seed: Any, monkeypatch: Any, moved: str
) -> None:
    """A lease lost mid-batch (the signing UPDATE moves fewer rows than were read; forced here,
    the write lock or the row locks keep it from happening for real) or a signer that fails:
    the transaction rolls back whole: no transaction stored, the nonce not used, no award
    touched."""
    seed("CAR", [100, 200, 300, 400])
    box = Outbox(session_factory, "me")
    assert box.raw is not None
    box.reconcile_nonce(SENDER, 0)
    before = _tables(session_factory)
    sign_for: Any
    if moved == "sign":
        for key in ("sign_range", "sign_listed"):  # one award of the batch no longer matches
            last = " AND award_no <> (SELECT max(award_no) FROM awards)"
            monkeypatch.setitem(box.raw.sql, key, box.raw.sql[key] + last)

        def sign_for(awards: list[Any]) -> Any:
            return lambda nonce: (b"\x01" * 10, "0x" + f"{nonce:064x}")
    else:

        def sign_for(awards: list[Any]) -> Any:
            def sign(nonce: int) -> tuple[bytes, str]:
                raise LeaseLost("signer gone")

            return sign

    with pytest.raises(LeaseLost):
        box.claim_and_sign(SENDER, "CAR", 10, sign_for)
    assert _tables(session_factory) == before
    assert box.reconcile_nonce(SENDER, 0) == 0  # the nonce was not used


def test_fast_claim_raises_sqlalchemy_errors_and_stores_nothing(
    session_factory: Any, seed: Any
) -> None:
    """A DB-API error on the raw connection surfaces as SQLAlchemy's (here a transaction hash
    already stored: IntegrityError), the batch rolls back, and the pooled connection still
    works."""
    seed("CAR", [100, 200, 300, 400])
    box = Outbox(session_factory, "me")
    box.reconcile_nonce(SENDER, 0)

    def same_hash(awards: list[Any]) -> Any:
        return lambda nonce: (bytes([nonce]) * 10, "0x" + "11" * 32)

    first, batch = box.claim_and_sign(SENDER, "CAR", 2, same_hash)
    assert first is not None and len(batch) == 2
    before = _tables(session_factory)
    with pytest.raises(sa.exc.IntegrityError):
        box.claim_and_sign(SENDER, "CAR", 2, same_hash)
    assert _tables(session_factory) == before
    second, batch2 = box.claim_and_sign(
        SENDER, "CAR", 2, lambda a: lambda n: (b"\x02" * 10, "0x" + "22" * 32)
    )
    assert second is not None and second.nonce == first.nonce + 1 and len(batch2) == 2
