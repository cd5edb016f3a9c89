"""Live checkpoints: the older grant dates a position keeps off-chain under a count and a 96-bit
chain root (IMileageLedger `expire`, `positionOf`, `nextExpiry`).

Every list passed here is built by `ledger_helpers.live_checkpoints`, a replay of the account's
EntryRecorded entries with ledger.domain.checkpoints (the way production builds it) whose root is
asserted to equal the chain's: these tests also prove that the Python model matches the contract.
"""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak
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
    Position,
    acct,
    award_id,
    chain_root,
    checkpoint,
)

DAY = 86400
ZERO = b"\x00" * 32
M40 = (1 << 40) - 1
NO_LISTS = [[] for _ in range(7)]


def _grant_at(ledger, ts, program, grants):
    ledger.set_next_time(ts)
    rc = ledger.grant(program, grants)
    assert ledger.w3.eth.get_block(rc.blockNumber)["timestamp"] == ts
    return rc


def _kinds(ledger, rc):
    return [(e.args.kind, e.args.amount) for e in ledger.events(rc, "EntryRecorded")]


def _lists(ledger, account, program, live):
    """The 7 lists of mergeAccounts: `account`'s own, with `live` for `program`."""
    lists = ledger.lives(account)
    lists[program - 1] = live
    return lists


def _three_dates(ledger, a, t0, program=ECO_HOUSEHOLD, first_no=1):
    """10,000 at t0, 5,000 at t0 + 1 day, 2,000 at t0 + 2 days: two live checkpoints."""
    for k, amount in enumerate((10_000, 5_000, 2_000)):
        no = first_no + k
        _grant_at(ledger, t0 + k * DAY, program, [(a, no, amount, award_id(no))])


# ---------------------------------------------------------------------------------------------
# Lists required and checked
# ---------------------------------------------------------------------------------------------


def test_every_reader_requires_the_list_when_it_is_omitted(ledger):
    r = ledger.roles
    a, b = acct("req-a"), acct("req-b")
    t0 = ledger.now() + 100
    _three_dates(ledger, a, t0)
    _grant_at(ledger, t0 + 3 * DAY, ECO_HOUSEHOLD, [(b, 10, 1_000, award_id(10))])
    _grant_at(ledger, t0 + 4 * DAY, ECO_HOUSEHOLD, [(b, 11, 1_000, award_id(11))])
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
    _three_dates(ledger, a, t0)
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
        _grant_at(ledger, ts, ECO_HOUSEHOLD, grants)
        _grant_at(ledger, ts + 1, ECO_ORG, [(a, 21 + k, amount, award_id(21 + k))])
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
        (("mergeAccounts", a, fresh, _lists(ledger, a, p, wrong), NO_LISTS), r.registrar),
        # d holds ECO_HOUSEHOLD, so merging it into a reads a's list too.
        (("mergeAccounts", d, a, NO_LISTS, _lists(ledger, a, p, wrong)), r.registrar),
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
    _three_dates(ledger, a, t0)
    before = ledger.live(a, ECO_HOUSEHOLD)
    _grant_at(ledger, t0 + 3 * DAY, ECO_HOUSEHOLD, [(a, 4, 1_000, award_id(4))])
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
    _three_dates(ledger, a, t0)
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + VALIDITY
    # Before it: no list, and even a wrong one is not read.
    ledger.set_next_time(t0 + VALIDITY - 2)
    rc = ledger.tx("deduct", a, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ZERO, [], sender=r.spender)
    assert _kinds(ledger, rc) == [(DEDUCTION, 1)]
    ledger.set_next_time(t0 + VALIDITY - 1)
    rc = ledger.tx("convert", a, ECO_HOUSEHOLD, SEOUL, 1, award_id(90), [12345], sender=r.converter)
    assert _kinds(ledger, rc) == [(CONVERSION_OUT, 1), (CONVERSION_IN, 1)]
    # From nextExpiry on: the list is required, and with it the lapsed mileage expires first.
    ledger.mine_at(t0 + VALIDITY)
    for call, sender in (
        (("deduct", a, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ZERO, []), r.spender),
        (("convert", a, ECO_HOUSEHOLD, SEOUL, 1, award_id(91), []), r.converter),
    ):
        ledger.expect("LiveCheckpointsRequired", a, ECO_HOUSEHOLD, 2, call=call, sender=sender)
    live = ledger.live(a, ECO_HOUSEHOLD)
    rc = ledger.tx("deduct", a, ECO_HOUSEHOLD, 1, TAX_PAYMENT, ZERO, live, sender=r.spender)
    assert _kinds(ledger, rc) == [(EXPIRY, 10_000 - 2), (DEDUCTION, 1)]
    # The expiry dropped the consumed checkpoint: nextExpiry moved to the second date.
    assert ledger.position(a, ECO_HOUSEHOLD).live == 1
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t1 + VALIDITY
    ledger.set_next_time(t1 + VALIDITY - 1)
    rc = ledger.tx("convert", a, ECO_HOUSEHOLD, SEOUL, 2, award_id(92), [], sender=r.converter)
    assert _kinds(ledger, rc) == [(CONVERSION_OUT, 2), (CONVERSION_IN, 2)]
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
    assert _kinds(ledger, rc) == [(EXPIRY, 4_997), (CONVERSION_OUT, 1), (CONVERSION_IN, 1)]
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
    assert _kinds(ledger, rc) == [(EXPIRY, 17_000 - 15_001)]
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 0


