"""Corrections (reverse an identified award, never more than remains) and account merges."""

from __future__ import annotations

from ledger_helpers import (
    CAR,
    CORRECTION,
    ECO_HOUSEHOLD,
    MERGE_IN,
    MERGE_OUT,
    NONE,
    R_CORRECTION,
    R_MERGE,
    SEOUL,
    TAX_PAYMENT,
    VALIDITY,
    acct,
    award_id,
    checkpoint,
    replay_heads,
)

DAY = 86400
ZERO = b"\x00" * 32


def _grant_at(ledger, ts, program, grants):
    ledger.set_next_time(ts)
    return ledger.grant(program, grants)


def _correct(ledger, account, award_no, granted_at, amount, program=ECO_HOUSEHOLD):
    return ledger.tx(
        "correct",
        account,
        program,
        award_no,
        award_id(award_no),
        granted_at,
        amount,
        ledger.live(account, program),
        sender=ledger.roles.corrector,
    )


def _expect_correct(
    ledger,
    error,
    *values,
    account,
    award_no,
    granted_at,
    amount,
    program=ECO_HOUSEHOLD,
    live=None,
):
    if live is None:
        live = ledger.live(account, program)
    ledger.expect(
        error,
        *values,
        call=("correct", account, program, award_no, award_id(award_no), granted_at, amount, live),
        sender=ledger.roles.corrector,
    )


def _merge(ledger, old, new):
    return ledger.tx(
        "mergeAccounts",
        old,
        new,
        ledger.lives(old),
        ledger.lives(new),
        sender=ledger.roles.registrar,
    )


NO_LISTS = [[] for _ in range(7)]


def test_correction_reverses_an_award_up_to_what_remains(ledger):
    a = acct("c1")
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 50_000, award_id(1))])
    rc = _correct(ledger, a, 1, t0, 20_000)
    (e,) = ledger.events(rc, "EntryRecorded")
    assert (e.args.kind, e.args.amount, e.args.reason, e.args.ref) == (
        CORRECTION,
        20_000,
        R_CORRECTION,
        award_id(1),
    )
    (c,) = ledger.events(rc, "AwardCorrected")
    assert (c.args.awardNo, c.args.account, c.args.program, c.args.amount) == (
        1,
        a,
        ECO_HOUSEHOLD,
        20_000,
    )
    _expect_correct(
        ledger,
        "CorrectionExceedsRemaining",
        1,
        30_000,
        30_001,
        account=a,
        award_no=1,
        granted_at=t0,
        amount=30_001,
    )
    _correct(ledger, a, 1, t0, 30_000)
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 0
    _expect_correct(
        ledger,
        "CorrectionExceedsRemaining",
        1,
        0,
        1,
        account=a,
        award_no=1,
        granted_at=t0,
        amount=1,
    )
    assert ledger.call("programTotals", ECO_HOUSEHOLD) == [50_000, 50_000, 50_000]


def test_correction_cannot_take_spent_mileage(ledger):
    a = acct("c2")
    t0 = ledger.now() + 100
    t1 = t0 + DAY
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
    _grant_at(ledger, t1, ECO_HOUSEHOLD, [(a, 2, 20_000, award_id(2))])
    ledger.tx(
        "deduct", a, ECO_HOUSEHOLD, 15_000, TAX_PAYMENT, ZERO, [], sender=ledger.roles.spender
    )
    # FIFO: award 1 is fully spent, award 2 has 15,000 left.
    _expect_correct(
        ledger,
        "CorrectionExceedsRemaining",
        1,
        0,
        1,
        account=a,
        award_no=1,
        granted_at=t0,
        amount=1,
    )
    _expect_correct(
        ledger,
        "CorrectionExceedsRemaining",
        2,
        15_000,
        15_001,
        account=a,
        award_no=2,
        granted_at=t1,
        amount=15_001,
    )
    _correct(ledger, a, 2, t1, 15_000)
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 0


