"""Live checkpoints: the older grant dates a position keeps off-chain under a count and a 96-bit
chain root (IMileageLedger `expire`, `positionOf`, `nextExpiry`).

Every list passed here is built by `ledger_helpers.live_checkpoints`, a replay of the account's
EntryRecorded entries with ledger.domain.checkpoints (the way production builds it) whose root is
asserted to equal the chain's: these tests also prove that the Python model matches the contract.
"""

from __future__ import annotations

import pytest
from checkpoint_helpers import DAY, NO_LISTS, ZERO, grant_at, kinds, lists_with, three_dates
from ledger_helpers import (
    CONVERSION_IN,
    CONVERSION_OUT,
    DEDUCTION,
    ECO_HOUSEHOLD,
    ECO_ORG,
    EXPIRY,
    SEOUL,
    TAX_PAYMENT,
    VALIDITY,
    acct,
    award_id,
    checkpoint,
)

# ---------------------------------------------------------------------------------------------
# Lists required and checked
# ---------------------------------------------------------------------------------------------


def test_every_reader_requires_the_list_when_it_is_omitted(ledger):
    r = ledger.roles
    a, b = acct("req-a"), acct("req-b")
    t0 = ledger.now() + 100
    three_dates(ledger, a, t0)
    grant_at(ledger, t0 + 3 * DAY, ECO_HOUSEHOLD, [(b, 10, 1_000, award_id(10))])
    grant_at(ledger, t0 + 4 * DAY, ECO_HOUSEHOLD, [(b, 11, 1_000, award_id(11))])
    assert ledger.position(a, ECO_HOUSEHOLD).live == 2
    assert ledger.position(b, ECO_HOUSEHOLD).live == 1
    required_a = ("LiveCheckpointsRequired", a, ECO_HOUSEHOLD, 2)
    # correct and merge need the list whenever the position has live checkpoints (and, for a
    # merge, a balance), however young they are.
    ledger.expect(
        *required_a,
        call=("correct", a, ECO_HOUSEHOLD, 1, award_id(1), t0, 1, []),
        sender=r.corrector,
    )
    ledger.expect(
        *required_a, call=("mergeAccounts", a, b, NO_LISTS, ledger.lives(b)), sender=r.registrar
    )
    ledger.expect(
        "LiveCheckpointsRequired",
        b,
        ECO_HOUSEHOLD,
        1,
        call=("mergeAccounts", a, b, ledger.lives(a), NO_LISTS),
        sender=r.registrar,
    )
    # The view needs it too.
    ledger.expect(*required_a, call=("expirableAt", a, ECO_HOUSEHOLD, t0, []), sender=r.outsider)
    # expire, deduct and convert only once something may have lapsed (nextExpiry has passed).
    assert ledger.call("expire", a, ECO_HOUSEHOLD, [], sender=r.expirer) == 0
    ledger.mine_at(t0 + VALIDITY)
    ledger.expect(*required_a, call=("expire", a, ECO_HOUSEHOLD, []), sender=r.expirer)
    ledger.expect(
        *required_a, call=("expireBatch", ECO_HOUSEHOLD, [b, a], [[], []]), sender=r.expirer
    )
    ledger.expect(
        *required_a, call=("deduct", a, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ZERO, []), sender=r.spender
    )
    ledger.expect(
        *required_a,
        call=("convert", a, ECO_HOUSEHOLD, SEOUL, 1, award_id(99), []),
        sender=r.converter,
    )
    # With the lists, every one of them goes through.
    live = ledger.live(a, ECO_HOUSEHOLD)
    assert live == [checkpoint(t0, 10_000), checkpoint(t0 + DAY, 15_000)]
    assert ledger.call("expire", a, ECO_HOUSEHOLD, live, sender=r.expirer) == 10_000
    ledger.tx("correct", a, ECO_HOUSEHOLD, 2, award_id(2), t0 + DAY, 1, live, sender=r.corrector)
    # After the correction the helper rebuilds both accounts' lists from the entries.
    ledger.tx("mergeAccounts", a, b, ledger.lives(a), ledger.lives(b), sender=r.registrar)
    assert ledger.call("balanceOf", b, ECO_HOUSEHOLD) == 2_000 + 16_999