# ---------------------------------------------------------------------------------------------
# Compaction, nextExpiry, restarts
# ---------------------------------------------------------------------------------------------


def test_expire_compacts_the_list(ledger):
    r = ledger.roles
    a = acct("compact")
    t0 = ledger.now() + 100
    ts = [t0 + k * DAY for k in range(5)]
    for k, t in enumerate(ts):
        _grant_at(ledger, t, ECO_HOUSEHOLD, [(a, 1 + k, 1_000, award_id(1 + k))])
    ledger.tx("deduct", a, ECO_HOUSEHOLD, 2_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    # Spending consumed the first two dates but drops nothing: nextExpiry stays conservative.
    pos = ledger.position(a, ECO_HOUSEHOLD)
    assert (pos.live, pos.oldest) == (4, t0)
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + VALIDITY
    # Before it, expire reads nothing (no list needed) and changes nothing.
    ledger.set_next_time(t0 + VALIDITY - 1)
    rc = ledger.tx("expire", a, ECO_HOUSEHOLD, [], sender=r.expirer)
    assert ledger.events(rc, "EntryRecorded") == []
    assert ledger.position(a, ECO_HOUSEHOLD) == pos
    # At it: nothing unspent lapsed (no entry), but the consumed checkpoints are dropped.
    old = ledger.live(a, ECO_HOUSEHOLD)
    assert len(old) == 4
    ledger.set_next_time(t0 + VALIDITY)
    rc = ledger.tx("expire", a, ECO_HOUSEHOLD, old, sender=r.expirer)
    assert ledger.events(rc, "EntryRecorded") == []
    kept = [checkpoint(ts[2], 3_000), checkpoint(ts[3], 4_000)]
    root = chain_root(a, ECO_HOUSEHOLD, kept)
    assert ledger.position(a, ECO_HOUSEHOLD) == Position(3_000, 5_000, 2_000, ts[4], ts[2], 2, root)
    assert ledger.live(a, ECO_HOUSEHOLD) == kept == old[2:]
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == ts[2] + VALIDITY
    ledger.expect(
        "LiveCheckpointsMismatch",
        a,
        ECO_HOUSEHOLD,
        2,
        4,
        call=("correct", a, ECO_HOUSEHOLD, 5, award_id(5), ts[4], 1, old),
        sender=r.corrector,
    )
    # The next lapse expires 1,000 and drops one more.
    ledger.set_next_time(ts[2] + VALIDITY)
    rc = ledger.tx("expire", a, ECO_HOUSEHOLD, kept, sender=r.expirer)
    assert _kinds(ledger, rc) == [(EXPIRY, 1_000)]
    assert ledger.position(a, ECO_HOUSEHOLD).live == 1
    assert ledger.live(a, ECO_HOUSEHOLD) == kept[1:]


def test_correction_compacts_the_list(ledger):
    """A correction that leaves a checkpoint with nothing unspent drops it (with the consumed
    ones before it)."""
    r = ledger.roles
    a = acct("corr-compact")
    t0 = ledger.now() + 100
    ts = [t0 + k * DAY for k in range(3)]
    for k, t in enumerate(ts):
        _grant_at(ledger, t, ECO_HOUSEHOLD, [(a, 1 + k, 1_000, award_id(1 + k))])
    ledger.tx("deduct", a, ECO_HOUSEHOLD, 1_500, TAX_PAYMENT, ZERO, [], sender=r.spender)
    live = ledger.live(a, ECO_HOUSEHOLD)
    ledger.tx("correct", a, ECO_HOUSEHOLD, 2, award_id(2), ts[1], 500, live, sender=r.corrector)
    assert ledger.position(a, ECO_HOUSEHOLD) == Position(1_000, 2_500, 1_500, ts[2], ts[2], 0, 0)
    assert ledger.live(a, ECO_HOUSEHOLD) == []
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == ts[2] + VALIDITY


def test_next_expiry_values(ledger):
    r = ledger.roles
    a, b, c = acct("ne-a"), acct("ne-b"), acct("ne-c")
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == 0
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 1_000, award_id(1))])
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + VALIDITY
    assert ledger.call("nextExpiry", a, SEOUL) == 0
    _grant_at(
        ledger, t0 + DAY, ECO_HOUSEHOLD, [(a, 2, 1_000, award_id(2)), (b, 3, 500, award_id(3))]
    )
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + VALIDITY
    assert ledger.call("nextExpiry", b, ECO_HOUSEHOLD) == t0 + DAY + VALIDITY
    # Spending the whole first date leaves it conservative (earlier than the truth)...
    ledger.tx("deduct", a, ECO_HOUSEHOLD, 1_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + VALIDITY
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t0 + VALIDITY) == 0
    # ...until a reader of the list makes it exact.
    ledger.set_next_time(t0 + VALIDITY)
    ledger.tx("expire", a, ECO_HOUSEHOLD, ledger.live(a, ECO_HOUSEHOLD), sender=r.expirer)
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + DAY + VALIDITY
    # A merge moves the grant dates: the successor's nextExpiry is its oldest unspent date.
    _grant_at(ledger, t0 + VALIDITY + 1, ECO_HOUSEHOLD, [(c, 4, 700, award_id(4))])
    assert ledger.call("nextExpiry", c, ECO_HOUSEHOLD) == t0 + VALIDITY + 1 + VALIDITY
    ledger.tx("mergeAccounts", a, c, ledger.lives(a), ledger.lives(c), sender=r.registrar)
    assert ledger.call("nextExpiry", c, ECO_HOUSEHOLD) == t0 + DAY + VALIDITY
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == 0  # merged away: holds nothing
    # Spent out: 0, and a later credit restarts it.
    ledger.tx("deduct", b, ECO_HOUSEHOLD, 500, TAX_PAYMENT, ZERO, [], sender=r.spender)
    assert ledger.call("nextExpiry", b, ECO_HOUSEHOLD) == 0
    t3 = t0 + VALIDITY + 10 * DAY
    _grant_at(ledger, t3, ECO_HOUSEHOLD, [(b, 5, 100, award_id(5))])
    assert ledger.call("nextExpiry", b, ECO_HOUSEHOLD) == t3 + VALIDITY


