"""grantBatch: idempotency by award number, limits, budgets, per-program issuers."""

from __future__ import annotations

from eth_utils import keccak
from ledger_helpers import (
    BUDGET,
    CAR,
    ECO_HOUSEHOLD,
    ECO_ORG,
    GRANT,
    MAX_AWARD,
    NONE,
    SEOUL,
    VALIDITY,
    ZERO_HEAD,
    Position,
    acct,
    award_id,
    chain_root,
    checkpoint,
    issuer_role,
    next_head,
    replay_heads,
)


def test_grant_credits_and_records_entry(ledger):
    a = acct("g1")
    rc = ledger.grant(ECO_HOUSEHOLD, [(a, 1, 10_000, award_id(1))])
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 10_000
    assert ledger.call("balancesOf", a) == [0, 10_000, 0, 0, 0, 0, 0, 0]
    (e,) = ledger.events(rc, "EntryRecorded")
    assert (
        e.args.account,
        e.args.seq,
        e.args.kind,
        e.args.program,
        e.args.amount,
        e.args.reason,
        e.args.ref,
    ) == (a, 1, GRANT, ECO_HOUSEHOLD, 10_000, NONE, award_id(1))
    assert e.args.timestamp == ledger.now()
    count, head, successor, donation = ledger.call("accountState", a)
    assert (count, successor, donation) == (1, b"\x00" * 32, False)
    assert head == next_head(
        ZERO_HEAD, a, 1, GRANT, ECO_HOUSEHOLD, 10_000, NONE, award_id(1), e.args.timestamp
    )
    assert replay_heads(ledger)[a] == (count, head)
    assert ledger.call("isAwardRecorded", ECO_HOUSEHOLD, 1)
    assert not ledger.call("isAwardRecorded", ECO_HOUSEHOLD, 2)
    (b,) = ledger.events(rc, "GrantBatchRecorded")
    assert (b.args.program, b.args.granted, b.args.skipped, b.args.amount) == (
        ECO_HOUSEHOLD,
        1,
        0,
        10_000,
    )
    assert ledger.call("programTotals", ECO_HOUSEHOLD) == [10_000, 10_000, 0]


def test_duplicate_award_skipped_within_and_across_batches(ledger):
    a, b = acct("d1"), acct("d2")
    batch = [(a, 7, 10_000, award_id(7)), (b, 8, 30_000, award_id(8)), (a, 7, 10_000, award_id(7))]
    sender = ledger.roles.issuer
    assert ledger.call("grantBatch", ECO_HOUSEHOLD, batch, sender=sender) == [7]
    rc = ledger.grant(ECO_HOUSEHOLD, batch)
    skipped = ledger.events(rc, "AwardSkipped")
    assert [(s.args.awardNo, s.args.awardId, s.args.account) for s in skipped] == [
        (7, award_id(7), a)
    ]
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 10_000
    # A resend after a crash: everything already recorded is skipped, the new award goes through.
    resend = [*batch, (b, 9, 10_000, award_id(9))]
    assert ledger.call("grantBatch", ECO_HOUSEHOLD, resend, sender=sender) == [7, 8, 7]
    rc = ledger.grant(ECO_HOUSEHOLD, resend)
    assert len(ledger.events(rc, "AwardSkipped")) == 3
    assert ledger.call("balanceOf", b, ECO_HOUSEHOLD) == 40_000
    assert ledger.call("accountState", a)[0] == 1


def test_bitmap_words_are_independent(ledger):
    a = acct("bm")
    nos = [1, 255, 256, 257, 2**40, 2**64 - 1]
    ledger.grant(ECO_HOUSEHOLD, [(a, n, 1, award_id(n)) for n in nos])
    for n in nos:
        assert ledger.call("isAwardRecorded", ECO_HOUSEHOLD, n)
    for n in (2, 254, 258, 2**40 + 1, 2**64 - 2):
        assert not ledger.call("isAwardRecorded", ECO_HOUSEHOLD, n)


def test_largest_award_boundary(ledger):
    a = acct("cap")
    cap = MAX_AWARD[ECO_HOUSEHOLD]
    ledger.grant(ECO_HOUSEHOLD, [(a, 1, cap, award_id(1))])
    ledger.expect(
        "AwardTooLarge",
        ECO_HOUSEHOLD,
        3,
        cap,
        cap + 1,
        call=("grantBatch", ECO_HOUSEHOLD, [(a, 2, 1, award_id(2)), (a, 3, cap + 1, award_id(3))]),
        sender=ledger.roles.issuer,
    )
    # The whole batch reverted: award 2 was not recorded either.
    assert not ledger.call("isAwardRecorded", ECO_HOUSEHOLD, 2)


