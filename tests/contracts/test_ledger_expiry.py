"""Expiry: 5 years from each grant, first-in-first-out, exact to the second, and a cost that
does not grow with the history."""

from __future__ import annotations

from itertools import pairwise

from ledger_helpers import (
    CAR,
    ECO_HOUSEHOLD,
    EXPIRY,
    R_EXPIRY,
    R_EXPIRY_DONATION,
    SEOUL,
    TAX_PAYMENT,
    VALIDITY,
    Position,
    acct,
    award_id,
    replay_heads,
)

DAY = 86400
ZERO = b"\x00" * 32


def _grant_at(ledger, ts, program, grants):
    ledger.set_next_time(ts)
    rc = ledger.grant(program, grants)
    assert ledger.w3.eth.get_block(rc.blockNumber)["timestamp"] == ts
    return rc


def _expire_at(ledger, ts, account, program=ECO_HOUSEHOLD):
    live = ledger.live(account, program)
    ledger.set_next_time(ts)
    rc = ledger.tx("expire", account, program, live, sender=ledger.roles.expirer)
    return rc, ledger.events(rc, "EntryRecorded")


def test_boundary_minus_one_second_keeps_mileage(ledger):
    a = acct("b1")
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t0 + VALIDITY - 1) == 0
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t0 + VALIDITY) == 10_000
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + VALIDITY
    # Spending two seconds before the end is still allowed (and expires nothing).
    ledger.set_next_time(t0 + VALIDITY - 2)
    rc = ledger.tx(
        "deduct", a, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ZERO, [], sender=ledger.roles.spender
    )
    assert len(ledger.events(rc, "EntryRecorded")) == 1
    _, entries = _expire_at(ledger, t0 + VALIDITY - 1, a)
    assert entries == []
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 9_999


def test_boundary_plus_one_second_expires(ledger):
    a = acct("b2")
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
    _, entries = _expire_at(ledger, t0 + VALIDITY + 1, a)
    (e,) = entries
    assert (e.args.kind, e.args.amount, e.args.reason, e.args.ref) == (
        EXPIRY,
        10_000,
        R_EXPIRY,
        ZERO,
    )
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 0
    assert ledger.call("programTotals", ECO_HOUSEHOLD) == [10_000, 10_000, 10_000]
    # Nothing more to expire, and a second run records nothing.
    _, again = _expire_at(ledger, t0 + VALIDITY + 2, a)
    assert again == []


def test_fifo_spending_consumes_oldest_first(ledger):
    a = acct("fifo")
    r = ledger.roles
    t0 = ledger.now() + 100
    t1 = t0 + 100 * DAY
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
    _grant_at(ledger, t1, ECO_HOUSEHOLD, [(a, 2, 20_000, award_id(2))])
    ledger.set_next_time(t1 + DAY)
    ledger.tx("deduct", a, ECO_HOUSEHOLD, 15_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    # The first grant is fully spent: nothing lapses at its fifth anniversary.
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t0 + VALIDITY) == 0
    _, entries = _expire_at(ledger, t0 + VALIDITY + 1, a)
    assert entries == []
    # The second grant's unspent 15,000 lapses at its own anniversary.
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t1 + VALIDITY - 1) == 0
    _, (e,) = _expire_at(ledger, t1 + VALIDITY, a)
    assert e.args.amount == 15_000
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 0


def test_partial_spend_then_expiry(ledger):
    a = acct("part")
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
    _grant_at(ledger, t0 + VALIDITY - DAY, ECO_HOUSEHOLD, [(a, 2, 30_000, award_id(2))])
    ledger.tx("deduct", a, ECO_HOUSEHOLD, 4_000, TAX_PAYMENT, ZERO, [], sender=ledger.roles.spender)
    _, (e,) = _expire_at(ledger, t0 + VALIDITY, a)
    assert e.args.amount == 6_000  # never more than lapsed and unspent
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 30_000


def test_spending_cannot_use_lapsed_mileage(ledger):
    a = acct("lapsed")
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
    _grant_at(ledger, t0 + DAY, ECO_HOUSEHOLD, [(a, 2, 5_000, award_id(2))])
    ledger.mine_at(t0 + VALIDITY + 10)
    live = ledger.live(a, ECO_HOUSEHOLD)
    assert len(live) == 1
    # deduct expires the lapsed 10,000 first, so only 5,000 is spendable.
    ledger.expect(
        "InsufficientBalance",
        a,
        ECO_HOUSEHOLD,
        5_000,
        6_000,
        call=("deduct", a, ECO_HOUSEHOLD, 6_000, TAX_PAYMENT, ZERO, live),
        sender=ledger.roles.spender,
    )
    # Past nextExpiry the spend needs the list (to expire first).
    ledger.expect(
        "LiveCheckpointsRequired",
        a,
        ECO_HOUSEHOLD,
        1,
        call=("deduct", a, ECO_HOUSEHOLD, 5_000, TAX_PAYMENT, ZERO, []),
        sender=ledger.roles.spender,
    )
    rc = ledger.tx(
        "deduct", a, ECO_HOUSEHOLD, 5_000, TAX_PAYMENT, ZERO, live, sender=ledger.roles.spender
    )
    kinds = [(e.args.kind, e.args.amount) for e in ledger.events(rc, "EntryRecorded")]
    assert kinds == [(EXPIRY, 10_000), (4, 5_000)]


def test_donation_consent_changes_reason(ledger):
    a = acct("donor")
    ledger.tx("setDonationConsent", a, True, sender=ledger.roles.registrar)
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
    _, (e,) = _expire_at(ledger, t0 + VALIDITY, a)
    assert (e.args.amount, e.args.reason) == (10_000, R_EXPIRY_DONATION)


