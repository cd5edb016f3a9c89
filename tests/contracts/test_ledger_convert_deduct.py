"""convert (routes, rates, idempotency by conversion id) and deduct (reasons, balances)."""

from __future__ import annotations

import pytest
from ledger_helpers import (
    BIKE,
    CAR,
    CONVERSION_IN,
    CONVERSION_OUT,
    DEDUCTION,
    ECO_HOUSEHOLD,
    NONE,
    R_CONVERSION,
    SEOUL,
    TAX_PAYMENT,
    acct,
    award_id,
    replay_heads,
)

A = acct("conv")
CID = award_id(1000)


@pytest.fixture
def funded(ledger):
    ledger.grant(ECO_HOUSEHOLD, [(A, 1, 50_000, award_id(1))])
    return ledger


def test_convert_one_to_one_into_seoul(funded):
    r = funded.roles
    assert (
        funded.call("convert", A, ECO_HOUSEHOLD, SEOUL, 30_000, CID, [], sender=r.converter)
        == 30_000
    )
    rc = funded.tx("convert", A, ECO_HOUSEHOLD, SEOUL, 30_000, CID, [], sender=r.converter)
    out, inn = funded.events(rc, "EntryRecorded")
    assert (out.args.kind, out.args.program, out.args.amount, out.args.reason, out.args.ref) == (
        CONVERSION_OUT,
        ECO_HOUSEHOLD,
        30_000,
        R_CONVERSION,
        CID,
    )
    assert (inn.args.kind, inn.args.program, inn.args.amount, inn.args.reason, inn.args.ref) == (
        CONVERSION_IN,
        SEOUL,
        30_000,
        NONE,
        CID,
    )
    assert funded.call("balancesOf", A)[ECO_HOUSEHOLD] == 20_000
    assert funded.call("balancesOf", A)[SEOUL] == 30_000
    assert funded.call("isConversionRecorded", CID)
    assert funded.call("programTotals", ECO_HOUSEHOLD) == [50_000, 50_000, 30_000]
    assert funded.call("programTotals", SEOUL) == [0, 30_000, 0]
    assert replay_heads(funded)[A][0] == 3


def test_convert_is_idempotent(funded):
    r = funded.roles
    funded.tx("convert", A, ECO_HOUSEHOLD, SEOUL, 10_000, CID, [], sender=r.converter)
    assert funded.call("convert", A, ECO_HOUSEHOLD, SEOUL, 10_000, CID, [], sender=r.converter) == 0
    rc = funded.tx("convert", A, ECO_HOUSEHOLD, SEOUL, 10_000, CID, [], sender=r.converter)
    assert [e.args.conversionId for e in funded.events(rc, "ConversionSkipped")] == [CID]
    assert not funded.events(rc, "EntryRecorded")
    assert funded.call("balanceOf", A, ECO_HOUSEHOLD) == 40_000


def test_rate_rounds_down_exactly(funded):
    r = funded.roles
    funded.tx("setRoute", ECO_HOUSEHOLD, SEOUL, 2, 3, sender=r.admin)
    assert (
        funded.call("convert", A, ECO_HOUSEHOLD, SEOUL, 10_000, CID, [], sender=r.converter)
        == 6_666
    )
    funded.tx("convert", A, ECO_HOUSEHOLD, SEOUL, 10_000, CID, [], sender=r.converter)
    assert funded.call("balanceOf", A, SEOUL) == 6_666
    funded.expect(
        "ConversionRoundsToZero",
        ECO_HOUSEHOLD,
        SEOUL,
        1,
        call=("convert", A, ECO_HOUSEHOLD, SEOUL, 1, award_id(2), []),
        sender=r.converter,
    )
    big = 2**64 - 1
    funded.tx("setRoute", ECO_HOUSEHOLD, SEOUL, big, 1, sender=r.admin)
    funded.expect(
        "AmountOverflow",
        2**40 * big,
        call=("convert", A, ECO_HOUSEHOLD, SEOUL, 2**40, award_id(3), []),
        sender=r.converter,
    )


def test_route_must_be_open(funded):
    r = funded.roles
    funded.expect(
        "RouteNotAllowed",
        ECO_HOUSEHOLD,
        CAR,
        call=("convert", A, ECO_HOUSEHOLD, CAR, 1, CID, []),
        sender=r.converter,
    )
    funded.tx("setRoute", ECO_HOUSEHOLD, SEOUL, 0, 1, sender=r.admin)  # closed
    funded.expect(
        "RouteNotAllowed",
        ECO_HOUSEHOLD,
        SEOUL,
        call=("convert", A, ECO_HOUSEHOLD, SEOUL, 1, CID, []),
        sender=r.converter,
    )
    funded.tx("setRoute", ECO_HOUSEHOLD, BIKE, 1, 1, sender=r.admin)
    funded.tx("convert", A, ECO_HOUSEHOLD, BIKE, 5, CID, [], sender=r.converter)
    assert funded.call("balanceOf", A, BIKE) == 5


def test_convert_insufficient_and_zero(funded):
    r = funded.roles
    funded.expect(
        "InsufficientBalance",
        A,
        ECO_HOUSEHOLD,
        50_000,
        50_001,
        call=("convert", A, ECO_HOUSEHOLD, SEOUL, 50_001, CID, []),
        sender=r.converter,
    )
    funded.expect(
        "ZeroAmount", call=("convert", A, ECO_HOUSEHOLD, SEOUL, 0, CID, []), sender=r.converter
    )
    funded.expect(
        "UnknownProgram", 9, call=("convert", A, 9, SEOUL, 1, CID, []), sender=r.converter
    )
    funded.expect(
        "InvalidAccount",
        b"\x00" * 32,
        call=("convert", b"\x00" * 32, ECO_HOUSEHOLD, SEOUL, 1, CID, []),
        sender=r.converter,
    )
    assert not funded.call("isConversionRecorded", CID)


def test_deduct(funded):
    r = funded.roles
    ref = award_id(77)
    rc = funded.tx("deduct", A, ECO_HOUSEHOLD, 20_000, TAX_PAYMENT, ref, [], sender=r.spender)
    (e,) = funded.events(rc, "EntryRecorded")
    assert (e.args.kind, e.args.amount, e.args.reason, e.args.ref) == (
        DEDUCTION,
        20_000,
        TAX_PAYMENT,
        ref,
    )
    assert funded.call("balanceOf", A, ECO_HOUSEHOLD) == 30_000
    funded.tx("deduct", A, ECO_HOUSEHOLD, 30_000, 9, ref, [], sender=r.spender)  # DONATION, to zero
    assert funded.call("balanceOf", A, ECO_HOUSEHOLD) == 0
    funded.expect(
        "InsufficientBalance",
        A,
        ECO_HOUSEHOLD,
        0,
        1,
        call=("deduct", A, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ref, []),
        sender=r.spender,
    )


@pytest.mark.parametrize("reason", [0, 1, 10, 11, 12, 13, 15, 255])
def test_deduct_rejects_reserved_reasons(funded, reason):
    funded.expect(
        "InvalidReason",
        reason,
        call=("deduct", A, ECO_HOUSEHOLD, 1, reason, b"\x00" * 32, []),
        sender=funded.roles.spender,
    )


def test_deduct_zero_and_unknown(funded):
    r = funded.roles
    funded.expect(
        "ZeroAmount", call=("deduct", A, ECO_HOUSEHOLD, 0, TAX_PAYMENT, CID, []), sender=r.spender
    )
    funded.expect(
        "UnknownProgram", 0, call=("deduct", A, 0, 1, TAX_PAYMENT, CID, []), sender=r.spender
    )