def test_budget_boundary_per_fiscal_year(ledger):
    r = ledger.roles
    year = ledger.call("fiscalYearOf", ledger.now() + 60)
    ledger.tx("setBudget", ECO_ORG, year, 25_000_000, sender=r.admin)
    ledger.tx("setBudget", ECO_ORG, year + 1, 5_000_000, sender=r.admin)
    assert ledger.call("budgetOf", ECO_ORG, year) == [25_000_000, 0]
    assert ledger.call("budgetOf", ECO_ORG, year + 2) == [BUDGET, 0]
    ledger.grant(ECO_ORG, [(acct(i), i, 10_000_000, award_id(i)) for i in (1, 2)])
    ledger.expect(
        "BudgetExceeded",
        ECO_ORG,
        year,
        4,
        25_000_000,
        25_000_000,
        1,
        call=(
            "grantBatch",
            ECO_ORG,
            [(acct(3), 3, 5_000_000, award_id(3)), (acct(4), 4, 1, award_id(4))],
        ),
        sender=r.issuer,
    )
    ledger.grant(ECO_ORG, [(acct(3), 3, 5_000_000, award_id(3))])  # exactly the budget
    assert ledger.call("budgetOf", ECO_ORG, year) == [25_000_000, 25_000_000]
    assert ledger.call("currentBudget", ECO_ORG) == [year, 25_000_000, 25_000_000]
    # A leaked issuer key cannot mint past the budget, however it splits the awards.
    ledger.expect(
        "BudgetExceeded",
        ECO_ORG,
        year,
        5,
        25_000_000,
        25_000_000,
        1,
        call=("grantBatch", ECO_ORG, [(acct(5), 5, 1, award_id(5))]),
        sender=r.issuer,
    )


def test_fiscal_year_is_kst_calendar_year(ledger):
    # 2026-12-31T15:00:00Z is 2027-01-01T00:00 KST.
    assert ledger.call("fiscalYearOf", 1798729200 - 1) == 2026
    assert ledger.call("fiscalYearOf", 1798729200) == 2027
    assert ledger.call("fiscalYearOf", 951782400) == 2000  # 2000-02-29T00:00Z (leap day)
    assert ledger.call("fiscalYearOf", 0) == 1970


def test_issuer_of_one_program_cannot_grant_another(ledger):
    r = ledger.roles
    a = acct("iss")
    ledger.expect(
        "AccessControlUnauthorizedAccount",
        r.car_issuer,
        ledger.call("issuerRole", ECO_HOUSEHOLD),
        call=("grantBatch", ECO_HOUSEHOLD, [(a, 1, 1, award_id(1))]),
        sender=r.car_issuer,
    )
    ledger.expect(
        "AccessControlUnauthorizedAccount",
        r.issuer,
        ledger.call("issuerRole", CAR),
        call=("grantBatch", CAR, [(a, 1, 1, award_id(1))]),
        sender=r.issuer,
    )
    ledger.grant(CAR, [(a, 1, 70_000, award_id(1))], sender=r.car_issuer)
    assert ledger.call("balanceOf", a, CAR) == 70_000


def test_seoul_cannot_be_granted(ledger):
    ledger.expect(
        "AwardTooLarge",
        SEOUL,
        1,
        0,
        1,
        call=("grantBatch", SEOUL, [(acct(1), 1, 1, award_id(1))]),
        sender=ledger.roles.issuer,
    )


def test_invalid_awards(ledger):
    s = ledger.roles.issuer
    a = acct("inv")
    for bad in ((a, 0, 1, award_id(0)), (b"\x00" * 32, 1, 1, award_id(1)), (a, 1, 0, award_id(1))):
        ledger.expect(
            "InvalidAward",
            bad[1],
            bad[0],
            bad[2],
            call=("grantBatch", ECO_HOUSEHOLD, [bad]),
            sender=s,
        )


def test_unknown_program(ledger):
    ledger.expect(
        "AccessControlUnauthorizedAccount", call=("grantBatch", 0, []), sender=ledger.roles.issuer
    )


def test_program_out_of_range_never_reaches_the_position_words(ledger):
    """`_credit` writes the position word at `slot + program` without a bounds check: it relies
    on `_active`, which only passes registered programs, i.e. 1..7. Even a key the admin gave
    the role of program 0, 8 or 255 cannot write next to (or outside) an account's 8 words."""
    r = ledger.roles
    a = acct("bound")
    for program in (0, 8, 255):
        ledger.tx("grantRole", issuer_role(program), r.issuer, sender=r.admin)
        ledger.expect(
            "UnknownProgram",
            program,
            call=("grantBatch", program, [(a, 1, 1, award_id(1))]),
            sender=r.issuer,
        )
    assert ledger.call("accountState", a)[0] == 0
    assert ledger.call("balancesOf", a) == [0] * 8


def test_empty_batch(ledger):
    assert ledger.call("grantBatch", ECO_HOUSEHOLD, [], sender=ledger.roles.issuer) == []
    ledger.grant(ECO_HOUSEHOLD, [])