@pytest.mark.parametrize("how", ["deduct", "convert", "expire", "correct"])
def test_a_credit_after_spending_everything_restarts_the_position(ledger, how):
    r = ledger.roles
    a = acct(f"restart-{how}")
    t0 = ledger.now() + 100
    ts = [t0 + k * DAY for k in range(3)]
    for k, t in enumerate(ts):
        _grant_at(ledger, t, ECO_HOUSEHOLD, [(a, 1 + k, 1_000 * (k + 1), award_id(1 + k))])
    assert ledger.position(a, ECO_HOUSEHOLD).live == 2
    if how == "deduct":
        ledger.tx("deduct", a, ECO_HOUSEHOLD, 6_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
        # A spend compacts nothing: the count stays until the next credit.
        pos = ledger.position(a, ECO_HOUSEHOLD)
        assert (pos.balance, pos.granted, pos.debited, pos.live) == (0, 6_000, 6_000, 2)
    elif how == "convert":
        ledger.tx("convert", a, ECO_HOUSEHOLD, SEOUL, 6_000, award_id(50), [], sender=r.converter)
    elif how == "expire":
        ledger.set_next_time(ts[2] + VALIDITY)
        ledger.tx("expire", a, ECO_HOUSEHOLD, ledger.live(a, ECO_HOUSEHOLD), sender=r.expirer)
    else:
        for k in (2, 1, 0):
            ledger.tx(
                "correct",
                a,
                ECO_HOUSEHOLD,
                1 + k,
                award_id(1 + k),
                ts[k],
                1_000 * (k + 1),
                ledger.live(a, ECO_HOUSEHOLD),
                sender=r.corrector,
            )
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 0
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == 0
    t3 = ledger.now() + 10 * DAY
    _grant_at(ledger, t3, ECO_HOUSEHOLD, [(a, 9, 700, award_id(9))])
    assert ledger.position(a, ECO_HOUSEHOLD) == Position(700, 700, 0, t3, t3, 0, 0)
    assert ledger.live(a, ECO_HOUSEHOLD) == []
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t3 + VALIDITY - 1) == 0
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t3 + VALIDITY) == 700


