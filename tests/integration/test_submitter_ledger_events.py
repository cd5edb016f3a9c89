"""A successful receipt counts only with the ledger's event (bridge.ledger_events).

A call to an address without code succeeds and does nothing. The submitter must not call such a
transaction's awards (or operation) mined/final: the transaction fails with an error saying what
to check, its rows go back to pending, and every lane waits for a restart (no resend loop)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from submitter_helpers import make_submitter, states
from test_submitter_operations import add_op

from bridge.client import LedgerClient, to_bytes32
from bridge.ledger_events import EXPECTED_EVENTS, LedgerEvents
from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.adapters.orm import Award, ChainTx, Operation
from ledger.domain.outbox import OperationKind
from ledger.settings import Settings

pytestmark = pytest.mark.chain


def _rpc(deployed: Any, method: str, params: list[Any]) -> Any:
    return deployed.w3.provider.make_request(method, params)["result"]


def _txs(factory: Any) -> list[ChainTx]:
    with factory() as s:
        return list(s.scalars(sa.select(ChainTx).order_by(ChainTx.id)))


class StripEvent:
    """Wraps a submitter's JsonRpc: receipts come back without the logs of ``topics`` (the
    transaction did land: the node's answer lies)."""

    def __init__(self, rpc: Any, topics: set[str]) -> None:
        self.rpc, self.topics = rpc, topics

    def _strip(self, r: Any) -> Any:
        if r is None:
            return r
        logs = [lg for lg in r.get("logs", []) if lg["topics"][0].lower() not in self.topics]
        return {**r, "logs": logs}

    def call(self, method: str, params: Any) -> Any:
        out = self.rpc.call(method, params)
        return self._strip(out) if method == "eth_getTransactionReceipt" else out

    def batch(self, method: str, params_list: Any) -> list[Any]:
        out = list(self.rpc.batch(method, params_list))
        return [self._strip(r) for r in out] if method == "eth_getTransactionReceipt" else out


@pytest.mark.parametrize("where", ["code-removed", "eoa"])
def test_grants_to_an_address_without_code_are_not_final(
    deployed: Any, session_factory: Any, seed: Any, where: str
) -> None:
    """The ledger's code is gone (chain reset, node without its state) or the configured address
    is an EOA: no award becomes mined/final, the transaction fails saying what to check, the
    awards are pending again, and the submitter stops sending (one transaction, not a loop).
    A restart on the right ledger then grants them exactly once."""
    nos = seed("CAR", [100 + i for i in range(6)])
    code = _rpc(deployed, "eth_getCode", [deployed.client.address, "latest"])
    if where == "eoa":
        eoa = signer_from_key(deployed.spare_key, "dev").address
        client = LedgerClient(deployed.w3, eoa, deployed.client.abi)
        signer = signer_from_key(deployed.issuer_keys["CAR"], "issuer-CAR")
        sub = Submitter(session_factory, client, signer, Settings(batch_size=50, confirmations=0))
        target = eoa.lower()
    else:
        _rpc(deployed, "anvil_setCode", [deployed.client.address, "0x"])
        sub = make_submitter(deployed, session_factory)
        target = deployed.client.address.lower()

    rep = sub.run_until_idle(timeout=30)
    assert states(session_factory) == {"pending": 6}
    assert rep.txs_sent == 1 and rep.txs_mined == 0 and rep.awards_mined == 0
    assert rep.txs_reverted == 1
    assert "CAR" in rep.blocked and "GrantBatchRecorded" in rep.blocked["CAR"]
    (tx,) = _txs(session_factory)
    assert tx.status == "failed"
    err = tx.error or ""
    assert f"holds no GrantBatchRecorded event from the ledger at {target}" in err
    assert "MILEAGE_CONTRACT_ADDRESS" in err and f"no code at {target}" in err
    with session_factory() as s:
        errors = set(s.scalars(sa.select(Award.error)))
    assert all(e and "GrantBatchRecorded" in e for e in errors)
    # blocked: more steps send nothing and the loop is idle
    again = sub.run_until_idle(timeout=30)
    assert again.txs_sent == 0 and len(_txs(session_factory)) == 1
    assert not sub.has_runnable_work()

    # the operator fixes the chain (or the address) and restarts: granted once
    if where == "code-removed":
        _rpc(deployed, "anvil_setCode", [deployed.client.address, code])
    fixed = make_submitter(deployed, session_factory)
    done = fixed.run_until_idle(timeout=30)
    assert states(session_factory) == {"final": 6}
    assert done.awards_mined == 6 and done.awards_skipped == 0
    with session_factory() as s:
        accounts = {a.award_no: a.account_id for a in s.scalars(sa.select(Award))}
    for i, no in enumerate(nos):
        assert deployed.client.balance_of(to_bytes32(accounts[no]), 3) == 100 + i


