"""The bridge's run loop, the one ``mileage bridge run``, ``mileage run`` and
:meth:`bridge.submitter.Submitter.run_until_idle` share.

A round steps every submitter (one per signing key) and then the indexer. While the node is
unreachable (a submitter reports a chain error, or the indexer fails: a gap in the logs is retried
too) the loop waits with exponential backoff; after a round without progress it waits ``poll``
seconds. It runs until ``stop`` is set (each round is finished first) or, with ``until_idle``,
until a round changed nothing, nothing is in flight, the index is at the head and no submitter
has runnable work (:meth:`Submitter.has_runnable_work`: blocked lanes and operations waiting
for the index count as idle).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridge.errors import BridgeError
from bridge.logs import get_logger
from bridge.steps import StepReport

if TYPE_CHECKING:
    from bridge.indexer import Indexer
    from bridge.submitter import Submitter

log = get_logger(__name__, component="bridge-loop")


@dataclass
class Round:
    """What one round did: each submitter's report, the entries indexed, an indexer failure."""

    reports: list[StepReport] = field(default_factory=list)
    indexed: int = 0
    index_error: str | None = None

    @property
    def progressed(self) -> bool:
        return self.indexed > 0 or any(r.progressed for r in self.reports)

    @property
    def chain_down(self) -> bool:
        return self.index_error is not None or any(r.chain_error is not None for r in self.reports)

    @property
    def inflight(self) -> int:
        return sum(r.inflight for r in self.reports)


class BridgeLoop:
    """Submitters and an optional indexer, stepped in rounds.

    ``on_round``: called after every round (e.g. to refresh the queue gauges)."""

    def __init__(
        self,
        submitters: Sequence[Submitter],
        indexer: Indexer | None = None,
        *,
        on_round: Callable[[], None] | None = None,
    ) -> None:
        self.submitters = list(submitters)
        self.indexer = indexer
        self.on_round = on_round

    def step(self, stop: threading.Event | None = None) -> Round:
        """One round: every submitter, then the indexer (not while the node is down)."""
        rnd = Round()
        for sub in self.submitters:
            if stop is not None and stop.is_set():
                return rnd
            rnd.reports.append(sub.step())
        if self.indexer is not None and not rnd.chain_down:
            if stop is not None and stop.is_set():
                return rnd
            try:
                rnd.indexed = self.indexer.step()
            except BridgeError as exc:  # node down, or a gap in the logs: retried after a wait
                rnd.index_error = str(exc)
                log.warning("indexer step failed", error=str(exc))
        return rnd

    def has_runnable_work(self) -> bool:
        """Whether a submitter has work it can do now (:meth:`Submitter.has_runnable_work`)."""
        return any(sub.has_runnable_work() for sub in self.submitters)

    def idle(self, rnd: Round) -> bool:
        """``rnd`` changed nothing, nothing is in flight, the index is at the head and no
        submitter has runnable work."""
        return (
            not rnd.progressed
            and rnd.inflight == 0
            and (self.indexer is None or self.indexer.caught_up)
            and not self.has_runnable_work()
        )

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        until_idle: bool = False,
        poll: float = 0.5,
        max_backoff: float = 10.0,
        timeout: float | None = None,
    ) -> StepReport:
        """Round after round until ``stop`` is set (or, ``until_idle``, until :meth:`idle`);
        returns the submitters' reports summed. Raises TimeoutError after ``timeout`` seconds."""
        stop = stop if stop is not None else threading.Event()
        total = StepReport()
        deadline = None if timeout is None else time.monotonic() + timeout
        backoff = poll
        while not stop.is_set():
            rnd = self.step(stop)
            for rep in rnd.reports:
                total.add(rep)
            if self.on_round is not None:
                self.on_round()
            if rnd.chain_down:
                self._wait(stop, backoff, deadline)
                backoff = min(max_backoff, backoff * 2)
                continue
            backoff = poll
            total.chain_error = None
            if until_idle and self.idle(rnd):
                return total
            if not rnd.progressed:
                self._wait(stop, poll, deadline)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"bridge not idle after {timeout}s: {total}")
        return total

    @staticmethod
    def _wait(stop: threading.Event, seconds: float, deadline: float | None) -> None:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("bridge not idle before the deadline")
            seconds = min(seconds, remaining)
        stop.wait(seconds)


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT set ``stop``: the loop finishes its current step and returns."""

    def handler(signum: int, _frame: Any) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