def test_a_conversion_into_a_spent_out_program_restarts_it(ledger):
    r = ledger.roles
    a = acct("restart-seoul")
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
    for k in range(3):
        ledger.set_next_time(t0 + (k + 1) * DAY)
        ledger.tx(
            "convert", a, ECO_HOUSEHOLD, SEOUL, 1_000, award_id(50 + k), [], sender=r.converter
        )
    assert ledger.position(a, SEOUL).live == 2
    ledger.tx("deduct", a, SEOUL, 3_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    tc = t0 + 10 * DAY
    ledger.set_next_time(tc)
    ledger.tx("convert", a, ECO_HOUSEHOLD, SEOUL, 400, award_id(60), [], sender=r.converter)
    assert ledger.position(a, SEOUL) == Position(400, 400, 0, tc, tc, 0, 0)
    assert ledger.live(a, SEOUL) == []


# ---------------------------------------------------------------------------------------------
# Lengths and limits
# ---------------------------------------------------------------------------------------------


def test_length_mismatch(ledger):
    r = ledger.roles
    a, b = acct("len-a"), acct("len-b")
    ledger.grant(ECO_HOUSEHOLD, [(a, 1, 1_000, award_id(1))])
    for accounts, lives in (([a, b], [[]]), ([a], [[], []]), ([a], [])):
        ledger.expect(
            "LengthMismatch",
            len(accounts),
            len(lives),
            call=("expireBatch", ECO_HOUSEHOLD, accounts, lives),
            sender=r.expirer,
        )
    for from_lists, into_lists, given in (
        (NO_LISTS[:6], NO_LISTS, 6),
        (NO_LISTS, [*NO_LISTS, []], 8),
        ([], NO_LISTS, 0),
        (NO_LISTS, [], 0),
    ):
        ledger.expect(
            "LengthMismatch",
            7,
            given,
            call=("mergeAccounts", a, b, from_lists, into_lists),
            sender=r.registrar,
        )
    assert ledger.call("expireBatch", ECO_HOUSEHOLD, [], [], sender=r.expirer) == 0


def test_amount_overflow_at_2_pow_40(ledger):
    """An account's cumulative credits in one program are 40-bit."""
    r = ledger.roles
    w, x, y, z = acct("ovf-w"), acct("ovf-x"), acct("ovf-y"), acct("ovf-z")
    ledger.tx("setProgramLimits", ECO_ORG, 2**96 - 1, 2**96 - 1, sender=r.admin)
    for grants in (
        [(w, 1, 2**40, award_id(1))],
        # The second award adds to the newest checkpoint (same time).
        [(w, 1, M40, award_id(1)), (w, 2, 1, award_id(2))],
    ):
        ledger.expect(
            "AmountOverflow", 2**40, call=("grantBatch", ECO_ORG, grants), sender=r.issuer
        )
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_ORG, [(x, 1, M40, award_id(1))])
    assert ledger.position(x, ECO_ORG) == Position(M40, M40, 0, t0, t0, 0, 0)
    _grant_at(ledger, t0 + DAY, ECO_ORG, [(z, 2, 1, award_id(2))])
    # A credit at a new time (it would chain a checkpoint).
    ledger.expect(
        "AmountOverflow",
        2**40,
        call=("grantBatch", ECO_ORG, [(x, 3, 1, award_id(3))]),
        sender=r.issuer,
    )
    # A conversion credit past it.
    _grant_at(ledger, t0 + 2 * DAY, ECO_ORG, [(y, 4, M40, award_id(4))])
    ledger.tx("convert", y, ECO_ORG, SEOUL, M40, award_id(50), [], sender=r.converter)
    _grant_at(ledger, t0 + 3 * DAY, ECO_HOUSEHOLD, [(y, 5, 1, award_id(5))])
    ledger.expect(
        "AmountOverflow",
        2**40,
        call=("convert", y, ECO_HOUSEHOLD, SEOUL, 1, award_id(51), []),
        sender=r.converter,
    )
    # A merge whose rebuilt position would exceed it.
    ledger.expect(
        "AmountOverflow",
        2**40,
        call=("mergeAccounts", x, z, ledger.lives(x), ledger.lives(z)),
        sender=r.registrar,
    )
    # Just below it everything goes through.
    ledger.tx("deduct", x, ECO_ORG, 1, TAX_PAYMENT, ZERO, [], sender=r.spender)
    ledger.tx("mergeAccounts", x, z, ledger.lives(x), ledger.lives(z), sender=r.registrar)
    assert ledger.position(z, ECO_ORG).granted == M40
    assert ledger.live(z, ECO_ORG) == [checkpoint(t0, M40 - 1)]