def test_a_merge_reads_no_list_of_a_position_without_balance(ledger):
    r = ledger.roles
    a, b = acct("nobal-a"), acct("nobal-b")
    t0 = ledger.now() + 100
    three_dates(ledger, a, t0)
    ledger.tx("deduct", a, ECO_HOUSEHOLD, 17_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    # Spent out, yet still two live checkpoints (deduct does not compact).
    assert ledger.position(a, ECO_HOUSEHOLD).live == 2
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == 0
    rc = ledger.tx("mergeAccounts", a, b, NO_LISTS, NO_LISTS, sender=r.registrar)
    assert ledger.events(rc, "EntryRecorded") == []
    assert ledger.call("accountState", a)[2] == b


def _mutations(live, other_account, other_program):
    """Wrong lists for a position whose right list is `live` (two checkpoints)."""
    first, last = live
    t, c = first & 0xFFFFFFFF, first >> 32
    return {
        "time-changed": [checkpoint(t + 1, c), last],
        "cumulative-changed": [first, last + (1 << 32)],
        "first-dropped": [last],
        "last-dropped": [first],
        "extra-appended": [first, last, last + 1],
        "extra-prepended": [checkpoint(t - 1, 1), first, last],
        "swapped": [last, first],
        "other-account": other_account,
        "other-program": other_program,
    }


MUTATIONS = [
    "time-changed",
    "cumulative-changed",
    "first-dropped",
    "last-dropped",
    "extra-appended",
    "extra-prepended",
    "swapped",
    "other-account",
    "other-program",
]


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_wrong_list_is_refused_everywhere(ledger, mutation):
    """One element changed, dropped or added, or the list of another account or program:
    LiveCheckpointsMismatch from every reader."""
    r = ledger.roles
    a, o, twin = acct("wrong-a"), acct("wrong-o"), acct("wrong-twin")
    d, fresh = acct("wrong-d"), acct("wrong-new")
    t0 = ledger.now() + 100
    for k, amount in enumerate((10_000, 5_000, 2_000)):
        ts = t0 + k * DAY
        grants = [
            (a, 1 + k, amount, award_id(1 + k)),
            (twin, 11 + k, amount, award_id(11 + k)),
            (o, 31 + k, amount + 1, award_id(31 + k)),
        ]
        if k == 0:
            grants.append((d, 40, 1_000, award_id(40)))
        grant_at(ledger, ts, ECO_HOUSEHOLD, grants)
        grant_at(ledger, ts + 1, ECO_ORG, [(a, 21 + k, amount, award_id(21 + k))])
    live = ledger.live(a, ECO_HOUSEHOLD)
    assert live == [checkpoint(t0, 10_000), checkpoint(t0 + DAY, 15_000)]
    # The root binds the account: the twin's identical list has another root on chain.
    assert ledger.live(twin, ECO_HOUSEHOLD) == live
    assert ledger.position(twin, ECO_HOUSEHOLD).root != ledger.position(a, ECO_HOUSEHOLD).root
    other_account = ledger.live(o, ECO_HOUSEHOLD)
    assert other_account == [checkpoint(t0, 10_001), checkpoint(t0 + DAY, 15_002)]
    other_program = ledger.live(a, ECO_ORG)
    assert other_program == [checkpoint(t0 + 1, 10_000), checkpoint(t0 + DAY + 1, 15_000)]
    mutations = _mutations(live, other_account, other_program)
    assert list(mutations) == MUTATIONS
    wrong = mutations[mutation]
    assert wrong != live
    mismatch = ("LiveCheckpointsMismatch", a, ECO_HOUSEHOLD, 2, len(wrong))
    when = t0 + VALIDITY + 10
    ledger.mine_at(when)  # past nextExpiry: the spends read the list as well
    p = ECO_HOUSEHOLD
    calls = [
        (("expire", a, p, wrong), r.expirer),
        (("expireBatch", p, [d, a], [[], wrong]), r.expirer),
        (("expirableAt", a, p, when, wrong), r.outsider),
        (("deduct", a, p, 1, TAX_PAYMENT, ZERO, wrong), r.spender),
        (("convert", a, p, SEOUL, 1, award_id(99), wrong), r.converter),
        (("correct", a, p, 1, award_id(1), t0, 1, wrong), r.corrector),
        (("mergeAccounts", a, fresh, lists_with(ledger, a, p, wrong), NO_LISTS), r.registrar),
        # d holds ECO_HOUSEHOLD, so merging it into a reads a's list too.
        (("mergeAccounts", d, a, NO_LISTS, lists_with(ledger, a, p, wrong)), r.registrar),
    ]
    for call, sender in calls:
        ledger.expect(*mismatch, call=call, sender=sender)
    # The right list passes.
    assert ledger.call("expire", a, p, live, sender=r.expirer) == 10_000


def test_a_stale_list_is_refused(ledger):
    """A list taken before the position changed: after a new grant date, after expiry dropped
    consumed checkpoints, after a correction lowered the cumulatives."""
    r = ledger.roles
    a = acct("stale")
    t0 = ledger.now() + 100
    three_dates(ledger, a, t0)
    before = ledger.live(a, ECO_HOUSEHOLD)
    grant_at(ledger, t0 + 3 * DAY, ECO_HOUSEHOLD, [(a, 4, 1_000, award_id(4))])
    ledger.expect(
        "LiveCheckpointsMismatch",
        a,
        ECO_HOUSEHOLD,
        3,
        2,
        call=("correct", a, ECO_HOUSEHOLD, 1, award_id(1), t0, 1, before),
        sender=r.corrector,
    )
    # A correction keeps the length but lowers the later cumulatives.
    before = ledger.live(a, ECO_HOUSEHOLD)
    ledger.tx(
        "correct", a, ECO_HOUSEHOLD, 2, award_id(2), t0 + DAY, 1_000, before, sender=r.corrector
    )
    assert ledger.position(a, ECO_HOUSEHOLD).live == 3
    after = ledger.live(a, ECO_HOUSEHOLD)
    assert after == [
        checkpoint(t0, 10_000),
        checkpoint(t0 + DAY, 14_000),
        checkpoint(t0 + 2 * DAY, 16_000),
    ]
    ledger.expect(
        "LiveCheckpointsMismatch",
        a,
        ECO_HOUSEHOLD,
        3,
        3,
        call=("correct", a, ECO_HOUSEHOLD, 1, award_id(1), t0, 1, before),
        sender=r.corrector,
    )
    # Expiry drops the consumed first checkpoint.
    ledger.set_next_time(t0 + VALIDITY)
    ledger.tx("expire", a, ECO_HOUSEHOLD, after, sender=r.expirer)
    assert ledger.position(a, ECO_HOUSEHOLD).live == 2
    ledger.expect(
        "LiveCheckpointsMismatch",
        a,
        ECO_HOUSEHOLD,
        2,
        3,
        call=("correct", a, ECO_HOUSEHOLD, 3, award_id(3), t0 + 2 * DAY, 1, after),
        sender=r.corrector,
    )
    assert ledger.live(a, ECO_HOUSEHOLD) == after[1:]


# ---------------------------------------------------------------------------------------------
# Spends before and after nextExpiry
# ---------------------------------------------------------------------------------------------


def test_spends_need_a_list_only_from_next_expiry_on(ledger):
    r = ledger.roles
    a = acct("spend")
    t0, t1, t2 = (ledger.now() + 100 + k * DAY for k in range(3))
    three_dates(ledger, a, t0)
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + VALIDITY
    # Before it: no list, and even a wrong one is not read.
    ledger.set_next_time(t0 + VALIDITY - 2)
    rc = ledger.tx("deduct", a, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ZERO, [], sender=r.spender)
    assert kinds(ledger, rc) == [(DEDUCTION, 1)]
    ledger.set_next_time(t0 + VALIDITY - 1)
    rc = ledger.tx("convert", a, ECO_HOUSEHOLD, SEOUL, 1, award_id(90), [12345], sender=r.converter)
    assert kinds(ledger, rc) == [(CONVERSION_OUT, 1), (CONVERSION_IN, 1)]
    # From nextExpiry on: the list is required, and with it the lapsed mileage expires first.
    ledger.mine_at(t0 + VALIDITY)
    for call, sender in (
        (("deduct", a, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ZERO, []), r.spender),
        (("convert", a, ECO_HOUSEHOLD, SEOUL, 1, award_id(91), []), r.converter),
    ):
        ledger.expect("LiveCheckpointsRequired", a, ECO_HOUSEHOLD, 2, call=call, sender=sender)
    live = ledger.live(a, ECO_HOUSEHOLD)
    rc = ledger.tx("deduct", a, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ZERO, live, sender=r.spender)
    assert kinds(ledger, rc) == [(EXPIRY, 10_000 - 2), (DEDUCTION, 1)]
    # The expiry dropped the consumed checkpoint: nextExpiry moved to the second date.
    assert ledger.position(a, ECO_HOUSEHOLD).live == 1
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t1 + VALIDITY
    ledger.set_next_time(t1 + VALIDITY - 1)
    rc = ledger.tx("convert", a, ECO_HOUSEHOLD, SEOUL, 2, award_id(92), [], sender=r.converter)
    assert kinds(ledger, rc) == [(CONVERSION_OUT, 2), (CONVERSION_IN, 2)]
    ledger.mine_at(t1 + VALIDITY)
    ledger.expect(
        "LiveCheckpointsRequired",
        a,
        ECO_HOUSEHOLD,
        1,
        call=("convert", a, ECO_HOUSEHOLD, SEOUL, 1, award_id(93), []),
        sender=r.converter,
    )
    live = ledger.live(a, ECO_HOUSEHOLD)
    rc = ledger.tx("convert", a, ECO_HOUSEHOLD, SEOUL, 1, award_id(93), live, sender=r.converter)
    # 15,000 credited by t1, 10,001 + 2 debited: 4,997 lapsed.
    assert kinds(ledger, rc) == [(EXPIRY, 4_997), (CONVERSION_OUT, 1), (CONVERSION_IN, 1)]
    # The newest checkpoint alone is left: no list, whatever the time.
    assert ledger.position(a, ECO_HOUSEHOLD).live == 0
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t2 + VALIDITY
    ledger.mine_at(t2 + VALIDITY)
    # All of it lapsed: the spend (no list needed) finds nothing valid to spend.
    ledger.expect(
        "InsufficientBalance",
        a,
        ECO_HOUSEHOLD,
        0,
        1,
        call=("deduct", a, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ZERO, []),
        sender=r.spender,
    )
    rc = ledger.tx("expire", a, ECO_HOUSEHOLD, [], sender=r.expirer)
    assert kinds(ledger, rc) == [(EXPIRY, 17_000 - 15_001)]
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 0