def test_grant_to_merged_account_names_successor(ledger):
    r = ledger.roles
    old, new = acct("old"), acct("new")
    ledger.grant(ECO_HOUSEHOLD, [(old, 1, 10_000, award_id(1))])
    ledger.tx("mergeAccounts", old, new, ledger.lives(old), ledger.lives(new), sender=r.registrar)
    ledger.expect(
        "AccountMerged",
        old,
        new,
        call=("grantBatch", ECO_HOUSEHOLD, [(old, 2, 10_000, award_id(2))]),
        sender=r.issuer,
    )


def test_same_block_grants_share_a_checkpoint(ledger):
    a = acct("same")
    ledger.grant(ECO_HOUSEHOLD, [(a, i, 1_000, award_id(i)) for i in range(1, 6)])
    assert ledger.call("balanceOf", a, ECO_HOUSEHOLD) == 5_000
    assert ledger.call("accountState", a)[0] == 5


def test_grant_at_a_new_time_chains_the_previous_checkpoint(ledger):
    """An unspent balance from an earlier date: the newest checkpoint becomes a live one, kept
    off-chain; the word keeps its count and the chain root over it (computed here by hand)."""
    a = acct("chain")
    t0 = ledger.now() + 100
    ledger.set_next_time(t0)
    ledger.grant(ECO_HOUSEHOLD, [(a, 1, 1_000, award_id(1)), (a, 2, 500, award_id(2))])
    assert ledger.position(a, ECO_HOUSEHOLD) == Position(1_500, 1_500, 0, t0, t0, 0, 0)
    t1 = t0 + 86400
    ledger.set_next_time(t1)
    # Two awards of one batch at a new time: the first chains (t0, 1,500), the second adds to it.
    ledger.grant(ECO_HOUSEHOLD, [(a, 3, 2_000, award_id(3)), (a, 4, 1_000, award_id(4))])
    root1 = _link(a, ECO_HOUSEHOLD, 0, t0 | 1_500 << 32)
    assert ledger.position(a, ECO_HOUSEHOLD) == Position(4_500, 4_500, 0, t1, t0, 1, root1)
    assert root1 == chain_root(a, ECO_HOUSEHOLD, [checkpoint(t0, 1_500)])
    t2 = t1 + 86400
    ledger.set_next_time(t2)
    ledger.grant(ECO_HOUSEHOLD, [(a, 5, 3_000, award_id(5))])
    root2 = _link(a, ECO_HOUSEHOLD, root1, t1 | 4_500 << 32)
    assert ledger.position(a, ECO_HOUSEHOLD) == Position(7_500, 7_500, 0, t2, t0, 2, root2)
    # The helper's list (a replay of the entries, as production builds it) is that list.
    assert ledger.live(a, ECO_HOUSEHOLD) == [checkpoint(t0, 1_500), checkpoint(t1, 4_500)]
    assert ledger.call("nextExpiry", a, ECO_HOUSEHOLD) == t0 + VALIDITY
    # The root is bound to the account and the program.
    assert root2 != chain_root(acct("other"), ECO_HOUSEHOLD, ledger.live(a, ECO_HOUSEHOLD))
    assert root2 != chain_root(a, CAR, ledger.live(a, ECO_HOUSEHOLD))


def test_grant_to_existing_unspent_accounts_meets_the_gas_goal(ledger):
    """The goal: <= 15,000 gas per award (batch >= 200) for an existing account, also when it
    holds an unspent balance from an earlier date (one word written, whatever it holds)."""
    n = 200
    accounts = [acct(f"gas{i}") for i in range(n)]
    t0 = ledger.now() + 100
    ledger.set_next_time(t0)
    ledger.grant(
        ECO_HOUSEHOLD, [(x, 1 + i, 10_000, award_id(1 + i)) for i, x in enumerate(accounts)]
    )
    for day in (1, 2):
        ledger.set_next_time(t0 + day * 86400)
        base = 1 + day * n
        rc = ledger.grant(
            ECO_HOUSEHOLD,
            [(x, base + i, 10_000, award_id(base + i)) for i, x in enumerate(accounts)],
        )
        assert rc.gasUsed / n <= 15_000, (day, rc.gasUsed / n)
        assert ledger.position(accounts[0], ECO_HOUSEHOLD).live == day
    assert ledger.live(accounts[-1], ECO_HOUSEHOLD) == [
        checkpoint(t0, 10_000),
        checkpoint(t0 + 86400, 20_000),
    ]


def _link(account: bytes, program: int, root: int, cp: int) -> int:
    """PositionCodec.link, by hand: top 96 bits of keccak256(account . uint256(cp | program << 72
    | root << 160))."""
    word = cp | program << 72 | root << 160
    return int.from_bytes(keccak(account + word.to_bytes(32, "big")), "big") >> 160
