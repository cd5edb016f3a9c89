"""What the live-checkpoint tests share: time steps, and grants at set times on the test ledger
(tests/contracts/test_ledger_live_checkpoints*.py)."""

from __future__ import annotations

from ledger_helpers import ECO_HOUSEHOLD, award_id

DAY = 86400
ZERO = b"\x00" * 32
NO_LISTS = [[] for _ in range(7)]


def grant_at(ledger, ts, program, grants):
    ledger.set_next_time(ts)
    rc = ledger.grant(program, grants)
    assert ledger.w3.eth.get_block(rc.blockNumber)["timestamp"] == ts
    return rc


def kinds(ledger, rc):
    return [(e.args.kind, e.args.amount) for e in ledger.events(rc, "EntryRecorded")]


def lists_with(ledger, account, program, live):
    """The 7 lists of mergeAccounts: `account`'s own, with `live` for `program`."""
    lists = ledger.lives(account)
    lists[program - 1] = live
    return lists


def three_dates(ledger, a, t0, program=ECO_HOUSEHOLD, first_no=1):
    """10,000 at t0, 5,000 at t0 + 1 day, 2,000 at t0 + 2 days: two live checkpoints."""
    for k, amount in enumerate((10_000, 5_000, 2_000)):
        no = first_no + k
        grant_at(ledger, t0 + k * DAY, program, [(a, no, amount, award_id(no))])