def test_expire_batch(ledger):
    r = ledger.roles
    accts = [acct(f"batch{i}") for i in range(5)]
    t0 = ledger.now() + 100
    _grant_at(
        ledger,
        t0,
        ECO_HOUSEHOLD,
        [(x, i + 1, 1_000 * (i + 1), award_id(i + 1)) for i, x in enumerate(accts)],
    )
    ledger.set_next_time(t0 + DAY)
    ledger.tx("deduct", accts[0], ECO_HOUSEHOLD, 1_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    ledger.tx(
        "mergeAccounts",
        accts[1],
        accts[2],
        ledger.lives(accts[1]),
        ledger.lives(accts[2]),
        sender=r.registrar,
    )
    ledger.mine_at(t0 + VALIDITY)
    targets = [*accts, acct("never-seen")]
    lives = [ledger.live(x, ECO_HOUSEHOLD) for x in targets]
    assert (
        ledger.call("expireBatch", ECO_HOUSEHOLD, targets, lives, sender=r.expirer)
        == 2_000 + 3_000 + 4_000 + 5_000
    )
    rc = ledger.tx("expireBatch", ECO_HOUSEHOLD, targets, lives, sender=r.expirer)
    got = {(e.args.account, e.args.amount) for e in ledger.events(rc, "EntryRecorded")}
    assert got == {(accts[2], 5_000), (accts[3], 4_000), (accts[4], 5_000)}
    assert all(ledger.call("balanceOf", x, ECO_HOUSEHOLD) == 0 for x in accts)
    assert all(replay_heads(ledger)[x] == tuple(ledger.call("accountState", x)[:2]) for x in accts)


def test_expiry_reads_only_live_checkpoints(ledger):
    """Expiring the k-th of n grants reads the live checkpoints only: each expiry drops what it
    consumed, so the list (and the cost) shrinks, and the last expiry of an account with 24 grants
    of history costs about what that of an account with one grant does."""
    a, b = acct("long"), acct("short")
    t0 = ledger.now() + 100
    n = 24
    for i in range(n):
        grants = [(a, 100 + i, 1_000, award_id(100 + i))]
        if i == 0:
            grants.append((b, 99, 1_000, award_id(99)))
        _grant_at(ledger, t0 + i * DAY, ECO_HOUSEHOLD, grants)
    gas, counts = [], []
    for i in range(n):
        counts.append(ledger.position(a, ECO_HOUSEHOLD).live)
        assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + i * DAY + VALIDITY
        rc, (e,) = _expire_at(ledger, t0 + i * DAY + VALIDITY, a)
        assert e.args.amount == 1_000
        gas.append(rc.gasUsed)
    assert counts == [n - 1 - i for i in range(n)]
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 0
    assert ledger.position(a, ECO_HOUSEHOLD).live == 0
    assert all(x > y for x, y in pairwise(gas)), gas
    rc_b, _ = _expire_at(ledger, t0 + n * DAY + VALIDITY, b)
    # Account a's last expiry (24 grants of history, none live) costs about what b's (1 grant) does.
    assert abs(gas[-1] - rc_b.gasUsed) < 6_000, (gas[-1], rc_b.gasUsed)


def test_history_is_dropped_once_everything_is_spent(ledger):
    a = acct("spent")
    r = ledger.roles
    t0 = ledger.now() + 100
    for i in range(3):
        _grant_at(ledger, t0 + i * DAY, ECO_HOUSEHOLD, [(a, 1 + i, 1_000, award_id(1 + i))])
    assert ledger.position(a, ECO_HOUSEHOLD).live == 2
    ledger.tx("convert", a, ECO_HOUSEHOLD, SEOUL, 3_000, award_id(50), [], sender=r.converter)
    t1 = t0 + 10 * DAY
    _grant_at(ledger, t1, ECO_HOUSEHOLD, [(a, 9, 2_000, award_id(9))])
    # The position restarted: no live checkpoint, amounts from zero.
    assert ledger.position(a, ECO_HOUSEHOLD) == Position(2_000, 2_000, 0, t1, t1, 0, 0)
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t0 + VALIDITY + 5 * DAY) == 0
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t1 + VALIDITY) == 2_000


def test_converted_mileage_is_valid_from_conversion(ledger):
    a = acct("seoul")
    r = ledger.roles
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
    tc = t0 + 365 * DAY
    ledger.set_next_time(tc)
    ledger.tx("convert", a, ECO_HOUSEHOLD, SEOUL, 10_000, award_id(60), [], sender=r.converter)
    assert ledger.call("nextExpiry", a, SEOUL) == tc + VALIDITY
    assert ledger.expirable_at(a, SEOUL, tc + VALIDITY - 1) == 0
    assert ledger.expirable_at(a, SEOUL, tc + VALIDITY) == 10_000
    _, (e,) = _expire_at(ledger, tc + VALIDITY, a, SEOUL)
    assert (e.args.program, e.args.amount) == (SEOUL, 10_000)


def test_expirable_now_and_unknown_program(ledger):
    a = acct("now")
    now = ledger.now()
    assert ledger.call("expirableAt", a, ECO_HOUSEHOLD, now, []) == 0
    assert ledger.call("expirableAt", a, 0, now + VALIDITY, []) == 0
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == 0
    assert ledger.call("nextExpiry", a, 0) == 0
    ledger.expect("UnknownProgram", 0, call=("expire", a, 0, []), sender=ledger.roles.expirer)
    ledger.expect(
        "UnknownProgram", 9, call=("expireBatch", 9, [a], [[]]), sender=ledger.roles.expirer
    )
    assert ledger.call("expire", a, CAR, [], sender=ledger.roles.expirer) == 0