def test_correction_keeps_expiry_of_other_awards_exact(ledger):
    a = acct("c3")
    t0 = ledger.now() + 100
    t1, t2 = t0 + DAY, t0 + 2 * DAY
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 1_000, award_id(1))])
    _grant_at(ledger, t1, ECO_HOUSEHOLD, [(a, 2, 2_000, award_id(2))])
    _grant_at(ledger, t2, ECO_HOUSEHOLD, [(a, 3, 3_000, award_id(3))])
    _correct(ledger, a, 2, t1, 2_000)  # a live checkpoint in the middle
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t0 + VALIDITY) == 1_000
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t1 + VALIDITY) == 1_000
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t2 + VALIDITY) == 4_000
    _correct(ledger, a, 1, t0, 1_000)
    # Had the correction been a FIFO debit, nothing of award 3 would be left to lapse.
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t2 + VALIDITY) == 3_000


def test_correction_errors(ledger):
    a = acct("c4")
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 1_000, award_id(1))])
    _expect_correct(
        ledger, "AwardNotRecorded", ECO_HOUSEHOLD, 2, account=a, award_no=2, granted_at=t0, amount=1
    )
    _expect_correct(
        ledger,
        "CorrectionExceedsRemaining",
        1,
        0,
        1,
        account=a,
        award_no=1,
        granted_at=t0 - 1,
        amount=1,
    )
    # Award number 1 is ECO_HOUSEHOLD's: numbers are per program, so CAR has none.
    _expect_correct(
        ledger,
        "AwardNotRecorded",
        CAR,
        1,
        account=a,
        award_no=1,
        granted_at=t0,
        amount=1,
        program=CAR,
    )
    _expect_correct(ledger, "ZeroAmount", account=a, award_no=1, granted_at=t0, amount=0)
    _expect_correct(
        ledger,
        "UnknownProgram",
        0,
        account=a,
        award_no=1,
        granted_at=t0,
        amount=1,
        program=0,
        live=[],
    )


def test_merge_moves_every_balance(ledger):
    old, new = acct("car-acct"), acct("eco-acct")
    ledger.grant(ECO_HOUSEHOLD, [(old, 1, 10_000, award_id(1)), (new, 2, 5_000, award_id(2))])
    ledger.grant(CAR, [(old, 3, 70_000, award_id(3))])
    totals_before = {p: ledger.call("programTotals", p) for p in (ECO_HOUSEHOLD, CAR)}
    rc = _merge(ledger, old, new)
    entries = [
        (e.args.account, e.args.kind, e.args.program, e.args.amount, e.args.reason, e.args.ref)
        for e in ledger.events(rc, "EntryRecorded")
    ]
    assert entries == [
        (old, MERGE_OUT, ECO_HOUSEHOLD, 10_000, R_MERGE, new),
        (new, MERGE_IN, ECO_HOUSEHOLD, 10_000, NONE, old),
        (old, MERGE_OUT, CAR, 70_000, R_MERGE, new),
        (new, MERGE_IN, CAR, 70_000, NONE, old),
    ]
    (m,) = ledger.events(rc, "AccountsMerged")
    assert (m.args["from"], m.args.into) == (old, new)
    assert ledger.call("balancesOf", old) == [0] * 8
    assert ledger.call("balancesOf", new)[ECO_HOUSEHOLD] == 15_000
    assert ledger.call("balancesOf", new)[CAR] == 70_000
    assert ledger.call("accountState", old)[2] == new
    for p in (ECO_HOUSEHOLD, CAR):
        g, c, d = ledger.call("programTotals", p)
        assert g == totals_before[p][0] and c - d == totals_before[p][1] - totals_before[p][2]
    heads = replay_heads(ledger)
    assert heads[old] == tuple(ledger.call("accountState", old)[:2])
    assert heads[new] == tuple(ledger.call("accountState", new)[:2])


