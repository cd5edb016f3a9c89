"""Property tests: random sequences of operations (hypothesis driving web3.py against anvil) checked
against a first-in-first-out reference model of lots (grant time, unspent amount).

The live checkpoint lists that expire, correct, merge (and spends past `nextExpiry`) take are built
by `ledger_helpers.live_checkpoints`: a replay of the account's entries with
ledger.domain.checkpoints, whose root is asserted to equal the chain's. Spends and expiries are
sent with the list or, at random, without it: without it they must revert exactly when the
position holds live checkpoints and `nextExpiry` has passed.

After every operation: balances equal the model's, what `expirableAt` reports equals the model's
lapsed-and-unspent amount, the replayed position's unspent segments are the model's lots, and the
transaction succeeded exactly when the model says it should. After every sequence: no running
balance ever went negative in the event stream, the sum of balances per program equals credits
minus debits (events and programTotals agree), the hash-chain heads recomputed from EntryRecorded
events equal the stored heads, and for every position the replayed live list gives the chain's root
and `expirableAt` equals the model at every lot's expiry boundary (one second before and at it).

LEDGER_PROPERTY_EXAMPLES (default 15) sets the number of sequences.
"""

from __future__ import annotations

import os
from collections import defaultdict

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ledger_helpers import (
    CAR,
    CONVERSION_IN,
    CONVERSION_OUT,
    CORRECTION,
    DEDUCTION,
    ECO_HOUSEHOLD,
    EXPIRY,
    MAX_AWARD,
    MERGE_IN,
    MERGE_OUT,
    SEOUL,
    TAX_PAYMENT,
    VALIDITY,
    ZERO_HEAD,
    acct,
    award_id,
    entry_logs,
    position_model,
    replay_heads,
)

from ledger.domain.codes import CREDIT_CODES

ACCOUNTS = [acct(f"prop{i}") for i in range(4)]
PROGS = (ECO_HOUSEHOLD, CAR, SEOUL)
DAY = 86400


class Model:
    """Per (account, program): lots [time, amount] oldest first; FIFO debits; expiry by lot time."""

    def __init__(self) -> None:
        self.lots: dict[tuple[bytes, int], list[list[int]]] = defaultdict(list)
        # (program, award_no) -> (account, program, time): numbers are per program
        self.awards: dict[tuple[int, int], tuple[bytes, int, int]] = {}
        self.conversions: set[bytes] = set()
        self.successor: dict[bytes, bytes] = {}

    def balance(self, a: bytes, p: int) -> int:
        return sum(x[1] for x in self.lots[(a, p)])

    def lapsed(self, a: bytes, p: int, now: int) -> int:
        return sum(x[1] for x in self.lots[(a, p)] if x[0] + VALIDITY <= now)

    def expire(self, a: bytes, p: int, now: int) -> int:
        n = self.lapsed(a, p, now)
        self.lots[(a, p)] = [x for x in self.lots[(a, p)] if x[0] + VALIDITY > now]
        return n

    def credit(self, a: bytes, p: int, t: int, amount: int) -> None:
        lots = self.lots[(a, p)]
        if lots and lots[-1][0] == t:
            lots[-1][1] += amount
        else:
            lots.append([t, amount])

    def debit(self, a: bytes, p: int, amount: int) -> None:
        lots = self.lots[(a, p)]
        while amount:
            take = min(amount, lots[0][1])
            lots[0][1] -= take
            amount -= take
            if lots[0][1] == 0:
                lots.pop(0)

    def lot_at(self, a: bytes, p: int, t: int) -> list[int] | None:
        return next((x for x in self.lots[(a, p)] if x[0] == t), None)


# Grants and waits are weighted up so that positions collect several grant dates and live
# through their expiry; amounts up to 60,000 make some ECO_HOUSEHOLD batches exceed its largest
# award (50,000) and revert whole.
grant_op = st.tuples(
    st.just("grant"),
    st.sampled_from([ECO_HOUSEHOLD, CAR]),
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 30), st.integers(1, 60_000)),
        min_size=1,
        max_size=3,
    ),
)
# Waits in days plus a few seconds either way, often a whole validity (1,826 days) or half of it,
# so that operations land just before, at and just after the expiry boundaries.
wait_op = st.tuples(
    st.just("wait"),
    st.one_of(st.integers(1, 1200), st.sampled_from([913, 1826])),
    st.integers(-3, 3),
)
spend_amount = st.one_of(st.integers(1, 20_000), st.integers(1, 90_000))
OPS = {
    "grant": grant_op,
    "deduct": st.tuples(
        st.just("deduct"),
        st.integers(0, 3),
        st.sampled_from(PROGS),
        spend_amount,
        st.booleans(),
    ),
    "convert": st.tuples(
        st.just("convert"),
        st.integers(0, 3),
        st.sampled_from([ECO_HOUSEHOLD, CAR]),
        spend_amount,
        st.integers(0, 5),
        st.booleans(),
    ),
    "expire": st.tuples(
        st.just("expire"), st.integers(0, 3), st.sampled_from(PROGS), st.booleans()
    ),
    "wait": wait_op,
    "merge": st.tuples(st.just("merge"), st.integers(0, 3), st.integers(0, 3)),
    "correct": st.tuples(
        st.just("correct"),
        st.integers(1, 30),
        st.one_of(st.integers(1, 5_000), st.integers(1, 60_000)),
    ),
}
WEIGHTS = {"grant": 4, "deduct": 2, "convert": 2, "expire": 2, "wait": 3, "merge": 1, "correct": 2}
op = st.sampled_from([k for k, w in WEIGHTS.items() for _ in range(w)]).flatmap(OPS.__getitem__)


