"""The verifier's run against a node: :func:`verify_ledger` (``mileage audit verify``).

Logs (``EntryRecorded`` and ``DonationConsentSet``, one read) stream in from
:mod:`bridge.verify.fetch` while :class:`bridge.verify.replay.TrailChecker` replays them and
feeds the rule checks (awards, expiry consent, refunds); the contract state of the accounts seen
so far is read on another thread (:class:`_StateFetcher`, batched ``eth_call`` at the verified
block), so the run ends soon after the last log range is replayed.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bridge.audit_rules import AwardRules
from bridge.errors import VerificationError
from bridge.raw_reader import ChainAccount, RawLedgerReader, norm_account
from bridge.rpc import RpcError
from bridge.verify.fetch import iter_records
from bridge.verify.replay import Mismatch, TrailChecker


def _covers_all(rd: RawLedgerReader, from_block: int | None) -> bool:
    """Whether logs from ``from_block`` are all the contract ever emitted (no code before it)."""
    if from_block is None or from_block == 0:
        return True
    try:
        return rd.code_size(from_block - 1) == 0
    except RpcError:  # a node without that historical state: do not claim completeness
        return False


class _StateFetcher:
    """Reads the contract state of accounts at one block on a thread, while the logs are still
    being replayed (an account's final state does not depend on the replay)."""

    def __init__(self, rpc_url: str, address: str, block: int, group: int = 2_000) -> None:
        self.rpc_url, self.address, self.block, self.group = rpc_url, address, block, group
        self.results: dict[str, ChainAccount] = {}
        self.error: BaseException | None = None
        self._pending: list[str] = []
        self._q: queue.Queue[list[str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="state-reader", daemon=True)
        self._thread.start()

    def submit(self, accounts: list[str], flush: bool = False) -> None:
        self._pending.extend(accounts)
        if len(self._pending) >= self.group or (flush and self._pending):
            self._q.put(self._pending)
            self._pending = []

    def _run(self) -> None:
        with RawLedgerReader(self.rpc_url, self.address) as rd:
            while (item := self._q.get()) is not None:
                if self.error is None:
                    try:
                        self.results.update(rd.account_states(item, self.block))
                    except BaseException as exc:  # raised again by finish()
                        self.error = exc

    def abort(self) -> None:
        self.error = self.error or VerificationError("aborted")
        self._q.put(None)

    def finish(self) -> dict[str, ChainAccount]:
        self.submit([], flush=True)
        self._q.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.results


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_ledger`."""

    address: str
    block: int
    from_block: int
    accounts: int
    entries: int
    seconds: float
    fetch_seconds: float
    state_seconds: float
    mismatches: list[Mismatch]
    #: the GRANT entries replayed (``grant_of``; ``bridge.award_audit.unmatched_in_grants``)
    awards: AwardRules = field(default_factory=AwardRules)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def events_per_second(self) -> float:
        return self.entries / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"{len(self.mismatches)} MISMATCH(ES)"
        return (
            f"ledger {self.address} at block {self.block} (events from block {self.from_block}): "
            f"{self.accounts} accounts, {self.entries} entries in {self.seconds:.2f}s "
            f"({self.events_per_second:,.0f} events/s; logs {self.fetch_seconds:.2f}s, "
            f"state tail {self.state_seconds:.2f}s): {verdict}"
        )


def verify_ledger(
    rpc_url: str,
    address: str,
    *,
    accounts: Sequence[str] | None = None,
    block: int | None = None,
    from_block: int | None = None,
    confirmations: int = 0,
    chunk: int = 2_000,
    progress: Callable[[int, int, int], None] | None = None,
    reader: RawLedgerReader | None = None,
    parallel: bool | None = None,
) -> VerifyReport:
    """Verify the ledger at ``address`` from chain data alone.

    ``accounts``: only these (else every account that has a log). ``block``: the block to check
    at (default: the head minus ``confirmations``). ``from_block``: where the logs start (default:
    the contract's deployment block, found by binary search over ``eth_getCode``).
    ``progress(block, last_block, entries)`` is called after each block range. ``parallel``:
    read the node's answers in a child process (default: with more than two cores and a range
    over 256 blocks; on two cores a thread does better, as the node needs the other core).
    A ``reader`` given is the one that reads the logs too (on a thread, never in a process).
    """
    own = reader is None
    rd = reader or RawLedgerReader(rpc_url, address)
    try:
        t0 = time.perf_counter()
        head = rd.block_number()
        at = head - confirmations if block is None else block
        if at < 0 or at > head:
            raise VerificationError(f"block {at} is not between 0 and the head {head}")
        if rd.code_size(at) == 0:
            raise VerificationError(
                f"no contract code at {rd.address} in block {at}: wrong --contract or --rpc?"
            )
        start = rd.find_deployment_block(at) if from_block is None else from_block
        complete = _covers_all(rd, from_block)
        checker = TrailChecker(accounts, from_deployment=complete)
        states_reader = _StateFetcher(rd.url, rd.address, at)
        fetch = 0.0
        t_wait = time.perf_counter()
        if parallel is None:
            parallel = (os.cpu_count() or 1) > 2 and at - start > 256
        try:
            for _a, b, packed in iter_records(
                rd.url,
                rd.address,
                start,
                at,
                chunk=chunk,
                accounts=accounts,
                process=parallel and own,
                consent=True,
                reader=None if own else rd,
            ):
                fetch += time.perf_counter() - t_wait
                checker.feed_records(packed)
                states_reader.submit(checker.take_new_accounts())
                if progress is not None:
                    progress(b, at, checker.events)
                t_wait = time.perf_counter()
        except BaseException:
            states_reader.abort()
            raise
        t_state = time.perf_counter()
        wanted = set(checker.account_ids())
        if accounts is not None:
            extra = {norm_account(a) for a in accounts} - wanted
            states_reader.submit(sorted(extra), flush=True)
            wanted |= extra
        states = states_reader.finish()
        totals = rd.program_totals(at) if accounts is None and complete else None
        state_seconds = time.perf_counter() - t_state
        # the trail, then expiry reasons vs consent and refunds vs deductions (same pass)
        mismatches = checker.finish(states, totals) + checker.rule_mismatches()
        return VerifyReport(
            address=rd.address,
            block=at,
            from_block=start,
            accounts=len(wanted),
            entries=checker.events,
            seconds=time.perf_counter() - t0,
            fetch_seconds=fetch,
            state_seconds=state_seconds,
            mismatches=mismatches,
            awards=checker.awards,
        )
    finally:
        if own:
            rd.close()
