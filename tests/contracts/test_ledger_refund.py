"""refund: gives back (part of) a deduction, never more than it took, only to its account and
program, once per refund id; CARD_POINTS is a spend reason."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_helpers import (
    CAR,
    CARD_POINTS,
    DEDUCTION,
    ECO_HOUSEHOLD,
    GIFT_CERTIFICATE,
    NONE,
    REFUND,
    SEOUL,
    TAX_PAYMENT,
    VALIDITY,
    acct,
    award_id,
    replay_heads,
)

A = acct("refund-a")
B = acct("refund-b")
DED = award_id(5000)  # the deduction's ref
OTHER_DED = award_id(5001)


def rid(n: int) -> bytes:
    return award_id(9000 + n)


@pytest.fixture
def deducted(ledger):
    """A holds 50,000 ECO_HOUSEHOLD, spent 20,000 of it (ref DED); B holds 10,000."""
    ledger.grant(ECO_HOUSEHOLD, [(A, 1, 50_000, award_id(1)), (B, 2, 10_000, award_id(2))])
    ledger.tx(
        "deduct", A, ECO_HOUSEHOLD, 20_000, GIFT_CERTIFICATE, DED, [], sender=ledger.roles.spender
    )
    return ledger


def refund(ledger, amount, n=1, account=A, program=ECO_HOUSEHOLD, ref=DED, sender=None):
    return ledger.tx(
        "refund", account, program, amount, ref, rid(n), sender=sender or ledger.roles.spender
    )


def test_refund_credits_the_deductions_account_and_program(deducted):
    rc = refund(deducted, 5_000)
    (e,) = deducted.events(rc, "EntryRecorded")
    assert (e.args.account, e.args.kind, e.args.program, e.args.amount, e.args.reason) == (
        A,
        REFUND,
        ECO_HOUSEHOLD,
        5_000,
        NONE,
    )
    assert e.args.ref == DED  # the entry references the deduction
    (rec,) = deducted.events(rc, "RefundRecorded")
    assert (rec.args.refundId, rec.args.deductionRef, rec.args.account, rec.args.amount) == (
        rid(1),
        DED,
        A,
        5_000,
    )
    assert deducted.call("balanceOf", A, ECO_HOUSEHOLD) == 35_000
    assert deducted.call("deductionOf", A, ECO_HOUSEHOLD, DED) == [20_000, 5_000]
    assert deducted.call("isRefundRecorded", rid(1))
    assert deducted.call("programTotals", ECO_HOUSEHOLD) == [60_000, 65_000, 20_000]
    assert replay_heads(deducted)[A][0] == 3


def test_refund_more_than_deducted_in_one_go_reverts(deducted):
    deducted.expect(
        "RefundExceedsDeduction",
        DED,
        20_000,
        0,
        20_001,
        call=("refund", A, ECO_HOUSEHOLD, 20_001, DED, rid(1)),
        sender=deducted.roles.spender,
    )
    assert not deducted.call("isRefundRecorded", rid(1))


def test_refund_more_than_deducted_in_several_parts_reverts(deducted):
    refund(deducted, 12_000, 1)
    refund(deducted, 8_000, 2)  # exactly all of it
    assert deducted.call("balanceOf", A, ECO_HOUSEHOLD) == 50_000
    deducted.expect(
        "RefundExceedsDeduction",
        DED,
        20_000,
        20_000,
        1,
        call=("refund", A, ECO_HOUSEHOLD, 1, DED, rid(3)),
        sender=deducted.roles.spender,
    )


def test_refund_of_an_unknown_deduction_reverts(deducted):
    deducted.expect(
        "DeductionNotFound",
        A,
        ECO_HOUSEHOLD,
        OTHER_DED,
        call=("refund", A, ECO_HOUSEHOLD, 1, OTHER_DED, rid(1)),
        sender=deducted.roles.spender,
    )


@pytest.mark.parametrize(("account", "program"), [(B, ECO_HOUSEHOLD), (A, CAR), (A, SEOUL)])
def test_refund_to_another_account_or_program_reverts(deducted, account, program):
    deducted.expect(
        "DeductionNotFound",
        account,
        program,
        DED,
        call=("refund", account, program, 1, DED, rid(1)),
        sender=deducted.roles.spender,
    )


@pytest.mark.parametrize("who", ["converter", "issuer", "registrar", "outsider", "admin"])
def test_refund_needs_the_spender_role(deducted, who):
    sender = getattr(deducted.roles, who)
    name, args = deducted.revert_of("refund", A, ECO_HOUSEHOLD, 1, DED, rid(1), sender=sender)
    assert name == "AccessControlUnauthorizedAccount"
    assert args[1] == deducted.call("SPENDER_ROLE")


def test_refund_while_paused_reverts(deducted):
    r = deducted.roles
    deducted.tx("setProgramPaused", ECO_HOUSEHOLD, True, sender=r.pauser)
    deducted.expect(
        "ProgramPaused",
        ECO_HOUSEHOLD,
        call=("refund", A, ECO_HOUSEHOLD, 1, DED, rid(1)),
        sender=r.spender,
    )
    deducted.tx("setProgramPaused", ECO_HOUSEHOLD, False, sender=r.pauser)
    deducted.tx("setPaused", True, sender=r.pauser)
    deducted.expect(
        "LedgerPaused", call=("refund", A, ECO_HOUSEHOLD, 1, DED, rid(1)), sender=r.spender
    )


def test_zero_refund_reverts(deducted):
    deducted.expect(
        "ZeroAmount",
        call=("refund", A, ECO_HOUSEHOLD, 0, DED, rid(1)),
        sender=deducted.roles.spender,
    )


def test_replayed_refund_id_is_skipped(deducted):
    refund(deducted, 5_000, 1)
    rc = refund(deducted, 5_000, 1)  # the same refund id again (a resent transaction)
    assert [e.args.refundId for e in deducted.events(rc, "RefundSkipped")] == [rid(1)]
    assert not deducted.events(rc, "EntryRecorded")
    assert deducted.call("balanceOf", A, ECO_HOUSEHOLD) == 35_000
    assert deducted.call("deductionOf", A, ECO_HOUSEHOLD, DED) == [20_000, 5_000]
    # a replay never re-checks or re-credits, even with another amount
    rc = refund(deducted, 15_000, 1)
    assert deducted.events(rc, "RefundSkipped") and not deducted.events(rc, "EntryRecorded")
    assert deducted.call("balanceOf", A, ECO_HOUSEHOLD) == 35_000


def test_refund_of_a_merged_account_reverts(deducted):
    r = deducted.roles
    into = acct("refund-into")
    deducted.tx(
        "mergeAccounts", A, into, deducted.lives(A), deducted.lives(into), sender=r.registrar
    )
    name, _ = deducted.revert_of("refund", A, ECO_HOUSEHOLD, 1, DED, rid(1), sender=r.spender)
    assert name == "AccountMerged"


def test_refunded_mileage_ages_from_the_refund(deducted):
    """A refund is a new credit at its own time: it expires one validity after the refund, not
    with the mileage the deduction took."""
    r = deducted.roles
    t0 = deducted.now()
    deducted.mine_at(t0 + VALIDITY // 2)
    rc = refund(deducted, 20_000)
    t_refund = deducted.w3.eth.get_block(rc.blockNumber)["timestamp"]
    # the original grant lapses: 30,000 left of it expires, the refund stays
    assert deducted.expirable_at(A, ECO_HOUSEHOLD, t0 + VALIDITY + 10) == 30_000
    deducted.mine_at(t0 + VALIDITY + 10)
    deducted.tx("expire", A, ECO_HOUSEHOLD, deducted.live(A, ECO_HOUSEHOLD), sender=r.expirer)
    assert deducted.call("balanceOf", A, ECO_HOUSEHOLD) == 20_000
    assert deducted.call("nextExpiry", A, ECO_HOUSEHOLD) == t_refund + VALIDITY


def test_card_points_is_a_spend_reason(deducted):
    r = deducted.roles
    rc = deducted.tx(
        "deduct", B, ECO_HOUSEHOLD, 3_000, CARD_POINTS, OTHER_DED, [], sender=r.spender
    )
    (e,) = deducted.events(rc, "EntryRecorded")
    assert (e.args.kind, e.args.reason, e.args.amount) == (DEDUCTION, CARD_POINTS, 3_000)
    assert deducted.call("deductionOf", B, ECO_HOUSEHOLD, OTHER_DED) == [3_000, 0]


def test_deductions_sharing_a_ref_add_up(deducted):
    r = deducted.roles
    deducted.tx("deduct", A, ECO_HOUSEHOLD, 1_000, TAX_PAYMENT, DED, [], sender=r.spender)
    assert deducted.call("deductionOf", A, ECO_HOUSEHOLD, DED) == [21_000, 0]
    refund(deducted, 21_000)
    assert deducted.call("balanceOf", A, ECO_HOUSEHOLD) == 50_000


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(parts=st.lists(st.integers(min_value=1, max_value=9_000), min_size=1, max_size=6))
def test_property_refunds_never_total_more_than_the_deduction(deducted, parts):
    snap = deducted.w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        r = deducted.roles
        given_back = 0
        for n, amount in enumerate(parts):
            if given_back + amount <= 20_000:
                refund(deducted, amount, n)
                given_back += amount
            else:
                name, _ = deducted.revert_of(
                    "refund", A, ECO_HOUSEHOLD, amount, DED, rid(n), sender=r.spender
                )
                assert name == "RefundExceedsDeduction"
            deducted_, refunded = deducted.call("deductionOf", A, ECO_HOUSEHOLD, DED)
            assert refunded == given_back <= deducted_ == 20_000
        assert deducted.call("balanceOf", A, ECO_HOUSEHOLD) == 30_000 + given_back
    finally:
        deducted.w3.provider.make_request("evm_revert", [snap])


def test_deduction_record_slot_is_as_documented(deducted):
    """contracts/README.md: slot keccak256(abi.encode(k, 12)), k = keccak256(abi.encode(account,
    program, ref)); value deducted | refunded << 96."""
    from eth_abi import encode
    from eth_utils import keccak

    refund(deducted, 7_000)
    k = keccak(encode(["bytes32", "uint8", "bytes32"], [A, ECO_HOUSEHOLD, DED]))
    slot = int.from_bytes(keccak(encode(["bytes32", "uint256"], [k, 12])), "big")
    raw = deducted.w3.eth.get_storage_at(deducted.contract.address, slot)
    assert int.from_bytes(raw, "big") == 20_000 | 7_000 << 96
    flag = int.from_bytes(keccak(encode(["bytes32", "uint256"], [rid(1), 13])), "big")
    assert (
        int.from_bytes(deducted.w3.eth.get_storage_at(deducted.contract.address, flag), "big") == 1
    )
