"""grantBatch: idempotency by award number, limits, budgets, per-program issuers."""

from __future__ import annotations

from ledger_helpers import (
    BUDGET,
    CAR,
    ECO_HOUSEHOLD,
    ECO_ORG,
    GRANT,
    MAX_AWARD,
    NONE,
    SEOUL,
    ZERO_HEAD,
    acct,
    award_id,
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
    assert ledger.call("isAwardRecorded", 1) and not ledger.call("isAwardRecorded", 2)
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
        assert ledger.call("isAwardRecorded", n)
    for n in (2, 254, 258, 2**40 + 1, 2**64 - 2):
        assert not ledger.call("isAwardRecorded", n)


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
    assert not ledger.call("isAwardRecorded", 2)


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


def test_empty_batch(ledger):
    assert ledger.call("grantBatch", ECO_HOUSEHOLD, [], sender=ledger.roles.issuer) == []
    ledger.grant(ECO_HOUSEHOLD, [])


def test_grant_to_merged_account_names_successor(ledger):
    r = ledger.roles
    old, new = acct("old"), acct("new")
    ledger.grant(ECO_HOUSEHOLD, [(old, 1, 10_000, award_id(1))])
    ledger.tx("mergeAccounts", old, new, sender=r.registrar)
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