@settings(
    max_examples=int(os.environ.get("LEDGER_PROPERTY_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(ops=st.lists(op, min_size=10, max_size=30))
def test_random_operations_match_the_model(deployed, ops):
    ledger = deployed
    w3 = ledger.w3
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        _run(ledger, ops)
    finally:
        w3.provider.make_request("evm_revert", [snap])


def _run(ledger, ops) -> None:
    r = ledger.roles
    m = Model()
    start_block = ledger.w3.eth.block_number + 1
    now = ledger.now() + 10

    def send(fn: str, *args, sender: str) -> tuple[bool, list]:
        # `now` is the block time of this transaction (the caller advanced it).
        ledger.set_next_time(now)
        h = getattr(ledger.fn, fn)(*args).transact({"from": sender, "gas": 5_000_000})
        rc = ledger.w3.eth.wait_for_transaction_receipt(h)
        return rc.status == 1, ledger.events(rc, "EntryRecorded") if rc.status == 1 else []

    def needs_list(a: bytes, p: int, at: int) -> bool:
        """Whether a spend or expiry at time `at` reads the list, which then must be given:
        live checkpoints are held and nextExpiry (0 when nothing is held) has passed."""
        nxt = ledger.call("nextExpiry", a, p)
        return ledger.position(a, p).live > 0 and nxt != 0 and at >= nxt

    def touched(o) -> set[bytes]:
        if o[0] == "grant":
            return {ACCOUNTS[i] for i, _, _ in o[2]}
        if o[0] == "merge":
            return {ACCOUNTS[o[1]], ACCOUNTS[o[2]]}
        if o[0] == "correct":
            return set(ACCOUNTS)
        return {ACCOUNTS[o[1]]}

    for o in ops:
        kind = o[0]
        if kind == "wait":
            now += o[1] * DAY + o[2]
            continue
        now += 1
        if kind == "grant":
            _, p, items = o
            batch = [(ACCOUNTS[i], no, amt, award_id(no)) for i, no, amt in items]
            fresh, seen, ok_pred = [], set(), True
            for a, no, amt, _aid in batch:
                if (p, no) in m.awards or no in seen:
                    continue
                seen.add(no)
                if amt > MAX_AWARD[p] or a in m.successor:
                    ok_pred = False
                fresh.append((a, no, amt))
            ok, _ = send("grantBatch", p, batch, sender=r.issuer_of(p))
            assert ok == ok_pred, (o, m.awards)
            if ok:
                for a, no, amt in fresh:
                    m.awards[(p, no)] = (a, p, now)
                    m.credit(a, p, now, amt)
        elif kind == "deduct":
            _, i, p, amt, with_list = o
            a = ACCOUNTS[i]
            live = ledger.live(a, p) if with_list else []
            refused = not with_list and needs_list(a, p, now)
            if refused:
                event(f"{kind}: list omitted past nextExpiry (refused)")
            ok, entries = send(
                "deduct", a, p, amt, TAX_PAYMENT, b"\x00" * 32, live, sender=r.spender
            )
            alive = a not in m.successor
            pred = alive and not refused and m.balance(a, p) - m.lapsed(a, p, now) >= amt
            assert ok == pred, o
            if ok:
                expired = m.expire(a, p, now)
                if expired:
                    event("deduct: expired first")
                assert [(e.args.kind, e.args.amount) for e in entries] == (
                    [(EXPIRY, expired)] if expired else []
                ) + [(DEDUCTION, amt)]
                m.debit(a, p, amt)
        elif kind == "convert":
            _, i, p, amt, cid_n, with_list = o
            a = ACCOUNTS[i]
            cid = award_id(10_000 + cid_n)
            live = ledger.live(a, p) if with_list else []
            refused = not with_list and needs_list(a, p, now)
            if refused:
                event(f"{kind}: list omitted past nextExpiry (refused)")
            ok, entries = send("convert", a, p, SEOUL, amt, cid, live, sender=r.converter)
            alive = a not in m.successor
            if cid in m.conversions:
                # Skipped before anything is read: no list needed.
                assert ok == alive and entries == [], o
                continue
            pred = alive and not refused and m.balance(a, p) - m.lapsed(a, p, now) >= amt
            assert ok == pred, o
            if ok:
                m.conversions.add(cid)
                expired = m.expire(a, p, now)
                if expired:
                    event("convert: expired first")
                assert [(e.args.kind, e.args.amount) for e in entries] == (
                    [(EXPIRY, expired)] if expired else []
                ) + [(CONVERSION_OUT, amt), (CONVERSION_IN, amt)]
                m.debit(a, p, amt)
                m.credit(a, SEOUL, now, amt)
        elif kind == "expire":
            _, i, p, with_list = o
            a = ACCOUNTS[i]
            live = ledger.live(a, p) if with_list else []
            refused = not with_list and needs_list(a, p, now)
            if refused:
                event(f"{kind}: list omitted past nextExpiry (refused)")
            ok, entries = send("expire", a, p, live, sender=r.expirer)
            assert ok == (not refused), o
            if ok:
                expired = m.expire(a, p, now)
                if expired:
                    event("expire: expired something")
                assert [(e.args.kind, e.args.amount) for e in entries] == (
                    [(EXPIRY, expired)] if expired else []
                )
        elif kind == "merge":
            _, i, j = o
            a, b = ACCOUNTS[i], ACCOUNTS[j]
            ok, entries = send(
                "mergeAccounts", a, b, ledger.lives(a), ledger.lives(b), sender=r.registrar
            )
            pred = a != b and a not in m.successor and b not in m.successor
            assert ok == pred, o
            if ok:
                for p in PROGS:
                    for t, amt in m.lots.pop((a, p), []):
                        lots = m.lots[(b, p)]
                        same = next((x for x in lots if x[0] == t), None)
                        if same:
                            same[1] += amt
                        else:
                            lots.append([t, amt])
                            lots.sort()
                m.successor[a] = b
                event("merge: recorded")
                assert {e.args.kind for e in entries} <= {MERGE_OUT, MERGE_IN}
        elif kind == "correct":
            _, no, amt = o
            named = sorted(k for k in m.awards if k[1] == no)
            if not named:
                continue
            a, p, t = m.awards[named[0]]
            while a in m.successor:
                a = m.successor[a]
            lot = m.lot_at(a, p, t)
            live = ledger.live(a, p)
            ok, entries = send("correct", a, p, no, award_id(no), t, amt, live, sender=r.corrector)
            assert ok == (lot is not None and lot[1] >= amt), (o, lot)
            if ok:
                event("correct: recorded")
                assert [(e.args.kind, e.args.amount) for e in entries] == [(CORRECTION, amt)]
                lot[1] -= amt
                if lot[1] == 0:
                    m.lots[(a, p)].remove(lot)
        # After every operation, for the touched accounts: balances and expirable amounts equal
        # the model's, and the replayed position (its root checked against the chain) holds
        # the model's lots as its unspent segments.
        logs = entry_logs(ledger)
        for a in touched(o):
            bal = ledger.call("balancesOf", a)
            for p in PROGS:
                where = (o, a.hex()[:8], p)
                assert bal[p] == m.balance(a, p), where
                model, live = position_model(ledger, a, p, logs)
                if live:
                    event("a position with live checkpoints")
                assert ledger.call("expirableAt", a, p, now, live) == m.lapsed(a, p, now), where
                if a not in m.successor:
                    assert model.segments() == [tuple(x) for x in m.lots[(a, p)]], where

    # The event stream: running balances never negative; per-program sums match the totals.
    running: dict[tuple[bytes, int], int] = defaultdict(int)
    credits: dict[int, int] = defaultdict(int)
    debits: dict[int, int] = defaultdict(int)
    for log in entry_logs(ledger, start_block):
        e = log.args
        if e.kind in CREDIT_CODES:
            running[(e.account, e.program)] += e.amount
            credits[e.program] += e.amount
        else:
            running[(e.account, e.program)] -= e.amount
            debits[e.program] += e.amount
        assert running[(e.account, e.program)] >= 0
    for p in PROGS:
        total = sum(ledger.call("balanceOf", a, p) for a in ACCOUNTS)
        _g, c, d = ledger.call("programTotals", p)
        assert total == credits[p] - debits[p] == c - d
    heads = replay_heads(ledger, start_block)
    for a in ACCOUNTS:
        count, head = ledger.call("accountState", a)[:2]
        assert heads.get(a, (0, ZERO_HEAD)) == (count, head)
    # Every position: the replayed live list gives the chain's root (asserted by the helper),
    # and what will lapse by each lot's boundary is the model's.
    logs = entry_logs(ledger)
    for a in ACCOUNTS:
        for p in PROGS:
            _model, live = position_model(ledger, a, p, logs)
            for t, _amt in m.lots[(a, p)]:
                for at in (t + VALIDITY - 1, t + VALIDITY):
                    got = ledger.call("expirableAt", a, p, at, live)
                    assert got == m.lapsed(a, p, at), (a.hex()[:8], p, at)
