"""The one bridge run loop (bridge.loop.BridgeLoop) with scripted submitters and indexer: when
it stops (until idle, on ``stop``), how it backs off while the node is down, and that an indexer
failure counts as the node being down."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.errors import BridgeError
from bridge.loop import BridgeLoop
from bridge.steps import StepReport


class Recorder(threading.Event):
    """A stop event whose waits return at once and are recorded (no real sleeping)."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.stop_after = stop_after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            self.set()
        return self.is_set()


def report(**kw: Any) -> StepReport:
    rep = StepReport()
    for k, v in kw.items():
        setattr(rep, k, v)
    return rep


class FakeSub:
    def __init__(self, reports: list[StepReport], work: list[bool] | None = None) -> None:
        self.reports: Iterator[StepReport] = iter(reports)
        self.work = iter(work or [])
        self.steps = 0

    def step(self) -> StepReport:
        self.steps += 1
        return next(self.reports, StepReport())

    def has_runnable_work(self) -> bool:
        return next(self.work, False)


class FakeIndexer:
    def __init__(self, results: list[int | Exception], caught_up: bool = True) -> None:
        self.results = iter(results)
        self.caught_up = caught_up
        self.steps = 0

    def step(self) -> int:
        self.steps += 1
        r = next(self.results, 0)
        if isinstance(r, Exception):
            raise r
        return r


def loop(subs: list[FakeSub], indexer: FakeIndexer | None = None) -> BridgeLoop:
    return BridgeLoop(subs, indexer)  # type: ignore[arg-type]


def test_until_idle_waits_for_runnable_work_and_in_flight_transactions() -> None:
    sub = FakeSub(
        [report(txs_sent=1), report(inflight=1), report(), report()],
        work=[True, False],  # asked only after a round without progress or anything in flight
    )
    stop = Recorder()
    total = loop([sub]).run(stop, until_idle=True, poll=0.1)
    assert sub.steps == 4 and total.txs_sent == 1
    assert stop.waits == [0.1, 0.1]  # after the in-flight round and the one with work left


def test_not_idle_while_the_index_is_behind() -> None:
    idx = FakeIndexer([0, 0], caught_up=False)
    stop = Recorder(stop_after=2)
    loop([FakeSub([])], idx).run(stop, until_idle=True, poll=0.1)
    assert idx.steps == 2 and stop.is_set()  # ran until stopped, never idle


def test_a_node_outage_backs_off_exponentially_up_to_the_cap() -> None:
    down = [report(chain_error="node unreachable") for _ in range(6)]
    sub = FakeSub([*down, report()])
    stop = Recorder()
    total = loop([sub]).run(stop, until_idle=True, poll=0.5, max_backoff=3.0)
    assert stop.waits == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert total.chain_error is None  # the outage is over when the run returns


def test_an_indexer_failure_counts_as_the_node_being_down() -> None:
    idx = FakeIndexer([BridgeError("gap in the logs"), BridgeError("gap in the logs"), 0])
    stop = Recorder()
    loop([FakeSub([])], idx).run(stop, until_idle=True, poll=0.5)
    assert stop.waits == [0.5, 1.0] and idx.steps == 3


def test_the_indexer_is_not_stepped_while_a_submitter_finds_the_node_down() -> None:
    idx = FakeIndexer([])
    stop = Recorder(stop_after=1)
    loop([FakeSub([report(chain_error="down")])], idx).run(stop, poll=0.5)
    assert idx.steps == 0


def test_a_stop_between_submitters_ends_the_round() -> None:
    stop = threading.Event()

    class Stopping(FakeSub):
        def step(self) -> StepReport:
            stop.set()
            return super().step()

    first, second = Stopping([]), FakeSub([])
    idx = FakeIndexer([])
    loop([first, second], idx).run(stop)
    assert (first.steps, second.steps, idx.steps) == (1, 0, 0)


def test_a_deadline_that_passes_raises() -> None:
    sub = FakeSub([], work=[True] * 10)
    with pytest.raises(TimeoutError, match="bridge not idle"):
        loop([sub]).run(Recorder(), until_idle=True, timeout=0)


def test_without_until_idle_the_loop_runs_until_stopped() -> None:
    sub = FakeSub([])
    stop = Recorder(stop_after=3)
    loop([sub]).run(stop, poll=0.2)
    assert sub.steps == 3 and stop.waits == [0.2, 0.2, 0.2]