def test_a_receipt_without_grant_batch_recorded_is_not_final(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    """The ledger's address, status 1, EntryRecorded logs, but no GrantBatchRecorded: not
    final. (Here the batch did land and the receipt lies: after the restart the resend is
    skipped by the contract and the awards are final once, not granted twice.)"""
    seed("CAR", [500, 600, 700])
    sub = make_submitter(deployed, session_factory)
    events = LedgerEvents.of(deployed.client)
    sub.rpc = StripEvent(sub.rpc, set(events.topics["grant"]))  # type: ignore[assignment]
    rep = sub.run_until_idle(timeout=30)
    assert states(session_factory) == {"pending": 3}
    assert rep.awards_mined == 0 and rep.txs_sent == 1
    (tx,) = _txs(session_factory)
    assert tx.status == "failed" and "GrantBatchRecorded" in (tx.error or "")
    assert "no code" not in (tx.error or "")  # the code is there: not claimed missing
    assert sub.run_until_idle(timeout=30).txs_sent == 0

    fixed = make_submitter(deployed, session_factory)
    done = fixed.run_until_idle(timeout=30)
    assert states(session_factory) == {"final": 3}
    assert done.awards_skipped == 3 and done.awards_conflict == 0
    with session_factory() as s:
        accounts = list(s.scalars(sa.select(Award.account_id).order_by(Award.award_no)))
    balances = [deployed.client.balance_of(to_bytes32(a), 3) for a in accounts]
    assert balances == [500, 600, 700]


def _granted_account(deployed: Any, session_factory: Any, seed: Any) -> str:
    seed("CAR", [5000])
    make_submitter(deployed, session_factory).run_until_idle(timeout=30)
    with session_factory() as s:
        return str(s.scalars(sa.select(Award.account_id)).one())


def _spender(deployed: Any, session_factory: Any, kind: str = "deduction") -> Submitter:
    key, role = (
        (deployed.spender_key, "spender")
        if kind == "deduction"
        else (deployed.converter_key, "converter")
    )
    return Submitter(
        session_factory,
        deployed.client,
        signer_from_key(key, role),
        Settings(batch_size=50, confirmations=0),
    )


@pytest.mark.parametrize(
    ("kind", "event"), [("deduction", "EntryRecorded"), ("conversion", "EntryRecorded or")]
)
def test_an_operation_mined_after_the_code_went_is_not_done(
    deployed: Any, session_factory: Any, seed: Any, kind: str, event: str
) -> None:
    """The operation is built and sent while the ledger is there; the block that mines it no
    longer holds the ledger's code (a node that lost its state): not done, pending again, the
    lanes blocked; after the restart on the restored ledger it is recorded once."""
    account = _granted_account(deployed, session_factory, seed)
    if kind == "deduction":
        op_id = add_op(session_factory, "d1", kind, account, "CAR", 1200, reason="CASH")
    else:
        op_id = add_op(session_factory, "c1", kind, account, "CAR", 1200, "SEOUL", "CONVERSION")
    code = _rpc(deployed, "eth_getCode", [deployed.client.address, "latest"])
    sub = _spender(deployed, session_factory, kind)
    sub.receipt_wait = 0.0
    _rpc(deployed, "evm_setAutomine", [False])
    try:
        first = sub.step()
        assert first.txs_sent == 1
        _rpc(deployed, "anvil_setCode", [deployed.client.address, "0x"])
        _rpc(deployed, "evm_mine", [])
    finally:
        _rpc(deployed, "evm_setAutomine", [True])
    rep = sub.run_until_idle(timeout=30)
    assert rep.ops_mined == 0 and rep.txs_sent == 0 and rep.txs_reverted == 1
    assert kind in rep.blocked and event in rep.blocked[kind]
    with session_factory() as s:
        op = s.get(Operation, op_id)
        assert op is not None and op.status == "pending"
        tx = s.scalars(sa.select(ChainTx).where(ChainTx.kind == kind)).one()
    assert tx.status == "failed" and f"holds no {event}" in (tx.error or "")
    assert "no code at" in (tx.error or "")
    assert sub.run_until_idle(timeout=30).txs_sent == 0

    _rpc(deployed, "anvil_setCode", [deployed.client.address, code])
    _spender(deployed, session_factory, kind).run_until_idle(timeout=30)
    with session_factory() as s:
        op = s.get(Operation, op_id)
        assert op is not None and op.status == "final"
    assert deployed.client.balance_of(to_bytes32(account), 3) == 3800  # debited once


def test_a_deduction_for_a_ledger_without_code_is_not_sent(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    """Building the deduction reads the ledger (its next expiry): without code the lane is
    blocked saying so, nothing is sent, the step does not crash."""
    account = _granted_account(deployed, session_factory, seed)
    ded = add_op(session_factory, "d1", "deduction", account, "CAR", 1200, reason="CASH")
    _rpc(deployed, "anvil_setCode", [deployed.client.address, "0x"])
    rep = _spender(deployed, session_factory).step()
    assert rep.txs_sent == 0 and "no code there" in rep.blocked["deduction"]
    with session_factory() as s:
        op = s.get(Operation, ded)
        assert op is not None and op.status == "pending"


def test_a_deduction_whose_receipt_lies_is_not_sent_twice(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    """The deduction landed but its receipt shows no EntryRecorded: the entry is found in the
    ledger's logs, so it is mined, never signed again (a deduction is not idempotent)."""
    account = _granted_account(deployed, session_factory, seed)
    ded = add_op(session_factory, "d1", "deduction", account, "CAR", 1200, reason="CASH")
    spender = _spender(deployed, session_factory)
    events = LedgerEvents.of(deployed.client)
    spender.rpc = StripEvent(spender.rpc, set(events.topics["deduction"]))  # type: ignore[assignment]
    spender.run_until_idle(timeout=30)
    _spender(deployed, session_factory).run_until_idle(timeout=30)
    with session_factory() as s:
        op = s.get(Operation, ded)
        assert op is not None and op.status == "final"
    assert deployed.client.balance_of(to_bytes32(account), 3) == 3800


def test_ledger_events_check(deployed: Any) -> None:
    """Every kind the submitter sends has its events; the check wants the ledger's address and
    the event's first topic (in any case); a filler needs none; an unknown kind never passes."""
    assert {k.value for k in OperationKind} | {"grant"} == set(EXPECTED_EVENTS)
    ev = LedgerEvents.of(deployed.client)
    grant = next(iter(ev.topics["grant"]))
    entry = "0x" + bytes(deployed.client.entry_topic).hex()
    other = "0x" + "99" * 20

    def log(address: str, topic: str) -> dict[str, Any]:
        return {"address": address, "topics": [topic, "0x" + "00" * 32], "data": "0x"}

    entries = [log(ev.address, entry) for _ in range(50)]
    assert ev.landed("grant", {"logs": [*entries, log(ev.address, grant)]})
    assert ev.landed("grant", {"logs": [log(ev.address.upper().replace("0X", "0x"), grant)]})
    assert ev.landed("grant", {"logs": [log(ev.address, grant.upper().replace("0X", "0x"))]})
    assert not ev.landed("grant", {"logs": entries})
    assert not ev.landed("grant", {"logs": [*entries, log(other, grant)]})
    assert not ev.landed("grant", {"logs": [], "status": "0x1"}) and not ev.landed("grant", {})
    assert not ev.landed("grant", {"logs": [{"address": ev.address, "topics": []}]})
    assert ev.landed("deduction", {"logs": entries[:1]})
    assert not ev.landed("refund", {"logs": entries[:1]})
    assert ev.landed("filler", {"logs": []})
    assert not ev.landed("something-new", {"logs": [*entries, log(ev.address, grant)]})
