"""Conversions, deductions and refunds from the operations outbox, with the converter/spender
keys."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from bridge.client import to_bytes32
from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.adapters.orm import Award, ChainTx, Operation
from ledger.service.witness import live_list_source
from ledger.settings import Settings

pytestmark = pytest.mark.chain


def op_id(key: str) -> str:
    return "0x" + hashlib.sha256(key.encode()).hexdigest()


def add_op(
    factory: Any,
    key: str,
    kind: str,
    account: str,
    program: str,
    amount: int,
    to_program: str | None = None,
    reason: str | None = None,
    deduction_id: str | None = None,
) -> str:
    oid = op_id(key)
    with factory() as s, s.begin():
        s.add(
            Operation(
                op_id=oid,
                kind=kind,
                idempotency_key=key,
                request_hash="0" * 64,
                account_id=account,
                program=program,
                to_program=to_program,
                amount=amount,
                reason=reason,
                reference=op_id("ref-" + key) if kind == "deduction" else None,
                deduction_id=deduction_id,
                status="pending",
            )
        )
    return oid


def test_conversion_and_deductions(deployed: Any, session_factory: Any, seed: Any) -> None:
    settings = Settings(batch_size=50, confirmations=0)
    seed("CAR", [5000])
    with session_factory() as s:
        account = s.scalars(sa.select(Award.account_id)).one()
    issuer = Submitter(
        session_factory,
        deployed.client,
        signer_from_key(deployed.issuer_keys["CAR"], "issuer-CAR"),
        settings,
    )
    issuer.run_until_idle(timeout=30)

    conv = add_op(session_factory, "c1", "conversion", account, "CAR", 1000, "SEOUL", "CONVERSION")
    ded = add_op(session_factory, "d1", "deduction", account, "CAR", 500, reason="TAX_PAYMENT")
    big = add_op(session_factory, "d2", "deduction", account, "CAR", 999_999, reason="CASH")
    live = live_list_source(deployed.client, session_factory)
    converter = Submitter(
        session_factory,
        deployed.client,
        signer_from_key(deployed.converter_key, "converter"),
        settings,
        live_lists=live,
    )
    spender = Submitter(
        session_factory,
        deployed.client,
        signer_from_key(deployed.spender_key, "spender"),
        settings,
        live_lists=live,
    )
    assert converter.operations == ["conversion"]
    assert spender.operations == ["deduction", "refund"]
    rc = converter.run_until_idle(timeout=30)
    rs = spender.run_until_idle(timeout=30)
    assert rc.ops_mined == 1 and rs.ops_mined == 1 and rs.ops_failed == 1

    with session_factory() as s:
        ops = {o.op_id: o for o in s.scalars(sa.select(Operation))}
    assert ops[conv].status == "final" and ops[ded].status == "final"
    assert ops[big].status == "failed"
    err = ops[big].error or ""
    assert err.startswith("InsufficientBalance(") and "balance=3500" in err
    assert "amount=999999" in err
    balances = deployed.client.balances_of(to_bytes32(account))
    assert balances[3] == 3500 and balances[7] == 1000


def test_conversion_is_idempotent_on_chain(deployed: Any, session_factory: Any, seed: Any) -> None:
    """The database forgets a mined conversion: resubmitting it is skipped by the contract."""
    settings = Settings(batch_size=50, confirmations=0)
    seed("CAR", [5000])
    with session_factory() as s:
        account = s.scalars(sa.select(Award.account_id)).one()
    Submitter(
        session_factory,
        deployed.client,
        signer_from_key(deployed.issuer_keys["CAR"], "issuer-CAR"),
        settings,
    ).run_until_idle(timeout=30)
    add_op(session_factory, "c1", "conversion", account, "CAR", 1000, "SEOUL", "CONVERSION")
    converter = Submitter(
        session_factory,
        deployed.client,
        signer_from_key(deployed.converter_key, "converter"),
        settings,
        live_lists=live_list_source(deployed.client, session_factory),
    )
    converter.run_until_idle(timeout=30)
    with session_factory() as s, s.begin():
        s.execute(sa.update(Operation).values(status="pending", tx_id=None))
    converter.run_until_idle(timeout=30)
    balances = deployed.client.balances_of(to_bytes32(account))
    assert balances[3] == 4000 and balances[7] == 1000


def test_refund_is_exactly_once_on_chain(deployed: Any, session_factory: Any, seed: Any) -> None:
    """The spender lane sends refunds; the database forgets a mined refund: resubmitting it is
    skipped by the contract (refund id recorded), and the refund is found by its id."""
    from bridge.refund_ops import find_refund

    settings = Settings(batch_size=50, confirmations=0)
    seed("CAR", [5000])
    with session_factory() as s:
        account = s.scalars(sa.select(Award.account_id)).one()
    Submitter(
        session_factory,
        deployed.client,
        signer_from_key(deployed.issuer_keys["CAR"], "issuer-CAR"),
        settings,
    ).run_until_idle(timeout=30)
    spender = Submitter(
        session_factory, deployed.client, signer_from_key(deployed.spender_key, "spender"), settings
    )
    ded = add_op(session_factory, "d1", "deduction", account, "CAR", 2000, reason="CASH")
    spender.run_until_idle(timeout=30)
    ref = add_op(session_factory, "r1", "refund", account, "CAR", 1500, deduction_id=ded)
    over = add_op(session_factory, "r2", "refund", account, "CAR", 501, deduction_id=ded)
    spender.run_until_idle(timeout=30)
    with session_factory() as s:
        ops = {o.op_id: o for o in s.scalars(sa.select(Operation))}
    assert ops[ref].status == "final"
    assert ops[over].status == "failed"
    assert (ops[over].error or "").startswith("RefundExceedsDeduction(")
    assert deployed.client.balance_of(to_bytes32(account), 3) == 4500
    head = deployed.w3.eth.block_number
    with session_factory() as s:
        mined = s.get(ChainTx, ops[ref].tx_id)
    assert mined is not None
    assert find_refund(deployed.client, 0, head, ref) == (mined.block_number, mined.block_hash)
    assert find_refund(deployed.client, 0, head, over) is None
    with session_factory() as s, s.begin():
        s.execute(
            sa.update(Operation).where(Operation.op_id == ref).values(status="pending", tx_id=None)
        )
    spender.run_until_idle(timeout=30)
    assert deployed.client.balance_of(to_bytes32(account), 3) == 4500  # skipped, not credited
