"""The pure check of the verifier: raw ``EntryRecorded`` logs replayed per account and compared
with the contract's state (:class:`TrailChecker`, :func:`verify_trail`).

The replay computes every hash-chain head itself (one keccak per log: the log carries no head)
and the contract's ``accountState`` head at the verified block is the one comparison that proves
the whole trail (docs/DESIGN.md, "Entries and the hash chain"). A missing, altered, duplicated or
reordered entry cannot reproduce it, so every such defect surfaces as a :class:`Mismatch`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.audit_consent import ConsentChecker, is_consent_log
from bridge.audit_refunds import RefundChecker
from bridge.audit_rules import AwardRules
from bridge.raw_reader import PROGRAMS, ChainAccount, ProgramTotals, norm_account
from bridge.verify.records import R_ENTRY, R_POS, R_REF, REC, Records, pack_records
from ledger.domain.codes import CREDIT_CODES, EntryKind, Program
from ledger.domain.hashchain import ZERO_HEAD, decode_entry, head_of

KNOWN_KINDS = frozenset(int(k) for k in EntryKind)
_REFUND = int(EntryKind.REFUND)
_M96 = (1 << 96) - 1


@dataclass(frozen=True)
class Mismatch:
    """One discrepancy: ``account`` (or ``program:<code>`` / ``trail``), what, and the values."""

    account: str
    field: str
    expected: str
    actual: str
    detail: str = ""

    def __str__(self) -> str:
        tail = f" ({self.detail})" if self.detail else ""
        return f"{self.account} {self.field}: expected {self.expected}, found {self.actual}{tail}"


@dataclass(slots=True)
class _Replay:
    """Running state of one account while its logs stream by."""

    seq: int = 0
    seen: int = 0
    head: bytes = ZERO_HEAD
    balances: list[int] = field(default_factory=lambda: [0] * 8)
    broken: bool = False


class TrailChecker:
    """Replays raw ``EntryRecorded`` logs (JSON-RPC dicts, in chain order) per account.

    Feed logs with :meth:`feed` (any number of times, in chain order), then :meth:`finish` with
    the contract state to get every :class:`Mismatch`. Checks per log: it is a well-formed
    ``EntryRecorded`` log, it comes after the previous one (block, log index), its ``seq`` is the
    account's next, its entry word sets no bit outside the layout, its codes are known, and no
    balance goes below zero. Every head is computed (``bytes24(keccak256(previous head ‖ entry))``;
    the log carries none), so a missing, altered or reordered entry shows in :meth:`finish`, where
    the replayed head differs from the contract's. GRANT, CORRECTION and MERGE entries also go to
    :attr:`awards` (``bridge.audit_rules``): a correction not bound to its award is a mismatch.

    The same pass feeds the checks of other rules, each its own small class: EXPIRY entries and
    the ``DonationConsentSet`` logs among the logs (:attr:`consent`, ``bridge.audit_consent``),
    DEDUCTION and REFUND entries (:attr:`refunds`, ``bridge.audit_refunds``; ``from_deployment``:
    the logs start at the contract's deployment, so a refund of an unseen deduction is one).
    Their mismatches are theirs to give (:meth:`rule_mismatches`), not :meth:`finish`'s.
    """

    def __init__(
        self, accounts: Iterable[str] | None = None, *, from_deployment: bool = True
    ) -> None:
        #: replay state per account (key: the 32-byte account id)
        self.accounts: dict[bytes, _Replay] = {}
        self.only = (
            None if accounts is None else {bytes.fromhex(norm_account(a)[2:]) for a in accounts}
        )
        self.mismatches: list[Mismatch] = []
        self.events = 0
        self.credited = [0] * 8
        self.debited = [0] * 8
        self.granted = [0] * 8
        self._last_pos = b""  # the last record's position bytes (block 8, log index 4)
        self._new: list[bytes] = []
        #: awards and the corrections bound to them (bridge/audit_rules.py)
        self.awards = AwardRules(complete=accounts is None)
        #: expiry reasons against donation consent (bridge/audit_consent.py)
        self.consent = ConsentChecker()
        #: refunds against their deductions (bridge/audit_refunds.py)
        self.refunds = RefundChecker(complete=from_deployment)

    def take_new_accounts(self) -> list[str]:
        """Accounts first seen since the last call, as ``0x`` ids."""
        new, self._new = self._new, []
        return ["0x" + a.hex() for a in new]

    def account_ids(self) -> list[str]:
        """The replayed accounts, as ``0x`` ids."""
        return ["0x" + a.hex() for a in self.accounts]

    def _bad(self, account: str, fld: str, expected: object, actual: object, detail: str) -> None:
        self.mismatches.append(Mismatch(account, fld, str(expected), str(actual), detail))

    @staticmethod
    def _where(pos: bytes) -> str:
        return f"block {int.from_bytes(pos[:8])} log {int.from_bytes(pos[8:])}"

    def feed(self, logs: Iterable[Mapping[str, Any]]) -> None:
        """Check and replay raw JSON-RPC logs (in chain order)."""
        self.feed_records(pack_records(logs))

    def feed_records(self, packed: Records) -> None:
        """Check and replay packed logs (the hot loop: slices of one bytes, one keccak each)."""
        rec, count, odd = packed
        consent = self.consent
        for log in odd:
            if is_consent_log(log):
                consent.queue(log)
                continue
            topics = log.get("topics") or ["-"]
            where = f"block {int(log['blockNumber'], 16)} log {int(log['logIndex'], 16)}"
            self._bad("trail", "log", "EntryRecorded", topics[0], where)
        accounts = self.accounts
        only = self.only
        credited, debited, granted = self.credited, self.debited, self.granted
        credit_kinds = CREDIT_CODES
        known = KNOWN_KINDS
        grant = int(EntryKind.GRANT)
        correction = int(EntryKind.CORRECTION)
        merge_out, merge_in = int(EntryKind.MERGE_OUT), int(EntryKind.MERGE_IN)
        expiry, deduction, refund = int(EntryKind.EXPIRY), int(EntryKind.DEDUCTION), _REFUND
        refunds = self.refunds
        awards = self.awards
        keep_grant = awards.grants.setdefault
        m96 = _M96
        last_pos = self._last_pos
        head = head_of
        decode = decode_entry
        from_bytes = int.from_bytes
        new = self._new
        n = 0
        for base in range(0, count * REC, REC):
            end = base + R_POS
            pos = rec[end : base + REC]
            if pos <= last_pos:
                self._bad(
                    "trail",
                    "order",
                    f"after {self._where(last_pos)}" if last_pos else "the first log",
                    self._where(pos),
                    "logs are not in chain order (reordered or duplicated)",
                )
            last_pos = pos
            account = rec[base : base + R_ENTRY]
            if only is not None and account not in only:
                continue
            st = accounts.get(account)
            if st is None:
                st = accounts[account] = _Replay()
                new.append(account)
            n += 1
            word = from_bytes(rec[base + R_ENTRY : base + R_REF])
            seq, kind, program, reason, _time, amount = decode(word)
            if seq != st.seq + 1:
                self._bad(
                    "0x" + account.hex(),
                    "seq",
                    st.seq + 1,
                    seq,
                    f"{self._where(pos)}: entry missing, repeated or out of order",
                )
            st.head = head(st.head + rec[base:end])
            st.seq = seq
            st.seen += 1
            if kind not in known or not 0 < program < 8 or amount > m96:
                self._bad(
                    "0x" + account.hex(),
                    "codes",
                    "known kind/program, no bit above 208",
                    f"{kind}/{program}" + ("" if amount <= m96 else f"/0x{word:064x}"),
                    f"{self._where(pos)} seq {seq}",
                )
                continue
            bal = st.balances
            if kind in credit_kinds:
                bal[program] += amount
                credited[program] += amount
                if kind == grant:
                    granted[program] += amount
                    # inline: one dict entry of two slices (bytes: nothing for the GC to track)
                    ref = rec[base + R_REF : end]
                    kept = rec[base : base + R_REF]
                    if keep_grant(ref, kept) is not kept:  # the award id was granted before
                        awards.grant(account, program, amount, ref, pos, seq)
                elif kind == merge_in:
                    awards.merge(account, rec[base + R_REF : end], False)
                elif kind == refund:
                    refunds.refund(
                        account, program, rec[base + R_REF : end], amount, from_bytes(pos[:8])
                    )
            else:
                if kind == expiry:
                    consent.expiry(account, pos, reason, amount)
                elif kind == deduction:
                    refunds.deduction(account, program, rec[base + R_REF : end], amount)
                elif kind == correction:
                    awards.correction(account, program, amount, rec[base + R_REF : end], pos, seq)
                elif kind == merge_out:
                    awards.merge(account, rec[base + R_REF : end], True)
                bal[program] -= amount
                debited[program] += amount
                if bal[program] < 0 and not st.broken:
                    st.broken = True
                    self._bad(
                        "0x" + account.hex(),
                        f"balance[{Program(program).name}]",
                        ">= 0",
                        bal[program],
                        f"{self._where(pos)} seq {seq}: debit exceeds the replayed balance",
                    )
        self._last_pos = last_pos
        self.events += n
        consent.flush()  # the range's consent events after its last expiry

    def rule_mismatches(self) -> list[Mismatch]:
        """The expiry-consent and refund mismatches of the logs fed so far."""
        return self.consent.finish() + self.refunds.finish()

    def finish(
        self,
        states: Mapping[str, ChainAccount],
        totals: Mapping[int, ProgramTotals] | None = None,
    ) -> list[Mismatch]:
        """Compare the replay with the contract state; returns every mismatch found so far.

        ``states`` must hold every replayed account (and may hold more, e.g. accounts asked for
        that have no log: their contract count must then be 0). ``totals`` (whole-ledger runs
        only) also catches accounts whose logs are missing altogether.
        """
        for account in sorted(set(self.account_ids()) | set(states)):
            st = self.accounts.get(bytes.fromhex(account[2:])) or _Replay()
            chain = states.get(account)
            if chain is None:
                self._bad(account, "state", "read", "missing", "no contract state was read")
                continue
            if chain.count != st.seen:
                self._bad(account, "count", chain.count, st.seen, "entries missing or extra")
            if chain.head != st.head:
                self._bad(
                    account,
                    "head",
                    "0x" + chain.head.hex(),
                    "0x" + st.head.hex(),
                    f"the {st.seen} logs do not hash to the contract's head: "
                    "an entry is missing, altered, extra or out of order",
                )
            for p in PROGRAMS:
                if chain.balances[p] != st.balances[p]:
                    self._bad(
                        account,
                        f"balance[{Program(p).name}]",
                        chain.balances[p],
                        st.balances[p],
                        "",
                    )
        self.mismatches.extend(
            Mismatch(f.account, f.field, f.expected, f.actual, f.detail)
            for f in self.awards.take_findings()
        )
        if totals is not None:
            for p, tot in totals.items():
                name = Program(p).name
                for fld, chain_v, mine in (
                    ("credited", tot.credited, self.credited[p]),
                    ("debited", tot.debited, self.debited[p]),
                    ("granted", tot.granted, self.granted[p]),
                ):
                    if chain_v != mine:
                        self._bad(f"program:{name}", fld, chain_v, mine, "programTotals")
        return self.mismatches


def verify_trail(
    logs: Iterable[Mapping[str, Any]],
    states: Mapping[str, ChainAccount],
    totals: Mapping[int, ProgramTotals] | None = None,
    accounts: Iterable[str] | None = None,
) -> list[Mismatch]:
    """Pure check of an event list against contract state (see :class:`TrailChecker`)."""
    checker = TrailChecker(accounts)
    checker.feed(logs)
    return checker.finish(states, totals)