def test_merge_keeps_grant_dates(ledger):
    r = ledger.roles
    old, new = acct("m-old"), acct("m-new")
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(old, 1, 10_000, award_id(1))])
    _grant_at(ledger, t0 + 10 * DAY, ECO_HOUSEHOLD, [(new, 2, 7_000, award_id(2))])
    _grant_at(ledger, t0 + 20 * DAY, ECO_HOUSEHOLD, [(old, 3, 5_000, award_id(3))])
    ledger.tx(
        "deduct", old, ECO_HOUSEHOLD, 12_000, TAX_PAYMENT, ZERO, [], sender=r.spender
    )  # old keeps 3,000 of t0+20d
    ledger.set_next_time(t0 + 30 * DAY)
    _merge(ledger, old, new)
    assert ledger.call("balanceOf", new, ECO_HOUSEHOLD) == 10_000
    # Rebuilt from the unspent segments: (t0+10d, 7,000) is live, (t0+20d, 3,000) the newest.
    assert ledger.live(new, ECO_HOUSEHOLD) == [checkpoint(t0 + 10 * DAY, 7_000)]
    assert ledger.call("nextExpiry", new, ECO_HOUSEHOLD) == t0 + 10 * DAY + VALIDITY
    assert ledger.expirable_at(new, ECO_HOUSEHOLD, t0 + VALIDITY) == 0
    assert ledger.expirable_at(new, ECO_HOUSEHOLD, t0 + 10 * DAY + VALIDITY) == 7_000
    assert ledger.expirable_at(new, ECO_HOUSEHOLD, t0 + 20 * DAY + VALIDITY) == 10_000
    # The moved award can still be corrected on the successor, by its grant date.
    _correct(ledger, new, 3, t0 + 20 * DAY, 3_000)
    _expect_correct(
        ledger,
        "AccountMerged",
        old,
        new,
        account=old,
        award_no=3,
        granted_at=t0 + 20 * DAY,
        amount=1,
    )
    assert ledger.expirable_at(new, ECO_HOUSEHOLD, t0 + 20 * DAY + VALIDITY) == 7_000


def test_merge_errors_and_merged_account_is_closed(ledger):
    r = ledger.roles
    a, b, c = acct("ma"), acct("mb"), acct("mc")
    ledger.grant(ECO_HOUSEHOLD, [(a, 1, 1_000, award_id(1))])
    for x, y in ((a, a), (ZERO, a), (a, ZERO)):
        error = ("SameAccount", a) if x == y else ("InvalidAccount", ZERO)
        ledger.expect(*error, call=("mergeAccounts", x, y, NO_LISTS, NO_LISTS), sender=r.registrar)
    _merge(ledger, a, b)
    ledger.expect(
        "AccountMerged", a, b, call=("mergeAccounts", a, c, NO_LISTS, NO_LISTS), sender=r.registrar
    )
    ledger.expect(
        "AccountMerged", a, b, call=("mergeAccounts", c, a, NO_LISTS, NO_LISTS), sender=r.registrar
    )
    ledger.expect(
        "AccountMerged",
        a,
        b,
        call=("deduct", a, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ZERO, []),
        sender=r.spender,
    )
    ledger.expect(
        "AccountMerged",
        a,
        b,
        call=("convert", a, ECO_HOUSEHOLD, SEOUL, 1, ZERO, []),
        sender=r.converter,
    )
    ledger.expect("AccountMerged", a, b, call=("setDonationConsent", a, True), sender=r.registrar)
    # Merging an empty account records no entries but still closes it.
    rc = _merge(ledger, c, b)
    assert ledger.events(rc, "EntryRecorded") == []
    assert ledger.call("accountState", c)[2] == b


def test_chain_of_merges(ledger):
    a, b, c = acct("ca"), acct("cb"), acct("cc")
    t0 = ledger.now() + 100
    _grant_at(
        ledger,
        t0,
        ECO_HOUSEHOLD,
        [(a, 1, 1_000, award_id(1)), (b, 2, 2_000, award_id(2)), (c, 3, 4_000, award_id(3))],
    )
    _merge(ledger, a, b)
    _merge(ledger, b, c)
    assert ledger.call("balanceOf", c, ECO_HOUSEHOLD) == 7_000
    assert ledger.expirable_at(c, ECO_HOUSEHOLD, t0 + VALIDITY - 1) == 0
    assert ledger.expirable_at(c, ECO_HOUSEHOLD, t0 + VALIDITY) == 7_000