def test_a_spent_out_position_near_the_limit_restarts(ledger):
    r = ledger.roles
    x = acct("ovf-restart")
    ledger.tx("setProgramLimits", ECO_ORG, 2**96 - 1, 2**96 - 1, sender=r.admin)
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_ORG, [(x, 1, M40, award_id(1))])
    ledger.tx("deduct", x, ECO_ORG, M40, TAX_PAYMENT, ZERO, [], sender=r.spender)
    assert ledger.call("nextExpiry", x, ECO_ORG) == 0
    t1 = t0 + DAY
    ledger.set_next_time(t1)
    h = ledger.fn.grantBatch(ECO_ORG, [(x, 2, 50_000, award_id(2))]).transact(
        {"from": r.issuer, "gas": 1_000_000}
    )
    assert ledger.w3.eth.wait_for_transaction_receipt(h).status == 1, ledger.revert_of(
        "grantBatch", ECO_ORG, [(x, 2, 50_000, award_id(2))], sender=r.issuer
    )
    assert ledger.position(x, ECO_ORG) == Position(50_000, 50_000, 0, t1, t1, 0, 0)


# ---------------------------------------------------------------------------------------------
# Cost: live checkpoints only, never the history
# ---------------------------------------------------------------------------------------------


def test_expire_cost_does_not_grow_with_the_number_of_grants(ledger):
    """Accounts with 10 and 60 grant dates, all but the last three spent. The first reader of the
    list pays for the history once (it drops the consumed checkpoints); from then on expiry costs
    the same for both."""
    r = ledger.roles
    short, long_ = acct("hist-10"), acct("hist-60")
    t0 = ledger.now() + 100
    for k in range(60):
        grants = [(long_, 100 + k, 1_000, award_id(100 + k))]
        if k >= 50:
            grants.append((short, 200 + k, 1_000, award_id(200 + k)))
        _grant_at(ledger, t0 + k * DAY, ECO_HOUSEHOLD, grants)
    ledger.tx("deduct", short, ECO_HOUSEHOLD, 7_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    ledger.tx("deduct", long_, ECO_HOUSEHOLD, 57_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    assert ledger.position(short, ECO_HOUSEHOLD).live == 9
    assert ledger.position(long_, ECO_HOUSEHOLD).live == 59

    def expire_at(ts, account):
        live = ledger.live(account, ECO_HOUSEHOLD)
        ledger.set_next_time(ts)
        rc = ledger.tx("expire", account, ECO_HOUSEHOLD, live, sender=r.expirer)
        return rc.gasUsed, _kinds(ledger, rc)

    # The pruning expiry (nothing unspent lapsed): linear in the list it reads, once.
    prune_short, k1 = expire_at(t0 + 50 * DAY + VALIDITY, short)
    prune_long, k2 = expire_at(t0 + 50 * DAY + VALIDITY + 1, long_)
    assert k1 == k2 == []
    assert ledger.position(short, ECO_HOUSEHOLD).live == 2
    assert ledger.position(long_, ECO_HOUSEHOLD).live == 2
    assert prune_long - prune_short > 50 * 200, (prune_short, prune_long)
    # The expiries that follow cost the same, 10 or 60 grants of history.
    for k in (57, 58, 59):
        ts = t0 + k * DAY + VALIDITY
        g_short, k_short = expire_at(ts, short)
        g_long, k_long = expire_at(ts + 1, long_)
        assert k_short == k_long == [(EXPIRY, 1_000)]
        assert abs(g_long - g_short) < 500, (k, g_short, g_long)
    assert ledger.call("balanceOf", long_, ECO_HOUSEHOLD) == 0


def test_position_views_of_programs_out_of_range(ledger):
    r = ledger.roles
    a = acct("views-range")
    ledger.grant(ECO_HOUSEHOLD, [(a, 1, 1_000, award_id(1))])
    now = ledger.now()
    wrong = []
    for p in (0, 8, 255):
        for fn, args, zero in (
            ("balanceOf", (a, p), 0),
            ("positionOf", (a, p), [0] * 7),
            ("nextExpiry", (a, p), 0),
            ("expirableAt", (a, p, now + VALIDITY, []), 0),
        ):
            try:
                got = ledger.call(fn, *args)
            except Exception:
                got = ledger.revert_of(fn, *args, sender=r.outsider)
            if got not in (zero, ("UnknownProgram", (p,))):
                wrong.append((fn, p, got))
    assert wrong == []


def test_too_many_checkpoints(ledger):
    """At 65,535 live checkpoints (set in storage: granting them would take 65,535 blocks) a credit
    at a new time is refused; one to a spent-out position restarts it."""
    r = ledger.roles
    a, b = acct("many-a"), acct("many-b")
    t0 = ledger.now() + 100
    _grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 1_000, award_id(1)), (b, 2, 1_000, award_id(2))])
    ledger.tx("deduct", b, ECO_HOUSEHOLD, 1_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    for account, debited in ((a, 0), (b, 1_000)):
        # The account's array base (test_storage_layout pins the formula); program p at + p.
        slot = int.from_bytes(keccak(encode(["bytes32", "uint256"], [account, 3])), "big")
        word = 1_000 | debited << 40 | t0 << 80 | t0 << 112 | 0xFFFF << 144 | 12345 << 160
        ledger.w3.provider.make_request(
            "anvil_setStorageAt",
            [ledger.contract.address, hex(slot + ECO_HOUSEHOLD), "0x" + f"{word:064x}"],
        )
    assert ledger.position(a, ECO_HOUSEHOLD).live == 0xFFFF
    ledger.mine_at(t0 + DAY)
    ledger.expect(
        "TooManyCheckpoints",
        a,
        ECO_HOUSEHOLD,
        call=("grantBatch", ECO_HOUSEHOLD, [(a, 3, 1, award_id(3))]),
        sender=r.issuer,
    )
    t1 = t0 + 2 * DAY
    _grant_at(ledger, t1, ECO_HOUSEHOLD, [(b, 4, 500, award_id(4))])
    assert ledger.position(b, ECO_HOUSEHOLD) == Position(500, 500, 0, t1, t1, 0, 0)
