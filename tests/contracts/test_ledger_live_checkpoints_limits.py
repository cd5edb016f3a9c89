"""Live checkpoints, their compaction, restarts, limits and cost (IMileageLedger `expire`,
`positionOf`, `nextExpiry`); the lists checked on every reader: test_ledger_live_checkpoints.py.

Every list passed here is built by `ledger_helpers.live_checkpoints`, a replay of the account's
EntryRecorded entries with ledger.domain.checkpoints (the way production builds it) whose root is
asserted to equal the chain's: these tests also prove that the Python model matches the contract.
"""

from __future__ import annotations

import pytest
from checkpoint_helpers import DAY, NO_LISTS, ZERO, grant_at, kinds
from eth_abi import encode
from eth_utils import keccak
from ledger_helpers import (
    ECO_HOUSEHOLD,
    ECO_ORG,
    EXPIRY,
    M40,
    SEOUL,
    TAX_PAYMENT,
    VALIDITY,
    Position,
    acct,
    award_id,
    chain_root,
    checkpoint,
)

# ---------------------------------------------------------------------------------------------
# Compaction, nextExpiry, restarts
# ---------------------------------------------------------------------------------------------


def test_expire_compacts_the_list(ledger):
    r = ledger.roles
    a = acct("compact")
    t0 = ledger.now() + 100
    ts = [t0 + k * DAY for k in range(5)]
    for k, t in enumerate(ts):
        grant_at(ledger, t, ECO_HOUSEHOLD, [(a, 1 + k, 1_000, award_id(1 + k))])
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
    assert kinds(ledger, rc) == [(EXPIRY, 1_000)]
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
        grant_at(ledger, t, ECO_HOUSEHOLD, [(a, 1 + k, 1_000, award_id(1 + k))])
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
    grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 1_000, award_id(1))])
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + VALIDITY
    assert ledger.call("nextExpiry", a, SEOUL) == 0
    grant_at(
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
    grant_at(ledger, t0 + VALIDITY + 1, ECO_HOUSEHOLD, [(c, 4, 700, award_id(4))])
    assert ledger.call("nextExpiry", c, ECO_HOUSEHOLD) == t0 + VALIDITY + 1 + VALIDITY
    ledger.tx("mergeAccounts", a, c, ledger.lives(a), ledger.lives(c), sender=r.registrar)
    assert ledger.call("nextExpiry", c, ECO_HOUSEHOLD) == t0 + DAY + VALIDITY
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == 0  # merged away: holds nothing
    # Spent out: 0, and a later credit restarts it.
    ledger.tx("deduct", b, ECO_HOUSEHOLD, 500, TAX_PAYMENT, ZERO, [], sender=r.spender)
    assert ledger.call("nextExpiry", b, ECO_HOUSEHOLD) == 0
    t3 = t0 + VALIDITY + 10 * DAY
    grant_at(ledger, t3, ECO_HOUSEHOLD, [(b, 5, 100, award_id(5))])
    assert ledger.call("nextExpiry", b, ECO_HOUSEHOLD) == t3 + VALIDITY


@pytest.mark.parametrize("how", ["deduct", "convert", "expire", "correct"])
def test_a_credit_after_spending_everything_restarts_the_position(ledger, how):
    r = ledger.roles
    a = acct(f"restart-{how}")
    t0 = ledger.now() + 100
    ts = [t0 + k * DAY for k in range(3)]
    for k, t in enumerate(ts):
        grant_at(ledger, t, ECO_HOUSEHOLD, [(a, 1 + k, 1_000 * (k + 1), award_id(1 + k))])
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
    grant_at(ledger, t3, ECO_HOUSEHOLD, [(a, 9, 700, award_id(9))])
    assert ledger.position(a, ECO_HOUSEHOLD) == Position(700, 700, 0, t3, t3, 0, 0)
    assert ledger.live(a, ECO_HOUSEHOLD) == []
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t3 + VALIDITY - 1) == 0
    assert ledger.expirable_at(a, ECO_HOUSEHOLD, t3 + VALIDITY) == 700


def test_a_conversion_into_a_spent_out_program_restarts_it(ledger):
    r = ledger.roles
    a = acct("restart-seoul")
    t0 = ledger.now() + 100
    grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
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
    grant_at(ledger, t0, ECO_ORG, [(x, 1, M40, award_id(1))])
    assert ledger.position(x, ECO_ORG) == Position(M40, M40, 0, t0, t0, 0, 0)
    grant_at(ledger, t0 + DAY, ECO_ORG, [(z, 2, 1, award_id(2))])
    # A credit at a new time (it would chain a checkpoint).
    ledger.expect(
        "AmountOverflow",
        2**40,
        call=("grantBatch", ECO_ORG, [(x, 3, 1, award_id(3))]),
        sender=r.issuer,
    )
    # A conversion credit past it.
    grant_at(ledger, t0 + 2 * DAY, ECO_ORG, [(y, 4, M40, award_id(4))])
    ledger.tx("convert", y, ECO_ORG, SEOUL, M40, award_id(50), [], sender=r.converter)
    grant_at(ledger, t0 + 3 * DAY, ECO_HOUSEHOLD, [(y, 5, 1, award_id(5))])
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
    grant_at(ledger, t0, ECO_ORG, [(x, 1, M40, award_id(1))])
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
        grant_at(ledger, t0 + k * DAY, ECO_HOUSEHOLD, grants)
    ledger.tx("deduct", short, ECO_HOUSEHOLD, 7_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    ledger.tx("deduct", long_, ECO_HOUSEHOLD, 57_000, TAX_PAYMENT, ZERO, [], sender=r.spender)
    assert ledger.position(short, ECO_HOUSEHOLD).live == 9
    assert ledger.position(long_, ECO_HOUSEHOLD).live == 59

    def expire_at(ts, account):
        live = ledger.live(account, ECO_HOUSEHOLD)
        ledger.set_next_time(ts)
        rc = ledger.tx("expire", account, ECO_HOUSEHOLD, live, sender=r.expirer)
        return rc.gasUsed, kinds(ledger, rc)

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
    grant_at(ledger, t0, ECO_HOUSEHOLD, [(a, 1, 1_000, award_id(1)), (b, 2, 1_000, award_id(2))])
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
    grant_at(ledger, t1, ECO_HOUSEHOLD, [(b, 4, 500, award_id(4))])
    assert ledger.position(b, ECO_HOUSEHOLD) == Position(500, 500, 0, t1, t1, 0, 0)
